"""`python -m publisher` runs the CLI."""

from .cli import main

main()

"""Where documents go: a local directory or S3-compatible storage, behind one interface."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .base import Target
from .local import LocalTarget

__all__ = ["LocalTarget", "Target", "open_target"]


def open_target(spec: str) -> Target:
    """Return the target a `--target` value names: a directory path (s3:// comes later)."""
    if "://" in spec:
        scheme = spec.split("://", 1)[0]
        raise UsageError(
            f"--target {spec}: the {scheme}:// target is not supported by this version"
        )
    return LocalTarget(Path(spec))

"""A botocore client for a service, from the store's one resolution (`store.py`)."""

from __future__ import annotations

from typing import Any

from .options import AwsOptions
from .store import Store


def client(service: str, options: AwsOptions) -> Any:
    """Return a botocore client with retries for throttling and 5xx and a sized pool."""
    return Store(options).client(service)

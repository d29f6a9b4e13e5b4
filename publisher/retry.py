"""The one retry policy: how often to try again, and how long to wait before each try."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """`attempts` tries in all; the waits between them start at `first` seconds and double,
    up to `most`."""

    attempts: int
    first: float = 0.1
    most: float = 20.0
    factor: float = 2.0

    def waits(self) -> Iterator[float]:
        """The wait before each try after the first."""
        wait = self.first
        for _ in range(self.attempts - 1):
            yield min(wait, self.most)
            wait *= self.factor


STORE = Backoff(attempts=5, first=0.1, most=20.0)
"""A store's requests (botocore counts the attempts itself; obstore is given the waits)."""
CLOUDFRONT = Backoff(attempts=6, first=1.0, most=32.0)
"""CloudFront's TooManyInvalidationsInProgress."""
WEBHOOKS = Backoff(attempts=3, first=0.5, most=2.0)
"""A webhook POST that failed."""

"""CDN purge adapters (SPEC §6): none, CloudFront invalidations, HTTP PURGE at edges."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from ..errors import StorageError, TooManyInvalidationsError
from ..fetch import send as http_send
from ..redact import plural, url_for_display
from ..retry import CLOUDFRONT, Backoff
from ..settings import DEFAULT_INVALIDATION_THRESHOLD, EdgePaths

if TYPE_CHECKING:  # boto3 is imported only when a CloudFront purge is asked for
    from ..aws import CloudFront

log = logging.getLogger(__name__)


class Purger(Protocol):
    """Makes a CDN forget the given paths; raises StorageError when it cannot."""

    edges: EdgePaths
    """Where the edge serves each key's document: the paths a purge names."""

    def purge(self, paths: Sequence[str]) -> None: ...

    def describe(self, paths: Sequence[str]) -> str:
        """Say what `purge(paths)` would do, naming no path (paths hold API keys)."""
        ...


class CloudFrontPurger:
    """One invalidation batch per publish; a wildcard above `threshold` paths."""

    def __init__(
        self,
        api: CloudFront,
        edges: EdgePaths,
        *,
        threshold: int = DEFAULT_INVALIDATION_THRESHOLD,
        wait: bool = False,
        wait_timeout: float = 900,
        backoff: Backoff = CLOUDFRONT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.edges = edges
        self.wildcard = edges.wildcard
        self.threshold = threshold
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.backoff = backoff
        self.sleep = sleep
        self.invalidation_id: str | None = None

    def batch(self, paths: Sequence[str]) -> list[str]:
        """Return the invalidation paths: the paths themselves, or one wildcard."""
        return [self.wildcard] if len(paths) > self.threshold else sorted(paths)

    def describe(self, paths: Sequence[str]) -> str:
        where = f"on CloudFront distribution {self.api.distribution_id}"
        if not paths:
            return f"nothing to invalidate {where}"
        if len(paths) > self.threshold:
            return (
                f"invalidate {self.wildcard} {where} (one wildcard: {len(paths)} paths are "
                f"over --invalidation-threshold {self.threshold})"
            )
        return f"invalidate {len(paths)} {plural(len(paths), 'path')} {where}"

    def purge(self, paths: Sequence[str]) -> None:
        if not paths:
            return
        items = self.batch(paths)
        waits = self.backoff.waits()
        made: str | None = None
        while made is None:
            try:
                made = self.invalidation_id = self.api.invalidate(items)
            except TooManyInvalidationsError:
                wait = next(waits, None)
                if wait is None:
                    raise StorageError(
                        "CloudFront has too many invalidations in progress (tried "
                        f"{self.backoff.attempts} times)"
                    ) from None
                log.warning("too many invalidations in progress; retrying in %.0f s", wait)
                self.sleep(wait)
        if self.wait and self.invalidation_id:
            self.api.wait(self.invalidation_id, self.wait_timeout)


class HttpPurger:
    """HTTP PURGE of each path at each edge base URL (Varnish, Fastly, nginx cache purge)."""

    def __init__(
        self,
        bases: Sequence[str],
        edges: EdgePaths | None = None,
        timeout: float = 10,
        concurrency: int = 8,
    ) -> None:
        self.bases = [b.rstrip("/") for b in bases]
        self.edges = edges or EdgePaths()
        self.timeout = timeout
        self.concurrency = concurrency

    def _purge_one(self, url: str) -> str | None:
        try:
            status = http_send("PURGE", url, timeout=self.timeout).status
        except StorageError as exc:
            return f"unreachable: {exc.message}"
        # Only a 2xx is a purge: a 404 is an edge that serves no such path (a path the
        # edge does not map, or no purge there), and the old bytes stay cached.
        return None if 200 <= status < 300 else f"HTTP {status}"

    def describe(self, paths: Sequence[str]) -> str:
        edges = ", ".join(url_for_display(b) for b in self.bases)
        count = len(paths) * len(self.bases)
        return f"send {count} PURGE {plural(count, 'request')} ({len(paths)} per edge) to {edges}"

    def purge(self, paths: Sequence[str]) -> None:
        urls = [base + path for base in self.bases for path in paths]
        if not urls:
            return
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            results = list(pool.map(self._purge_one, urls))
        failed = [(url, why) for url, why in zip(urls, results, strict=True) if why]
        if failed:
            edges = sorted({url_for_display(url.split("/config/")[0]) for url, _ in failed})
            raise StorageError(
                f"{len(failed)} of {len(urls)} PURGE {plural(len(urls), 'request')} failed at "
                f"{', '.join(edges)}: {failed[0][1]}"
            )

"""POST signed webhook payloads: timeouts, bounded retries with backoff, no redirects."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from ..errors import StorageError
from ..fetch import send as http_send
from ..redact import redact_url_text
from ..retry import WEBHOOKS, Backoff
from .hooks import Hook
from .signatures import sign

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0


@dataclass
class Sender:
    """POST signed payloads with a timeout, bounded retries and backoff, concurrently."""

    timeout: float = DEFAULT_TIMEOUT
    backoff: Backoff = WEBHOOKS
    sleep: Callable[[float], None] = time.sleep
    concurrency: int = 8

    def send_all(self, jobs: list[tuple[Hook, bytes]]) -> dict[str, str]:
        """Deliver each (hook, body); return hook id → error for those that failed."""
        if not jobs:
            return {}
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs))) as pool:
            errors = list(pool.map(lambda job: self.send(*job), jobs))
        return {hook.id: error for (hook, _), error in zip(jobs, errors, strict=True) if error}

    def send(self, hook: Hook, body: bytes) -> str | None:
        """Deliver one body; return None, or why the last attempt failed."""
        error = self._post(hook, body)
        for attempt, wait in enumerate(self.backoff.waits(), start=2):
            if error is None:
                return None
            log.info("webhook %s: attempt %d failed: %s", hook.label, attempt - 1, error)
            self.sleep(wait)
            error = self._post(hook, body)
        return error

    def _post(self, hook: Hook, body: bytes) -> str | None:
        signed = sign(hook.secret, body)
        url, headers = _basic_auth(hook.url, signed.headers)
        try:  # within the timeout in all, however slowly the receiver answers; no redirect
            status = http_send("POST", url, body, headers, timeout=self.timeout).status
        except StorageError as exc:
            return f"unreachable: {redact_url_text(exc.message, hook.url)}"
        return None if 200 <= status < 300 else f"HTTP {status}"


def _basic_auth(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Move `user:password@` out of the URL into an Authorization header."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, headers
    userinfo, _, host = parts.netloc.rpartition("@")
    token = base64.b64encode(unquote(userinfo).encode()).decode()
    return urlunsplit(parts._replace(netloc=host)), {**headers, "Authorization": f"Basic {token}"}

"""Push changed documents to webhooks, signed, at least once (SPEC §9)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import Problem, StateError
from .model import State, Webhook
from .render import DOCUMENT_PREFIX, Document, Rendered
from .signatures import sign
from .targets.base import Target

log = logging.getLogger(__name__)

RECORD = "webhooks.json"
DEFAULT_TIMEOUT = 10.0
ATTEMPTS = 3


@dataclass(frozen=True)
class Hook:
    """A webhook of the state with its scope and the secret read from the environment."""

    id: str
    org: str
    project: str | None
    url: str
    secret: str = field(repr=False)

    @property
    def label(self) -> str:
        """Name it without the URL's path or query (they may hold tokens)."""
        parts = urlsplit(self.url)
        scope = self.org if self.project is None else f"{self.org}/project {self.project}"
        return f"{scope} → {parts.scheme}://{parts.netloc}"


def hook_id(org: str, hook: Webhook) -> str:
    """A stable id from the organization, project and URL: no secret, no raw URL."""
    raw = f"{org}\n{hook.project or ''}\n{hook.url}".encode()
    return hashlib.sha256(raw).hexdigest()[:24]


def resolve_hooks(state: State, environ: Mapping[str, str]) -> list[Hook]:
    """Return every webhook with its secret; a missing variable is a state error."""
    hooks, problems = [], []
    for i, org in enumerate(state.organizations):
        for j, hook in enumerate(org.webhooks):
            secret = environ.get(hook.secret_env)
            if not secret:
                problems.append(
                    Problem(
                        f"organizations[{i}].webhooks[{j}].secret_env",
                        f"the environment variable {hook.secret_env} is not set: export the "
                        "webhook's signing secret in it",
                    )
                )
                continue
            hooks.append(Hook(hook_id(org.id, hook), org.id, hook.project, hook.url, secret))
    if problems:
        raise StateError.from_problems("webhooks", problems)
    return hooks


def payload(document: Document, timestamp: int) -> bytes:
    """Return `{"timestamp": T, "overrides": {...}}` with the document's own overrides bytes."""
    overrides = document.body[len(DOCUMENT_PREFIX) : -1]
    return b'{"timestamp":' + str(timestamp).encode() + b',"overrides":' + overrides + b"}"


@dataclass
class Record:
    """What each webhook was last sent, under _publisher/ (hashes only)."""

    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: bytes | None) -> Record:
        try:
            data = json.loads(raw) if raw else {}
            hooks = data.get("hooks", {})
            return cls(hooks if isinstance(hooks, dict) else {})
        except (ValueError, AttributeError):
            return cls()

    def encode(self) -> bytes:
        return json.dumps({"version": 1, "hooks": self.hooks}, sort_keys=True).encode() + b"\n"

    def due(self, hooks: list[Hook], scope_sha: Mapping[str, str]) -> list[Hook]:
        """Hooks whose scope's document differs from what they last received."""
        return [h for h in hooks if self.hooks.get(h.id, {}).get("delivered") != scope_sha[h.id]]

    def update(
        self, hooks: list[Hook], scope_sha: Mapping[str, str], failed: Mapping[str, str]
    ) -> None:
        """Record this run: delivered hashes, errors, and forget hooks no longer in the state."""
        current = {h.id for h in hooks}
        self.hooks = {k: v for k, v in self.hooks.items() if k in current}
        for hook in hooks:
            entry = self.hooks.setdefault(hook.id, {"org": hook.org, "project": hook.project})
            if hook.id in failed:
                entry["pending"] = scope_sha[hook.id]
                entry["error"] = failed[hook.id]
                entry["attempts"] = int(entry.get("attempts", 0)) + 1
            elif scope_sha[hook.id] != entry.get("delivered") or "pending" in entry:
                entry.update(delivered=scope_sha[hook.id])
                for stale in ("pending", "error", "attempts"):
                    entry.pop(stale, None)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is an answer, and a failure


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class Sender:
    """POST signed payloads with a timeout, bounded retries and backoff, concurrently."""

    timeout: float = DEFAULT_TIMEOUT
    attempts: int = ATTEMPTS
    backoff: float = 0.5
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
        error = None
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            error = self._post(hook, body)
            if error is None:
                return None
            log.info("webhook %s: attempt %d failed: %s", hook.label, attempt + 1, error)
        return error

    def _post(self, hook: Hook, body: bytes) -> str | None:
        signed = sign(hook.secret, body)
        request = urllib.request.Request(hook.url, data=body, headers=signed.headers, method="POST")
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                response.read(65536)
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            return f"unreachable: {getattr(exc, 'reason', exc)}"
        return None if 200 <= status < 300 else f"HTTP {status}"


@dataclass(frozen=True)
class Delivery:
    """What one publish pushed: the hooks reached, and why the others failed."""

    delivered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def scope_shas(rendered: Rendered, hooks: list[Hook]) -> dict[str, str]:
    """Return each hook's current document sha256."""
    return {h.id: rendered.scopes[(h.org, h.project)].sha256 for h in hooks}


def notify(
    target: Target,
    rendered: Rendered,
    hooks: list[Hook],
    record: Record,
    sender: Sender,
    now: float | None = None,
) -> Delivery:
    """Push each hook whose scope changed (or whose last push failed); record the outcome."""
    shas = scope_shas(rendered, hooks)
    due = record.due(hooks, shas)
    stamp = int(time.time() if now is None else now)
    jobs = [(h, payload(rendered.scopes[(h.org, h.project)], stamp)) for h in due]
    failed = sender.send_all(jobs)
    before = record.encode()
    record.update(hooks, shas, failed)
    if record.encode() != before:
        target.write_meta(RECORD, record.encode())
    return Delivery(
        [h.label for h in due if h.id not in failed],
        {h.label: failed[h.id] for h in due if h.id in failed},
    )

"""The webhooks of the state, each with its scope and its secret read from the environment."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..errors import Problem, StateError
from ..state.model import State, Webhook


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
        """Name it by scheme and host: never the userinfo, path or query (they may hold
        tokens)."""
        parts = urlsplit(self.url)
        scope = self.org if self.project is None else f"{self.org}/project {self.project}"
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        return f"{scope} → {parts.scheme}://{parts.hostname or ''}{port}"


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

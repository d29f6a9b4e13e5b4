"""The experiment state as typed, immutable data (SPEC section 2).

NamedTuples rather than dataclasses: a state of 100,000 keys holds hundreds of
thousands of these, and tuples are built faster and take less memory.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, NamedTuple

from .reuse import Reused, Span

Status = Literal["draft", "running", "stopped"]


class StoppedPolicy(StrEnum):
    """What a stopped experiment without a non-control winner becomes (SPEC §3)."""

    winners_only = "winners-only"
    """Left out of the documents."""
    force_control = "force-control"
    """Control forced for everyone (`force: 0`, `coverage: 1`)."""


class Phase(NamedTuple):
    coverage: float
    weights: tuple[float, ...]
    groups: tuple[str, ...] = ()


class Experiment(NamedTuple):
    key: str
    status: Status
    variations: tuple[str, ...]
    phases: tuple[Phase, ...] = ()
    project: str | None = None
    archived: bool = False
    url: str | None = None
    winner: int | None = None


class ApiKey(NamedTuple):
    key: str
    description: str | None = None
    project: str | None = None
    revoked: bool = False


class Webhook(NamedTuple):
    url: str
    secret_env: str
    project: str | None = None
    description: str | None = None


class Organization(NamedTuple):
    id: str
    name: str | None = None
    api_keys: tuple[ApiKey, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    experiments: tuple[Experiment, ...] = ()


class State(NamedTuple):
    organizations: tuple[Organization, ...]
    sha256: str = ""
    """The sha256 of the source file's bytes, recorded in the generation manifest."""
    spans: tuple[Span, ...] = ()
    """Where each organization's text was found (a JSON state read for a publish), for
    the next publish to find it unchanged; empty otherwise."""
    reused: tuple[Reused, ...] = ()
    """Organizations not read: their text is what a complete publish checked (reuse.py)."""

    def api_keys(self) -> list[tuple[Organization, ApiKey]]:
        """Return every (organization, key) pair, revoked ones included, in file order."""
        return [(org, key) for org in self.organizations for key in org.api_keys]

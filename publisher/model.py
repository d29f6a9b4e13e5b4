"""The experiment state as typed, immutable data (SPEC section 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["draft", "running", "stopped"]
StoppedPolicy = Literal["winners-only", "force-control"]
STOPPED_POLICIES: tuple[StoppedPolicy, ...] = ("winners-only", "force-control")


@dataclass(frozen=True)
class Phase:
    coverage: float
    weights: tuple[float, ...]
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Experiment:
    key: str
    status: Status
    variations: tuple[str, ...]
    phases: tuple[Phase, ...] = ()
    project: str | None = None
    archived: bool = False
    url: str | None = None
    winner: int | None = None


@dataclass(frozen=True)
class ApiKey:
    key: str
    description: str | None = None
    project: str | None = None
    revoked: bool = False


@dataclass(frozen=True)
class Webhook:
    url: str
    secret_env: str
    project: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Organization:
    id: str
    name: str | None = None
    api_keys: tuple[ApiKey, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    experiments: tuple[Experiment, ...] = ()


@dataclass(frozen=True)
class State:
    organizations: tuple[Organization, ...]
    sha256: str = ""
    """The sha256 of the source file's bytes, recorded in the generation manifest."""

    def api_keys(self) -> list[tuple[Organization, ApiKey]]:
        """Return every (organization, key) pair, revoked ones included, in file order."""
        return [(org, key) for org in self.organizations for key in org.api_keys]

"""What a publish planned and did: the result a caller reports, and the error that carries
it when the publish stopped short."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..delivery.edge_wait import EdgeWait
from ..delivery.webhooks import Delivery
from ..documents.diff import ExperimentChange
from ..documents.render import Rendered
from ..errors import PlanRefusedError, Problem, StorageError
from .plan import Plan


@dataclass
class PublishResult:
    """What a publish planned and did; the CLI reports it, a library caller inspects it."""

    target: str
    dry_run: bool
    plan: Plan
    rendered: Rendered
    deleted: list[str] = field(default_factory=list)
    generation: int | None = None
    repaired: bool = False
    """Documents were written back to what `generation` records (drift repaired): no new
    generation."""
    diffs: dict[str, list[ExperimentChange]] = field(default_factory=dict)
    refused: str | None = None
    purged: list[str] = field(default_factory=list)
    webhooks: Delivery = field(default_factory=Delivery)
    webhooks_due: list[str] = field(default_factory=list)
    purge_error: StorageError | None = None
    purge_preview: str | None = None
    """A dry run with a CDN: what the purge would do."""
    written: int = 0
    """Documents written (all the puts, unless an upload failed)."""
    failed_uploads: list[Problem] = field(default_factory=list)
    quick: int | None = None
    """Nothing to do, known from the marker of the last publish (the state not parsed):
    the number of distinct documents it recorded."""
    edge_waits: list[EdgeWait] = field(default_factory=list)
    """With --wait-edge: how long each edge took to serve what changed."""

    @property
    def left_in_place(self) -> list[str]:
        """Keys no longer in the state whose documents stay live (no --prune)."""
        return [] if self.deleted else self.plan.deletes

    def counts(self) -> dict[str, int]:
        """What the manifest's record of this generation counts."""
        plan, rendered = self.plan, self.rendered
        return {
            "documents": rendered.count(),
            "distinct": rendered.distinct_count(),
            "added": plan.count("added"),
            "changed": plan.count("changed"),
            "unchanged": plan.unchanged,
            "deleted": len(self.deleted),
            "left_in_place": len(self.left_in_place),
        }


class PublishIncomplete(StorageError):
    """The publish ran but not all of it succeeded: `result` says what was and was not done."""

    def __init__(self, message: str, problems: list[Problem], result: PublishResult) -> None:
        super().__init__(message, problems)
        self.result = result


class PublishRefused(PlanRefusedError):
    """The delete guards refused the prune under the lock (nothing was written): `result`
    holds the plan they refused."""

    def __init__(self, message: str, problems: list[Problem], result: PublishResult) -> None:
        super().__init__(message, problems)
        self.result = result

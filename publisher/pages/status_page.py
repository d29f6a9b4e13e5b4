"""`publisher report STATE -o FILE.html`: a static status page of a state.

Per organization: its experiments (status, variations with their weights as bars,
coverage, groups, URL pattern, forced winner) and which keys (by label, with their
description and project) receive which experiments; with a target, whether each
document is in sync and the recent generations. One self-contained file: inline CSS,
nothing fetched. jinja2 autoescapes every value (descriptions are user text), and no
raw key is ever given to the template: only labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..bookkeeping.history import Generation
from ..documents.render import Rendered
from ..operations.verify import VerifyResult
from ..redact import key_label
from ..settings import VERSION
from ..state import State
from . import render_page


@dataclass(frozen=True)
class Target:
    """What the page says of a target, when given one."""

    name: str
    drift: dict[str, str] = field(default_factory=dict)
    """Key label → what is wrong (missing, different, extra)."""
    documents: int = 0
    generations: list[Generation] = field(default_factory=list)


def status_page(
    state: State, rendered: Rendered, checked: VerifyResult | None, history: list[Generation]
) -> str:
    """The HTML of the status page (a string: the caller writes it)."""
    target = None
    if checked is not None:
        drift = {key_label(d.key): d.kind for d in checked.drift}
        target = Target(checked.target, drift, checked.documents, history)
    return render_page(
        "status.html.j2",
        version=VERSION,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        state_sha256=state.sha256,
        organizations=[_organization(org, rendered) for org in state.organizations],
        target=target,
    )


def _organization(org: Any, rendered: Rendered) -> dict[str, Any]:
    experiments = []
    for exp in org.experiments:
        phase = exp.phases[-1] if exp.phases else None
        weights = list(phase.weights) if phase else []
        experiments.append(
            {
                "key": exp.key,
                "status": "archived" if exp.archived else str(exp.status),
                "project": exp.project,
                "variations": [
                    {"name": name, "weight": weights[i] if i < len(weights) else None}
                    for i, name in enumerate(exp.variations)
                ],
                "coverage": phase.coverage if phase else None,
                "groups": list(phase.groups) if phase else [],
                "url": exp.url,
                "winner": exp.variations[exp.winner]
                if exp.winner is not None and exp.winner < len(exp.variations)
                else None,
            }
        )
    keys = []
    for api_key in org.api_keys:
        document = rendered.documents.get(api_key.key)
        receives = sorted(json.loads(document.body)["overrides"]) if document else []
        keys.append(
            {
                "label": key_label(api_key.key),
                "description": api_key.description,
                "project": api_key.project,
                "revoked": api_key.revoked,
                "receives": receives,
            }
        )
    return {"id": org.id, "name": org.name, "experiments": experiments, "keys": keys}

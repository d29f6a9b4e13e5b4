"""Steps 1-3 of SPEC §5, and the webhook secrets: everything that can fail before a write."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import NamedTuple

from ..delivery.hooks import Hook, resolve_hooks
from ..documents.render import Rendered, render_documents
from ..documents.validate import validate_documents
from ..progress import timed
from ..settings import PublishOptions
from ..state import State, load_state
from ..state.reuse import OrgReuse

log = logging.getLogger(__name__)


class Prepared(NamedTuple):
    """A state checked, rendered and validated, with its webhooks' secrets read."""

    state: State
    rendered: Rendered
    hooks: list[Hook]


def prepare(
    state: State | str | Path,
    options: PublishOptions,
    *,
    secrets: bool = True,
    reuse: OrgReuse | None = None,
) -> Prepared:
    """Load (if given a path), render and validate, and read webhook secrets.

    `secrets=False` skips the secrets (no hooks): printing a document needs none.
    `reuse`: organizations a complete publish already checked are not read again.
    """
    with timed("loaded the state", log):
        loaded = state if isinstance(state, State) else load_state(state, reuse)
        if loaded.reused:
            log.info(
                "%d organizations unchanged since they were published: not read again",
                len(loaded.reused),
            )
    environ = os.environ if options.environ is None else options.environ
    hooks = resolve_hooks(loaded, environ) if secrets else []
    with timed("rendered the documents", log):
        rendered = render_documents(loaded, options.stopped_policy)
    with timed("validated the documents", log):
        validate_documents(rendered, options.max_document_bytes)
    return Prepared(loaded, rendered, hooks)

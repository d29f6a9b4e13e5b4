"""Pages people read, rendered with jinja2 (autoescaped): the status page and the publish
report. Both share one layout (`data/templates/page.html.j2`: inline CSS, nothing fetched)."""

from __future__ import annotations

from typing import Any

import jinja2

from ..redact import scrub


def render_page(template: str, **values: Any) -> str:
    """Render one of the package's templates with every value escaped; any key the process
    has seen that still reached the text is shown as its label."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("publisher", "data/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return scrub(environment.get_template(template).render(**values))

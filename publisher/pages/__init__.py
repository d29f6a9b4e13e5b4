"""Pages people read, rendered with jinja2 (autoescaped): the status page and the publish
report. Both share one layout (`data/templates/page.html.j2`: inline CSS, nothing fetched)."""

from __future__ import annotations

from typing import Any

from ..redact import printable, scrub

# jinja2 is imported when a page is rendered: a publish without --report needs none.


def _shown(value: Any) -> Any:
    import markupsafe

    if isinstance(value, str) and not isinstance(value, markupsafe.Markup):
        return printable(value)
    return value


def render_page(template: str, **values: Any) -> str:
    """Render one of the package's templates with every value escaped (control and bidi
    characters as `\\uXXXX`); any key the process has seen that still reached the text is
    shown as its label."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("publisher", "data/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        # Every value printed: control and bidi characters shown as \uXXXX, as on a
        # terminal, so typed text cannot reorder what is around it (then escaped).
        finalize=_shown,
    )
    return scrub(environment.get_template(template).render(**values))

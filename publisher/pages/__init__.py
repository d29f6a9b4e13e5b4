"""Pages people read, rendered with jinja2 (autoescaped): the status page."""

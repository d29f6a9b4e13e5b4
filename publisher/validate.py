"""Validate rendered documents against schema/overrides.schema.json and the size limit."""

from __future__ import annotations

import json

from .errors import DocumentError, Problem
from .gcpause import no_cycles
from .redact import key_label
from .render import Document, Rendered
from .schemas import fast_validator, validator
from .sources import format_path

DEFAULT_MAX_DOCUMENT_BYTES = 1024 * 1024


def scope_name(doc: Document) -> str:
    """Name a document's scope for messages: `acme` or `acme/project checkout`."""
    return doc.org if doc.project is None else f"{doc.org}/project {doc.project}"


def document_problems(doc: Document, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> list[Problem]:
    """Return every problem of one document: size, JSON, and schema."""
    scope = f"document of {scope_name(doc)}"
    problems = []
    if len(doc.body) > max_bytes:
        problems.append(
            Problem(
                "", f"is {len(doc.body):,} bytes, over the limit of {max_bytes:,}", source=scope
            )
        )
    try:
        value = json.loads(doc.body)
    except ValueError as exc:  # a bug in rendering, but say it plainly
        return [*problems, Problem("", f"is not valid JSON: {exc}", source=scope)]
    if problems or not fast_validator("overrides").is_valid(value):
        problems += schema_problems(value, scope)
    return sorted(problems)


def schema_problems(value: object, scope: str) -> list[Problem]:
    """Return every schema problem of a document, from the reference validator."""
    found = [
        Problem(format_path(tuple(error.absolute_path)), error.message, source=scope)
        for error in validator("overrides").iter_errors(value)
    ]
    if not found:  # the two validators disagree: trust the stricter one's words
        found = [
            Problem(format_path(tuple(e.instance_path)), e.message, source=scope)
            for e in fast_validator("overrides").iter_errors(value)
        ]
    return found


def validate_documents(rendered: Rendered, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> None:
    """Check each distinct document once; raise DocumentError listing every problem."""
    with no_cycles():
        _validate(rendered, max_bytes)


def _validate(rendered: Rendered, max_bytes: int) -> None:
    problems: list[Problem] = []
    failing: list[str] = []
    for doc in rendered.distinct():
        found = document_problems(doc, max_bytes)
        if found:
            users = sorted(key_label(k) for k, d in rendered.documents.items() if d is doc)
            failing.extend(users)
            shown = ", ".join(users[:10]) + (
                f" and {len(users) - 10} more" if len(users) > 10 else ""
            )
            problems.extend(found)
            problems.append(Problem("", f"used by key(s) {shown}", source=found[0].source))
    if problems:
        raise DocumentError(
            f"{len(failing)} key(s) would get an invalid document; nothing was published", problems
        )

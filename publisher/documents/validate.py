"""Validate documents against schema/overrides.schema.json and the size limit: the ones we
render before publishing, and the ones `pull` and `receive` are handed."""

from __future__ import annotations

import json
from typing import Any

from ..errors import DocumentError, Problem, format_path
from ..gcpause import no_cycles
from ..redact import key_label, plural
from ..schemas import schema_errors
from ..settings import DEFAULT_MAX_DOCUMENT_BYTES
from .render import Document, Rendered


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
    return sorted(problems + schema_problems(value, scope))


def schema_problems(value: object, scope: str | None = None) -> list[Problem]:
    """Return every schema problem of a document."""
    return [
        Problem(format_path(tuple(error.absolute_path)), error.message, source=scope)
        for error in schema_errors("overrides", value)
    ]


def check_document(body: bytes, where: str) -> dict[str, Any]:
    """Parse and validate a document someone sent us; raise DocumentError naming the problem."""
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DocumentError(f"{where}: the body is not JSON ({exc})") from None
    except RecursionError:
        raise DocumentError(f"{where}: the body is not JSON (nested too deeply)") from None
    problems = schema_problems(value)
    if problems:
        raise DocumentError(f"{where}: not a valid overrides document", problems[:10])
    return dict(value)


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
            problems.append(
                Problem("", f"used by {plural(len(users), 'key')} {shown}", source=found[0].source)
            )
    if problems:
        raise DocumentError(
            f"{len(failing)} {plural(len(failing), 'key')} would get an invalid document", problems
        )


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")

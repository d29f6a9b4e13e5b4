"""One error base with an exit code; every user-facing failure is a PublisherError."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .redact import key_label, printable

Path_ = tuple[str | int, ...]
"""A location in parsed data: ("organizations", 0, "experiments", 3)."""

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_STORAGE = 4
EXIT_LOCKED = 5


@dataclass(frozen=True, order=True)
class Problem:
    """One problem of an input, at a location (`organizations[0].experiments[3]`)."""

    location: str
    message: str
    line: int | None = None
    source: str | None = None
    name: str | None = None
    """What the location is, by name: `acme/search-ranking` for an experiment."""

    def __str__(self) -> str:
        where = self.source or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        location = f"{self.location} ({self.name})" if self.name else self.location
        parts = [p for p in (where, location) if p]
        return f"{': '.join(parts)}: {self.message}" if parts else self.message


def format_path(path: Path_) -> str:
    """Render a path as `organizations[0].experiments[3].phases[0].weights`."""
    out = ""
    keys = False  # below api_keys, a name that is not a field may be a key itself
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        if keys and part not in _KEY_FIELDS:
            part = key_label(part)
        keys = keys or part == "api_keys"
        part = printable(part)  # a field name is user text
        out += f".{part}" if out else part
    return out


_KEY_FIELDS = {"key", "description", "project", "revoked"}


class PublisherError(Exception):
    """Base of every error a user can cause or fix; carries the process exit code."""

    exit_code = 1

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)

    def lines(self) -> list[str]:
        """Return one line per problem (or the message when there are none)."""
        if not self.problems:
            return [self.message]
        return [self.message, *(f"  {p}" for p in self.problems)]


class UsageError(PublisherError):
    """A bad argument: a missing file, an unknown key, a wrong option."""

    exit_code = EXIT_USAGE


class StateError(PublisherError):
    """The experiment state is invalid; nothing was published."""

    exit_code = EXIT_INVALID

    @classmethod
    def from_problems(cls, source: str, problems: Iterable[Problem]) -> StateError:
        found = sorted(problems, key=_problem_order)
        noun = "problem" if len(found) == 1 else "problems"
        return cls(f"{source}: {len(found)} {noun}", found)


class DocumentError(PublisherError):
    """A rendered document failed validation or the size limit; nothing was published."""

    exit_code = EXIT_INVALID


class PlanRefusedError(PublisherError):
    """The plan trips a safety guard (too many deletes); nothing was published."""

    exit_code = EXIT_INVALID


class StorageError(PublisherError):
    """The target or the CDN failed; the run may be partly applied and is safe to re-run."""

    exit_code = EXIT_STORAGE


class LockHeldError(PublisherError):
    """Another publisher holds the target's lock."""

    exit_code = EXIT_LOCKED


def _problem_order(p: Problem) -> tuple[int, str, str]:
    return (p.line if p.line is not None else 1 << 30, p.location, p.message)


class TooManyInvalidationsError(Exception):
    """CloudFront's limit of invalidations in progress was hit; the caller backs off."""

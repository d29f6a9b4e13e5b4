"""The project file, `publisher.toml`: named targets and the state's default, read and
checked in full (every problem in one run, a guess for each unknown key).

    state = "experiments.yaml"
    default_target = "production"
    [targets.production]
    url = "s3://acme-overrides/site"
    cdn = "cloudfront"
    distribution_id = "E2ABCDEF"

No secret lives in it: credentials stay in the AWS chain and webhook secrets in the
environment, so a URL with a password is refused.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..aws.options import check_endpoint
from ..errors import Problem, UsageError
from ..fetch import is_http_url
from ..names import REGION_NAME, header_value_problem
from ..redact import printable
from ..settings import CdnKind, EdgePaths
from ..targets.s3_target import parse_s3_url

PROJECT_FILE = "publisher.toml"
TARGET_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A target's name: no '/' or '.', so that it never reads as a path."""


@dataclass(frozen=True)
class ProjectFile:
    """A checked project file: each value as the file gives it (paths already made
    relative to the working directory)."""

    path: Path
    state: str | None
    default_target: str | None
    targets: Mapping[str, Mapping[str, Any]]

    def where(self, name: str | None = None) -> str:
        """Where a value came from, for `publisher config`: the file, and the table."""
        return f"{self.path} [targets.{name}]" if name else str(self.path)


def load_project_file(path: Path) -> ProjectFile:
    """Read and check a project file; a usage error lists every problem of it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such project file") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise UsageError(f"{path}: cannot read the project file: {why}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise UsageError(f"{path}: not valid TOML: nested too deeply") from None
    checker = _Checker(str(path), text.splitlines())
    project = checker.project(data)
    if checker.problems:
        count = len(checker.problems)
        raise UsageError(
            f"{path}: {count} {'problem' if count == 1 else 'problems'} in the project file",
            sorted(checker.problems, key=lambda p: p.line or len(checker.lines) + 1),
        )
    base = path.parent
    return ProjectFile(
        path,
        _from(base, project.get("state")),
        project.get("default_target"),
        {
            name: {**values, **({"url": _from(base, values["url"])} if "url" in values else {})}
            for name, values in project.get("targets", {}).items()
        },
    )


def _from(base: Path, value: str | None) -> str | None:
    """A path the file gives, from the working directory (a URL as it is)."""
    if value is None or "://" in value or base == Path(".") or Path(value).is_absolute():
        return value
    return str(base / value)


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"give a string, not {_kind(value)}")
    if not value.strip() or any(c < " " or c == "\x7f" for c in value):
        raise ValueError("give a non-empty string without control characters")
    return value


def _no_password(url: str, key: str) -> None:
    try:
        secret = urlsplit(url).password
    except ValueError:
        secret = None
    if secret:
        variable = "PUBLISHER_TARGET" if key == "url" else f"PUBLISHER_{key.upper()}"
        raise ValueError(
            "a password in a URL is a secret: keep it out of the project file (give the "
            f"URL in the environment: {variable})"
        )


def _url(value: Any) -> str:
    text = _string(value)
    if text.startswith("s3://"):
        _usage(parse_s3_url, text)
    elif "://" in text:
        raise ValueError(f"{printable(text)!r}: give s3://bucket[/prefix] or a directory")
    return text


def _http_urls(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"give a list of http(s) URLs, not {_kind(value)}")
    for url in value:
        if not is_http_url(_string(url)):
            raise ValueError(f"{printable(url)!r}: not an http:// or https:// URL with a host")
    return value


def _endpoint(value: Any) -> str:
    text = _string(value)
    _usage(check_endpoint, text, "endpoint_url")
    return text


def _region(value: Any) -> str:
    if not REGION_NAME.fullmatch(_string(value)):
        raise ValueError(f"{printable(value)!r}: not a region name such as eu-west-1")
    return str(value)


def _cdn(value: Any) -> str:
    names = [str(kind.value) for kind in CdnKind]
    if _string(value) not in names:
        raise ValueError(
            f"{printable(value)!r} is not one of {', '.join(names)}{_guess(value, names)}"
        )
    return str(value)


def _header(value: Any) -> str:
    text = _string(value)
    problem = header_value_problem(text)
    if problem is not None:
        raise ValueError(f"{problem} (an HTTP header value)")
    return text


def _prefix(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"give a string such as /site, not {_kind(value)}")
    _usage(EdgePaths, value)  # the edge-path model's own rule
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"give true or false, not {_kind(value)}")
    return value


TARGET_KEYS: dict[str, Callable[[Any], Any]] = {
    "url": _url,
    "endpoint_url": _endpoint,
    "region": _region,
    "profile": _string,
    "cdn": _cdn,
    "distribution_id": _string,
    "purge_urls": _http_urls,
    "edge_urls": _http_urls,
    "edge_path_prefix": _prefix,
    "cache_control": _header,
    "prune": _bool,
}
"""Each key a target may have, with its check (which returns the value or raises
ValueError saying what to give)."""
TOP_KEYS = ("state", "default_target", "targets")


def _usage(check: Callable[..., Any], *args: Any) -> None:
    """Run one of the command line's own checks; its usage error becomes a ValueError."""
    try:
        check(*args)
    except UsageError as exc:
        raise ValueError(exc.message) from None


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def closest(word: str, names: list[str] | tuple[str, ...]) -> str | None:
    """The name `word` most likely meant: a close spelling, or one it begins."""
    close = difflib.get_close_matches(word, list(names), n=1)
    begun = [name for name in names if word and name.startswith(word)]
    return close[0] if close else begun[0] if begun else None


def _guess(word: Any, names: list[str] | tuple[str, ...]) -> str:
    close = closest(str(word), names)
    return f", did you mean {close!r}?" if close else ""


class _Checker:
    """Collects every problem of a project file, each at its line where one is found."""

    def __init__(self, source: str, lines: list[str]) -> None:
        self.source, self.lines = source, lines
        self.problems: list[Problem] = []

    def problem(self, table: str | None, key: str, message: str) -> None:
        location = f"{table}.{key}" if table else key
        line = self._line(table, key)
        self.problems.append(Problem(printable(location), message, line, self.source))

    def project(self, data: dict[str, Any]) -> dict[str, Any]:
        """The file's checked values (those with a problem left out)."""
        found: dict[str, Any] = {}
        for key, value in data.items():
            if key not in TOP_KEYS:
                self.unknown(None, key, TOP_KEYS, where="at the top")
            elif key == "targets":
                found["targets"] = self.targets(value)
            elif self.valid(None, key, value, _string):
                found[key] = value
        default, named = found.get("default_target"), data.get("targets")
        if default is not None and not isinstance(named, dict):
            self.problem(None, "default_target", "there is no [targets.NAME] table to name")
        elif default is not None and isinstance(named, dict) and default not in named:
            names = [str(name) for name in named]
            self.problem(
                None,
                "default_target",
                f"no target named {printable(default)!r}{_guess(default, names)} "
                f"(targets: {', '.join(map(printable, names)) or 'none'})",
            )
        return found

    def targets(self, value: Any) -> dict[str, dict[str, Any]]:
        if not isinstance(value, dict):
            self.problem(None, "targets", "give tables: [targets.NAME]")
            return {}
        found = {}
        for name, table in value.items():
            where = f"targets.{name}"
            if not TARGET_NAME.fullmatch(name):
                self.problem(None, where, "a target's name is letters, digits, - and _ (no / or .)")
            elif not isinstance(table, dict):
                self.problem(None, where, f"give a table [targets.{name}], not {_kind(table)}")
            else:
                found[name] = self.target(where, table)
        return found

    def target(self, where: str, table: dict[str, Any]) -> dict[str, Any]:
        found = {}
        for key, value in table.items():
            check = TARGET_KEYS.get(key)
            if check is None:
                self.unknown(where, key, tuple(TARGET_KEYS), where=f"in [{where}]")
            elif self.valid(where, key, value, check):
                found[key] = value
        if "url" not in table:
            self.problem(None, where, "give its url: s3://bucket[/prefix] or a directory")
        return found

    def valid(self, table: str | None, key: str, value: Any, check: Callable[[Any], Any]) -> bool:
        try:
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str) and "://" in text:
                    _no_password(text, key)
            check(value)
        except ValueError as exc:
            self.problem(table, key, str(exc))
            return False
        return True

    def unknown(self, table: str | None, key: str, names: tuple[str, ...], *, where: str) -> None:
        close = closest(key, names)
        guess = f": did you mean {close!r}?" if close else ":"
        self.problem(table, key, f"unknown key{guess} allowed {where}: {', '.join(names)}")

    def _line(self, table: str | None, key: str) -> int | None:
        """The line of `key` in `table` (or of the header of `targets.NAME`); None where
        it is not found (an inline table, a dotted key)."""
        if table is None and key.startswith("targets."):
            return self._header(key.removeprefix("targets."))
        start = 0 if table is None else self._header(table.removeprefix("targets."))
        if start is None:
            return None
        assign = re.compile(rf"\s*(\"?){re.escape(key)}\1\s*=")
        for number, line in enumerate(self.lines[start:], start + 1):
            if line.lstrip().startswith("["):
                break
            if assign.match(line):
                return number
        if table is not None:
            return None
        # a top-level key of its own table: [key] or [key.name]
        header = re.compile(rf"\s*\[\[?\s*(\"?){re.escape(key)}\1\s*[.\]]")
        return next((i + 1 for i, line in enumerate(self.lines) if header.match(line)), None)

    def _header(self, name: str) -> int | None:
        """The line of the header [targets.NAME]."""
        header = re.compile(rf"\s*\[\s*targets\s*\.\s*(\"?){re.escape(name)}\1\s*\]")
        return next((i + 1 for i, line in enumerate(self.lines) if header.match(line)), None)

"""Where each setting of a command comes from: its flag, else a PUBLISHER_* variable, else
the project file, else the default; and the one mapping of the result onto the
library's settings (StorageSettings, CdnSettings).

`--target NAME` (or PUBLISHER_TARGET, or the file's default_target) picks a named target
of the project file; a value with '/' or '.' (`./public`, `s3://bucket`) is a directory
or a bucket as it always was.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..redact import printable
from ..settings import (
    DEFAULT_CACHE_CONTROL,
    DEFAULT_TARGET,
    CdnKind,
    CdnSettings,
    EdgePaths,
    StorageSettings,
)
from .project_file import (
    PROJECT_FILE,
    TARGET_KEYS,
    TARGET_NAME,
    ProjectFile,
    closest,
    load_project_file,
)

ENVIRONMENT = {
    "config": "PUBLISHER_CONFIG",
    "state": "PUBLISHER_STATE",
    "target": "PUBLISHER_TARGET",
    "endpoint_url": "PUBLISHER_ENDPOINT_URL",
    "region": "PUBLISHER_REGION",
    "profile": "PUBLISHER_PROFILE",
    "cdn": "PUBLISHER_CDN",
    "distribution_id": "PUBLISHER_DISTRIBUTION_ID",
    "purge_urls": "PUBLISHER_PURGE_URLS",
    "edge_urls": "PUBLISHER_EDGE_URLS",
    "edge_path_prefix": "PUBLISHER_EDGE_PATH_PREFIX",
    "cache_control": "PUBLISHER_CACHE_CONTROL",
    "prune": "PUBLISHER_PRUNE",
}
"""The variable of each setting a CI job sets (an empty one counts as unset)."""
FLAGS = {
    "config": "--config",
    "state": "STATE",
    "target": "--target",
    "endpoint_url": "--endpoint-url",
    "region": "--region",
    "profile": "--profile",
    "cdn": "--cdn",
    "distribution_id": "--distribution-id",
    "purge_urls": "--purge-url",
    "edge_path_prefix": "--edge-path-prefix",
    "edge_urls": "--edge",
    "cache_control": "--cache-control",
    "prune": "--prune",
}
DEFAULTS: dict[str, Any] = {
    "endpoint_url": None,
    "region": None,
    "profile": None,
    "cdn": CdnKind.none.value,
    "distribution_id": None,
    "purge_urls": (),
    "edge_urls": (),
    "edge_path_prefix": "",
    "cache_control": DEFAULT_CACHE_CONTROL,
    "prune": False,
}
"""A target's settings when nothing sets them (None: the AWS configuration decides)."""
DEFAULT = "default"
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Sourced:
    """A setting's value and where it came from: `--region`, `PUBLISHER_REGION`,
    `publisher.toml [targets.production]` or `default`."""

    value: Any
    source: str


@dataclass(frozen=True)
class TargetSettings:
    """A command's target as resolved: where it is, how to reach it, which CDN to purge
    (and where the edge serves each document: cdn.edge_paths, from edge_path_prefix) and
    whether to prune. `edge_urls`: the edges `verify` looks at when given no --edge."""

    name: str | None
    url: str
    storage: StorageSettings
    cdn: CdnSettings
    prune: bool
    edge_urls: tuple[str, ...]
    edge_path_prefix: str


@dataclass(frozen=True)
class Resolved:
    """Every setting of a command with its source, and the target they make."""

    project: ProjectFile | None
    values: dict[str, Sourced]
    target: TargetSettings | None

    def state(self) -> Path:
        """The state file: the argument, PUBLISHER_STATE or the file's `state`."""
        found = self.values.get("state")
        if found is None or found.value is None:
            raise UsageError(
                f"give a state file, or name one with `state = ...` in {PROJECT_FILE} "
                "(or PUBLISHER_STATE)"
            )
        return Path(found.value)

    def require_target(self) -> TargetSettings:
        if self.target is None:  # only report's target is optional
            raise UsageError(f"give --target, or default_target in {PROJECT_FILE}")
        return self.target


def resolve(
    given: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    fallback: str | None = DEFAULT_TARGET,
) -> Resolved:
    """Resolve a command's settings from the flags it was `given` (None: not given),
    the environment, the project file and the defaults. `fallback` is the target when
    nothing names one (None: no target)."""
    environ = os.environ if environ is None else environ
    env = {key: value for key, var in ENVIRONMENT.items() if (value := environ.get(var, ""))}
    config = _first(given, env, "config")
    if config is None and Path(PROJECT_FILE).is_file():
        config = Sourced(PROJECT_FILE, "the working directory")
    project = load_project_file(Path(config.value)) if config is not None else None
    values = {"config": config or Sourced(None, DEFAULT)}
    values["state"] = _first(given, env, "state") or (
        Sourced(project.state, str(project.path))
        if project is not None and project.state is not None
        else Sourced(None, DEFAULT)
    )
    chosen = _first(given, env, "target")
    if chosen is None and project is not None and project.default_target is not None:
        chosen = Sourced(project.default_target, f"{project.path} default_target")
    if chosen is None and fallback is not None:
        chosen = Sourced(fallback, DEFAULT)
    name, table = _named(chosen, project) if chosen is not None else (None, {})
    if chosen is not None:
        values["target"] = chosen
        values["url"] = Sourced(table["url"], project.where(name)) if project and name else chosen
    for key, default in DEFAULTS.items():
        found = _first(given, env, key, check=True)
        if found is None and key in table and project is not None:
            found = Sourced(table[key], project.where(name))
        values[key] = found or Sourced(default, DEFAULT)
    if chosen is None:  # the flags and variables still count, with no target to carry them
        return Resolved(project, values, None)
    return Resolved(project, values, target_settings(name, values))


def target_settings(name: str | None, values: Mapping[str, Sourced]) -> TargetSettings:
    """The one mapping of resolved values onto the library's settings; a command adds
    its own options with dataclasses.replace."""
    value = {key: found.value for key, found in values.items()}
    value.update(_cdn_details(values))
    return TargetSettings(
        name=name,
        url=str(value["url"]),
        storage=StorageSettings(
            endpoint_url=value["endpoint_url"],
            region=value["region"],
            profile=value["profile"],
            cache_control=value["cache_control"],
            profile_source=values["profile"].source,
        ),
        cdn=CdnSettings(
            kind=CdnKind(value["cdn"]),
            distribution_id=value["distribution_id"],
            purge_urls=tuple(value["purge_urls"]),
            edge_paths=EdgePaths(str(value["edge_path_prefix"])),
        ),
        prune=bool(value["prune"]),
        edge_urls=tuple(value["edge_urls"]),
        edge_path_prefix=str(value["edge_path_prefix"]),
    )


def _rank(source: str) -> int:
    """How strongly a source speaks: a flag, a variable, the file, the default."""
    if source in FLAGS.values():
        return 0
    if source in ENVIRONMENT.values():
        return 1
    return 3 if source == DEFAULT else 2


def _cdn_details(values: Mapping[str, Sourced]) -> dict[str, Any]:
    """A CDN of none said above the file (`--cdn none`, PUBLISHER_CDN=none) turns off the
    file's purge with its purge URLs and distribution id; given at the same level as the
    none or above it, they stay, and the purge's setup refuses them (they would never be
    purged)."""
    cdn = values["cdn"]
    if cdn.value != CdnKind.none.value:
        return {}
    empty = {"distribution_id": None, "purge_urls": ()}
    return {
        key: none for key, none in empty.items() if _rank(values[key].source) > _rank(cdn.source)
    }


def is_target_name(value: str) -> bool:
    """A --target value of letters, digits, - and _ names a target of the project file;
    anything else (with '/', '.' or ':') is a directory or a URL."""
    return TARGET_NAME.fullmatch(value) is not None


def _named(chosen: Sourced, project: ProjectFile | None) -> tuple[str | None, Mapping[str, Any]]:
    """The target's name and its table in the project file ((None, {}): a path or URL)."""
    value = str(chosen.value)
    if not is_target_name(value):
        return None, {}
    if project is not None and value in project.targets:
        return value, project.targets[value]
    names = list(project.targets) if project is not None else []
    close = closest(value, names)
    guess = f": did you mean {close!r}?" if close else ""
    where = (
        f"no target named {printable(value)!r} in {project.path}{guess} (targets: "
        f"{', '.join(names) or 'none'})"
        if project is not None
        else f"no target named {printable(value)!r}: there is no {PROJECT_FILE} here"
    )
    flag = FLAGS["target"] if chosen.source == FLAGS["target"] else chosen.source
    raise UsageError(f"{flag} {printable(value)}: {where}; a directory is written ./{value}")


def _first(
    given: Mapping[str, Any], env: Mapping[str, str], key: str, *, check: bool = False
) -> Sourced | None:
    """The flag's value if given, else the variable's (checked as the file's would be)."""
    flag = given.get(key)
    if flag is not None and flag != [] and flag != ():
        return Sourced(flag, FLAGS.get(key, key))
    if key not in env:
        return None
    return Sourced(_parse(key, env[key]) if check else env[key], ENVIRONMENT[key])


def _parse(key: str, text: str) -> Any:
    """A variable's value as the file would hold it, checked by the file's own check."""
    value: Any = text
    if key in ("purge_urls", "edge_urls"):
        value = text.split()
    elif key == "prune":
        lowered = text.strip().lower()
        if lowered not in TRUE + FALSE:
            raise UsageError(f"{ENVIRONMENT[key]}={printable(text)!r}: give true or false")
        value = lowered in TRUE
    try:
        return TARGET_KEYS[key](value)
    except ValueError as exc:
        raise UsageError(f"{ENVIRONMENT[key]}: {exc}") from None

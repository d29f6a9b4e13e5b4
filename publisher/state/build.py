"""The typed state built from checked plain data, repeated values shared."""

from __future__ import annotations

from typing import Any

from .model import ApiKey, Experiment, Organization, Phase, State, Webhook


def build_state(data: dict[str, Any], sha256: str) -> State:
    """The typed state of checked plain data (its organizations are freed as it goes)."""
    orgs = data["organizations"]
    builder = TypedBuilder()
    built = []
    for index, org in enumerate(orgs):
        built.append(builder.org(org))
        orgs[index] = None  # free the parsed copy as the typed one grows
    return State(tuple(built), sha256)


class TypedBuilder:
    """Build the typed state, sharing repeated values (statuses, variation names, weights).

    A state of 100,000 keys repeats the same few strings and tuples hundreds of
    thousands of times; one shared copy of each keeps the process small.
    """

    def __init__(self) -> None:
        self._seen: dict[Any, Any] = {}

    def share(self, value: Any) -> Any:
        return self._seen.setdefault(value, value)

    def org(self, o: dict[str, Any]) -> Organization:
        share = self.share
        return Organization(
            id=o["id"],
            name=o.get("name"),
            api_keys=tuple(
                ApiKey(
                    k["key"],
                    share(k.get("description")),
                    share(k.get("project")),
                    bool(k.get("revoked", False)),
                )
                for k in o.get("api_keys", [])
            ),
            webhooks=tuple(
                Webhook(w["url"], w["secret_env"], w.get("project"), w.get("description"))
                for w in o.get("webhooks", [])
            ),
            experiments=tuple(self.experiment(e) for e in o.get("experiments", [])),
        )

    def experiment(self, e: dict[str, Any]) -> Experiment:
        share = self.share
        phases = tuple(
            share(
                Phase(
                    _number(p["coverage"]),
                    share(tuple(map(_number, p["weights"]))),
                    share(tuple(map(share, p.get("groups", ())))),
                )
            )
            for p in e.get("phases", [])
        )
        return Experiment(
            key=e["key"],
            status=share(e["status"]),
            variations=share(tuple(map(share, e["variations"]))),
            phases=phases,
            project=share(e.get("project")),
            archived=bool(e.get("archived", False)),
            url=share(e.get("url")),
            winner=None if e.get("winner") is None else int(e["winner"]),
        )


def _number(value: float) -> float:
    # 1 and 1.0 in the state must give the same bytes: integral floats become ints.
    return int(value) if type(value) is float and value.is_integer() else value

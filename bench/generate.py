"""Generate a seeded, realistic experiment state for the benchmark.

    python bench/generate.py --size large --out bench/state-large.json [--seed 1] [--max-keys N]

Sizes: small (1,000 keys over 200 organizations), medium (10,000 over 2,000),
large (100,000 over 20,000), each organization with about 10 experiments of every
status, a mix of projects, groups and URL patterns.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

SIZES = {
    "tiny": (20, 4),
    "small": (1_000, 200),
    "medium": (10_000, 2_000),
    "large": (100_000, 20_000),
}
PROJECTS = ["web", "checkout", "search", "mobile", "growth"]
GROUPS = ["beta", "employees", "qa", "vip", "new-users", "eu", "us"]
URLS = ["^/post/[0-9]+$", "^/checkout(/.*)?$", "^/$", "^/pricing", "^/docs/.*", "^/search\\?q="]


def _weights(rng: random.Random, n: int) -> list[float]:
    if rng.random() < 0.6:
        return [round(1 / n, 6)] * (n - 1) + [round(1 - round(1 / n, 6) * (n - 1), 6)]
    raw = [rng.randint(1, 9) for _ in range(n)]
    total = sum(raw)
    out = [round(r / total, 4) for r in raw[:-1]]
    return [*out, round(1 - sum(out), 4)]


def _experiment(rng: random.Random, index: int, projects: list[str]) -> dict[str, Any]:
    n = rng.choice([2, 2, 2, 3, 4])
    exp: dict[str, Any] = {
        "key": f"exp-{index:02d}-{rng.getrandbits(24):06x}",
        "status": rng.choices(["running", "draft", "stopped"], [60, 15, 25])[0],
        "variations": ["control"] + [f"v{i}" for i in range(1, n)],
    }
    if projects and rng.random() < 0.5:
        exp["project"] = rng.choice(projects)
    if rng.random() < 0.1:
        exp["archived"] = True
    if rng.random() < 0.3:
        exp["url"] = rng.choice(URLS)
    phases = []
    for _ in range(
        rng.choice([1, 1, 2, 3]) if exp["status"] != "draft" or rng.random() < 0.5 else 0
    ):
        phase: dict[str, Any] = {
            "coverage": rng.choice([1, 1, 0.5, 0.25, 0.8, 0.1]),
            "weights": _weights(rng, n),
        }
        if rng.random() < 0.3:
            phase["groups"] = rng.sample(GROUPS, rng.randint(1, 3))
        phases.append(phase)
    if phases:
        exp["phases"] = phases
    if exp["status"] == "stopped" and rng.random() < 0.6:
        exp["winner"] = rng.randrange(n)
    return exp


def generate(keys: int, orgs: int, seed: int = 1) -> dict[str, Any]:
    """Return a state with exactly `keys` API keys spread over `orgs` organizations."""
    rng = random.Random(seed)
    # A skewed mix: most organizations have a few keys, a few have hundreds.
    weights = [min(rng.paretovariate(1.5), 200.0) for _ in range(orgs)]
    total = sum(weights)
    per_org = [1 + int((keys - orgs) * w / total) for w in weights]
    for i in rng.sample(range(orgs), keys - sum(per_org)):
        per_org[i] += 1
    organizations = []
    for i in range(orgs):
        projects = rng.sample(PROJECTS, rng.choice([0, 0, 1, 2, 3]))
        api_keys = []
        for j in range(per_org[i]):
            key: dict[str, Any] = {
                "key": f"key_{rng.getrandbits(128):032x}",
                "description": f"server {j}",
            }
            if projects and rng.random() < 0.4:
                key["project"] = rng.choice(projects)
            if rng.random() < 0.02:
                key["revoked"] = True
            api_keys.append(key)
        experiments = [_experiment(rng, e, projects) for e in range(rng.randint(7, 13))]
        organizations.append(
            {
                "id": f"org-{i:05d}",
                "name": f"Organization {i}",
                "api_keys": api_keys,
                "experiments": experiments,
            }
        )
    return {"version": 1, "organizations": organizations}


def first_keys(state: dict[str, Any], limit: int) -> dict[str, Any]:
    """Return the leading organizations of `state` holding at most `limit` keys."""
    out, total = [], 0
    for org in state["organizations"]:
        if total + len(org["api_keys"]) > limit:
            break
        out.append(org)
        total += len(org["api_keys"])
    return {"version": 1, "organizations": out}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-keys", type=int, default=None, help="keep only the leading organizations"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    keys, orgs = SIZES[args.size]
    state = generate(keys, orgs, args.seed)
    if args.max_keys:
        state = first_keys(state, args.max_keys)
    args.out.write_text(json.dumps(state, separators=(",", ":")))


if __name__ == "__main__":
    main()

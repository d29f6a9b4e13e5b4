"""What it costs a real publish to say what changed in each document (issue 24).

    python bench/describe_cost.py --size medium [--rounds 3] [--target DIR | --moto]

`publisher publish` describes every changed document (before → after, per experiment),
reading the old bodies from the target's history: one read per pack of bodies. The
worst case is the daily one: one organization changes after a large cold publish, so
the old bodies lie in the first generation's pack, which holds every body. This
publishes a generated state cold, then changes one experiment of a different
organization per round (its bodies still in that pack) and publishes it with -v,
reading the time of the 'described' step and of the whole command.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import SIZES, generate  # noqa: E402
from bench.run import CREDENTIALS, make_bucket, start_moto  # noqa: E402

DESCRIBED = re.compile(r"described (\d+) changed documents? in ([0-9.]+) s")


def change(state: dict[str, Any], index: int) -> str:
    """Change one running experiment of the index-th organization that has one."""
    found = 0
    for org in state["organizations"]:
        running = [e for e in org["experiments"] if e["status"] == "running" and e.get("phases")]
        if running and not org["api_keys"][0].get("revoked"):
            if found == index:
                phase = running[0]["phases"][-1]
                phase["coverage"] = 0.5 if phase["coverage"] != 0.5 else 0.25
                return str(org["id"])
            found += 1
    raise SystemExit("not enough organizations")


def publish(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "publisher", *args], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"publish exited {run.returncode}: {run.stderr[-2000:]}")
    return wall, run.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="medium")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--moto", action="store_true", help="publish to a local moto bucket")
    ns = parser.parse_args()
    keys, orgs = SIZES[ns.size]
    work = Path(tempfile.mkdtemp(prefix="describe-cost-"))
    state = generate(keys, orgs)
    path = work / "state.json"
    path.write_text(json.dumps(state))
    env = {**os.environ, **CREDENTIALS}
    moto = None
    if ns.moto:
        moto, endpoint = start_moto()
        make_bucket(endpoint, "describe")
        where = ["--target", "s3://describe", "--endpoint-url", endpoint]
    else:
        where = ["--target", str(work / "site")]
    try:
        wall, _ = publish(["publish", str(path), *where, "-q"], env)
        print(f"{ns.size}: {keys:,} keys, cold publish {wall:.1f} s", flush=True)
        if not ns.moto:
            pack = work / "site" / "_publisher" / "bodies" / "00000001.json"
            print(f"the first generation's pack: {pack.stat().st_size / 1e6:.1f} MB")
        for index in range(ns.rounds):
            org = change(state, index)
            path.write_text(json.dumps(state))
            wall, log = publish(["-v", "publish", str(path), *where], env)
            found = DESCRIBED.search(log)
            described = f"{float(found[2]):.3f} s for {found[1]}" if found else "not logged"
            print(f"round {index + 1} ({org}): publish {wall:.2f} s, described {described}")
    finally:
        if moto is not None:
            moto.terminate()


if __name__ == "__main__":
    main()

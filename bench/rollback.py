"""A rollback on moto at 10,000 keys: its time and the requests it made.

    python bench/rollback.py [--keys 10000]

Publishes a generated state to a bucket on a local moto server, changes one
organization's experiment and publishes again, then times `publisher rollback --to 1`
(a whole process) through the counting proxy, and checks the result with `publisher
verify` of the first state.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import generate  # noqa: E402
from bench.run import CREDENTIALS, change_one_org  # noqa: E402
from tests.s3util import Proxy, moto_server, s3_client  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=10_000)
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)
    cli = [sys.executable, "-m", "publisher"]
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint:
        work = Path(tmp)
        client: object = s3_client(endpoint)
        client.create_bucket(Bucket="rollback-bench")  # type: ignore[attr-defined]
        state = generate(args.keys, args.keys // 5, seed=1)
        first, second = work / "s1.json", work / "s2.json"
        first.write_text(json.dumps(state))
        second.write_text(json.dumps(change_one_org(json.loads(json.dumps(state)))[0]))
        target = ["--target", "s3://rollback-bench", "--endpoint-url"]
        for path in (first, second):
            subprocess.run(
                [*cli, "publish", str(path), *target, endpoint, "-q"],
                check=True,
                capture_output=True,
            )
        proxy = Proxy(endpoint)
        try:
            start = time.perf_counter()
            done = subprocess.run(
                [*cli, "rollback", "--to", "1", *target, proxy.url], capture_output=True, text=True
            )
            wall = time.perf_counter() - start
            requests = proxy.reset()
        finally:
            proxy.close()
        kinds: dict[str, int] = {}
        for method, path, _ in requests:
            where = (
                "list"
                if "list-type" in path
                else "config/"
                if "/config/" in path
                else "_publisher/"
            )
            kinds[f"{method} {where}"] = kinds.get(f"{method} {where}", 0) + 1
        print(done.stdout.splitlines()[0])
        print(f"exit {done.returncode}, {wall:.2f} s, {len(requests)} requests: {kinds}")
        checked = subprocess.run(
            [*cli, "verify", str(first), *target, endpoint], capture_output=True, text=True
        )
        print(f"verify of the first state: exit {checked.returncode}: {checked.stdout.strip()}")


if __name__ == "__main__":
    main()

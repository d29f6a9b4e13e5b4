"""The daily path's other figures: a forced full scan, and change to edge.

Called by `bench/run.py` once the bucket holds every key; each workload is a process of
its own, as everywhere in the benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import edge

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publisher.bookkeeping.manifest import scan_bounds  # noqa: E402

Timed = Callable[..., dict[str, Any]]


def full_scan(
    timed: Timed,
    state: dict[str, Any],
    bucket: str,
    moto: str,
    work: Path,
    latency_ms: float,
    rounds: int = 2,
) -> dict[str, Any]:
    """The publisher's full-scan listing, sequential and in ranges, beside a bare paged
    listing: on moto, and on an O(page) store (bench/list_store.py) with and without a
    fixed latency per request."""
    keys = [k["key"] for o in state["organizations"] for k in o["api_keys"]]
    keys_file = work / "keys.txt"
    keys_file.write_text("\n".join(keys) + "\n")
    bounds = ",".join(scan_bounds(keys))
    out: dict[str, Any] = {"ranges": bounds.count(",") + 2 if bounds else 1, "stores": {}}

    def three(endpoint: str, name: str, rounds: int) -> None:
        walls: dict[str, list[float]] = {"bare": [], "sequential": [], "ranges": []}
        runs = {
            "bare": [sys.executable, str(ROOT / "bench" / "raw_list.py"), name, endpoint],
            "sequential": [sys.executable, str(ROOT / "bench" / "scan.py"), name, endpoint],
            "ranges": [
                sys.executable,
                str(ROOT / "bench" / "scan.py"),
                name,
                endpoint,
                "--bounds",
                bounds,
            ],
        }
        together = None
        for round_ in range(rounds):
            for what in runs if round_ % 2 == 0 else reversed(list(runs)):
                run = timed(runs[what])
                walls[what].append(run["wall_s"])
                if what == "ranges":  # whether the store answered the ranges together
                    together = json.loads(run["stdout"]).get("together")
        out["stores"][label] = {what: sum(w) / len(w) for what, w in walls.items()}
        out["stores"][label]["together"] = together

    label = "moto"
    print("full scan on moto: bare listing, sequential, ranges", flush=True)
    three(moto, bucket, rounds)
    for latency in (0.0, latency_ms):
        label = f"O(page) store, {latency:g} ms"
        print(f"full scan on an {label}", flush=True)
        port = _free_port()
        store = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "list_store.py"),
                str(keys_file),
                str(port),
                "--latency-ms",
                str(latency),
            ],
            stdout=subprocess.PIPE,
        )
        try:
            assert store.stdout is not None and store.stdout.readline().strip() == b"ready"
            three(f"http://127.0.0.1:{port}", "bench", rounds)
        finally:
            store.terminate()
            store.wait(timeout=30)
    return out


def change_to_edge(
    timed: Timed,
    publisher: Callable[..., list[str]],
    aws: list[str],
    aws_env: dict[str, str],
    state: dict[str, Any],
    change: tuple[str, str, list[str]],
    bucket: str,
    moto: str,
    work: Path,
) -> dict[str, Any] | None:
    """Time one change reaching the Varnish edge: publisher beside aws s3 sync + PURGE."""
    if edge.varnishd() is None:
        print("change to edge: skipped (varnishd is not installed)", flush=True)
        return None
    import boto3

    org_id, experiment, keys = change
    s3 = boto3.client("s3", endpoint_url=moto)
    s3.put_bucket_policy(Bucket=bucket, Policy=edge.public_read(bucket))
    port = int(moto.rsplit(":", 1)[1])
    tree = work / "tree-edge"
    state_file = work / "state-edge.json"

    def write_state(coverage: float) -> None:
        edge.set_coverage(state, org_id, experiment, coverage)
        state_file.write_text(json.dumps(state, separators=(",", ":")))

    print("change to edge: rendering the tree aws s3 sync uploads from", flush=True)
    timed(publisher("publish", str(state_file_of(state, work)), "--target", str(tree)))
    edge.age_tree(tree / "config")
    with edge.varnish(port, bucket) as url:
        print(f"change to edge: publisher, {len(keys)} documents", flush=True)
        write_state(0.125)
        command = publisher(
            "publish", str(state_file), "--target", f"s3://{bucket}", "--endpoint-url", moto,
            "--cdn", "http-purge", "--purge-url", url,
        )  # fmt: skip
        pub = edge.to_edge(url, keys, lambda: timed(command))
        _check(s3, bucket, pub["served"])

        print(f"change to edge: aws s3 sync + PURGE, {len(keys)} documents", flush=True)
        write_state(0.375)
        pause()
        timed(publisher("publish", str(state_file), "--target", str(tree)))  # not counted
        sync_cmd = [
            *aws, "s3", "sync", str(tree / "config"), f"s3://{bucket}/config",
            "--endpoint-url", moto, "--only-show-errors", "--no-progress",
        ]  # fmt: skip

        def sync_and_purge() -> None:
            timed(sync_cmd, extra_env=aws_env)
            for key in keys:
                edge.purge(url, key)

        sync = edge.to_edge(url, keys, sync_and_purge)
        _check(s3, bucket, sync["served"])
    return {"documents": len(keys), "publisher_s": pub["seconds"], "sync_s": sync["seconds"]}


def state_file_of(state: dict[str, Any], work: Path) -> Path:
    path = work / "state-edge-start.json"
    path.write_text(json.dumps(state, separators=(",", ":")))
    return path


def _check(s3: Any, bucket: str, served: dict[str, bytes]) -> None:
    """What the edge served is the bucket's bytes now, for every changed key."""
    for key, body in served.items():
        assert s3.get_object(Bucket=bucket, Key=f"config/{key}")["Body"].read() == body, key


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pause() -> None:
    time.sleep(1.1)  # a second between renders: file times must tell the two apart

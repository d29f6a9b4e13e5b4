"""Change to edge: from the start of a publish until a Varnish edge serves the new bytes.

Varnish (Debian's package) runs in front of the moto server, caching `/config/<key>`
from the bucket and accepting PURGE from 127.0.0.1. Two paths, one change each, the
same keys, measured from the start of the command until every changed document served
by the edge differs from what the edge served before (each checked afterwards against
the bucket's bytes):

- publisher: `publisher publish STATE --cdn http-purge --purge-url EDGE` (it loads,
  renders and validates the whole state, plans from its manifest, puts, purges);
- aws s3 sync: `aws s3 sync` of a tree the publisher already rendered (rendering not
  counted; unchanged files carry old times, so sync uploads only the changed ones),
  then one PURGE per changed path.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from publisher.servers.edge_config import EdgeOptions, render_edge_config


def varnishd() -> str | None:
    found = shutil.which("varnishd")
    return found or ("/usr/sbin/varnishd" if os.path.exists("/usr/sbin/varnishd") else None)


def public_read(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/config/*",
                }
            ],
        }
    )


@contextmanager
def varnish(origin_port: int, bucket: str) -> Iterator[str]:
    """Run varnishd in front of the bucket; yield the edge URL."""
    binary = varnishd()
    assert binary is not None
    work = Path(tempfile.mkdtemp(prefix="bench-varnish-"))
    work.chmod(0o755)  # varnishd drops privileges: its folder must be readable
    options = EdgeOptions(f"http://127.0.0.1:{origin_port}/{bucket}")
    (work / "edge.vcl").write_text(render_edge_config("varnish", options))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            binary,
            "-F",
            "-a",
            f"127.0.0.1:{port}",
            "-f",
            str(work / "edge.vcl"),
            "-n",
            str(work / "n"),
            "-s",
            "malloc,256m",
            "-p",
            "default_grace=0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    edge = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(edge + "/", timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.1)
        yield edge
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def fetch(edge: str, key: str) -> bytes:
    with urllib.request.urlopen(f"{edge}/config/{key}", timeout=30) as response:
        return bytes(response.read())


def purge(edge: str, key: str) -> None:
    request = urllib.request.Request(f"{edge}/config/{key}", method="PURGE")
    urllib.request.urlopen(request, timeout=30).read()


def to_edge(
    edge: str, keys: list[str], run: Callable[[], Any], deadline_s: float = 900
) -> dict[str, Any]:
    """Warm the edge with `keys`, then time `run()` plus polling until each key's body at
    the edge changes. Returns seconds and the bodies now served."""
    before = {key: fetch(edge, key) for key in keys}
    assert all(fetch(edge, key) == before[key] for key in keys[:3])  # served from cache
    start = time.perf_counter()
    run()
    waiting, served = set(keys), {}
    while waiting:
        for key in sorted(waiting):
            body = fetch(edge, key)
            if body != before[key]:
                waiting.discard(key)
                served[key] = body
        if waiting:
            if time.perf_counter() - start > deadline_s:
                raise SystemExit(f"the edge still serves old bytes for {len(waiting)} keys")
            time.sleep(0.05)
    return {"seconds": time.perf_counter() - start, "served": served}


def set_coverage(state: dict[str, Any], org_id: str, experiment: str, coverage: float) -> None:
    for org in state["organizations"]:
        if org["id"] == org_id:
            for exp in org["experiments"]:
                if exp["key"] == experiment:
                    exp["phases"][-1]["coverage"] = coverage
                    return
    raise KeyError((org_id, experiment))


def age_tree(config: Path) -> None:
    """Give every file an old time: `aws s3 sync` then uploads only what is rewritten."""
    old = time.mktime((2020, 1, 1, 0, 0, 0, 0, 0, -1))
    for entry in os.scandir(config):
        os.utime(entry.path, (old, old))

"""The benchmark code runs end to end on a tiny state (no timing is asserted).

In parts, each a test of its own (the whole of `bench/run.py` at tiny is about twenty
Python processes: as one test it took 15-25 s): the cold publishes, the daily path (the
no-op and incremental publishes), the full-scan timings, and the null S3, which is
skipped, saying why, where nginx or its echo module is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import daily, headers, nulls3
from bench.generate import SIZES, generate
from bench.run import timed
from tests.s3util import CREDENTIALS, moto_server, s3_client

ROOT = Path(__file__).resolve().parent.parent
TINY = generate(*SIZES["tiny"], seed=1)
LIVE = sum(1 for o in TINY["organizations"] for k in o["api_keys"] if not k.get("revoked"))
"""The documents a publish of the tiny state writes: one per key not revoked."""


def bench_run(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """bench/run.py at tiny, one round, without aws s3 sync, with `options`."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--size", "tiny", "--skip-sync",
         "--rounds", "1", "--work", str(tmp_path / "work"), *options],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def test_bench_cold_publishes_on_a_tiny_state(tmp_path: Path) -> None:
    """--cold-only: a PUT per document for the publisher, timed beside the raw loop."""
    run = bench_run(tmp_path, "--cold-only")
    cold = json.loads(run.stdout.splitlines()[-1].split("} ", 1)[0] + "}")
    assert cold["documents"] == LIVE and cold["rounds"] == 1
    assert cold["publisher_s"] > 0 and cold["raw_s"] > 0 and cold["publisher_rss_mib"] > 0


def test_bench_runs_on_a_tiny_state(tmp_path: Path) -> None:
    """bench/run.py produces every other figure, 0 PUTs on the no-op and one PUT per key of the changed org."""
    out = tmp_path / "results.json"
    run = bench_run(
        tmp_path, "--skip-cold", "--skip-null-s3", "--skip-full-scan", "--out", str(out)
    )
    results = json.loads(out.read_text())
    assert results["keys"] == 20
    assert results["render"]["documents"] == LIVE and results["render"]["floor_per_key_s"] > 0
    assert results["load"]["yaml_s"] > 0 and results["load"]["json_s"] > 0
    assert "cold" not in results
    assert results["noop"]["puts"] == 0
    assert results["noop"]["listed"] == LIVE
    assert results["incremental"]["document_puts"] == results["incremental"]["expected_puts"] > 0
    assert results["peak_rss_mib"] > 0
    assert "render+validate" in run.stdout and "peak RSS" in run.stdout


def test_bench_full_scan_on_a_tiny_bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The full-scan timings (bench/daily.py): bare, sequential and ranges, on moto and on
    the O(page) store with and without latency."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    keys = [k["key"] for o in TINY["organizations"] for k in o["api_keys"]]
    with moto_server() as endpoint:
        client: Any = s3_client(endpoint)
        client.create_bucket(Bucket="bench-full")
        for key in keys:
            client.put_object(Bucket="bench-full", Key=f"config/{key}", Body=b"{}")
        scan = daily.full_scan(timed, TINY, "bench-full", endpoint, tmp_path, 30.0, rounds=1)
    assert list(scan["stores"]) == ["moto", "O(page) store, 0 ms", "O(page) store, 30 ms"]
    for figures in scan["stores"].values():
        assert all(figures[what] > 0 for what in ("bare", "sequential", "ranges")), figures
    assert scan["ranges"] == 1  # 20 keys: one range, a single listing


def test_bench_null_s3_on_a_tiny_state(tmp_path: Path) -> None:
    """The null S3 (bench/nulls3.py, as run.py runs it at tiny): the publisher's rows at 0
    and 30 ms with 32 in flight, every document sent, and the headers it sent."""
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run does)")
    if not nulls3.ECHO.exists():
        pytest.skip(
            f"nginx's echo module is missing ({nulls3.ECHO}): apt-get install "
            "libnginx-mod-http-echo; .ci/run does"
        )
    sent = headers.capture(tmp_path / "headers")["publisher"]
    rows = nulls3.measure(
        [20], [0.0, 0.03], install=False, work=tmp_path / "nulls3", rounds=1, in_flight=(32,)
    )
    ours = [r for r in rows if r["tool"] == "publisher"]
    assert [(r["latency_ms"], r["in_flight"]) for r in ours] == [(0.0, 32), (30.0, 32)]
    assert all(r["docs"] == LIVE and r["docs_per_s"] > 0 for r in ours), ours
    assert "publisher best ÷ it" in nulls3.table(rows)
    assert sent["Content-Type"] == "application/json; charset=utf-8"
    assert sent["x-amz-meta-sha256"] == sent["x-amz-content-sha256 (SigV4)"] == "the body's sha256"

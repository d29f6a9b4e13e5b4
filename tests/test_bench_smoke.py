"""The benchmark code runs end to end on a tiny state (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.nulls3 import ECHO

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_on_a_tiny_state(tmp_path: Path) -> None:
    """bench/run.py produces every figure, 0 PUTs on the no-op and one PUT per key of the changed org."""
    out = tmp_path / "results.json"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--size",
            "tiny",
            "--skip-sync",
            "--rounds",
            "1",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["keys"] == 20
    assert results["render"]["documents"] > 0 and results["render"]["floor_per_key_s"] > 0
    assert results["cold"]["documents"] == results["render"]["documents"]
    assert results["noop"]["puts"] == 0
    assert results["noop"]["listed"] == results["cold"]["documents"]
    assert results["incremental"]["document_puts"] == results["incremental"]["expected_puts"] > 0
    assert results["peak_rss_mib"] > 0
    assert "render+validate" in run.stdout and "peak RSS" in run.stdout
    # The null-S3 rows: nginx answering every S3 call (where Debian's echo module is), at
    # one setting of uploads in flight at this size, and the headers the publisher sent.
    if ECHO.exists():
        ours = [r for r in results["null_s3"] if r["tool"] == "publisher"]
        assert [(r["latency_ms"], r["in_flight"]) for r in ours] == [(0.0, 32), (30.0, 32)]
        assert all(r["docs"] == results["cold"]["documents"] and r["docs_per_s"] > 0 for r in ours)
        assert "publisher best ÷ it" in run.stdout
        sent = results["null_s3_headers"]["publisher"]
        assert sent["Content-Type"] == "application/json; charset=utf-8"
        assert (
            sent["x-amz-meta-sha256"] == sent["x-amz-content-sha256 (SigV4)"] == "the body's sha256"
        )

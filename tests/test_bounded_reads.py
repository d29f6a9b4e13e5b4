"""Every read of the target is bounded: a FIFO, a device or a huge file where a document
or a bookkeeping file belongs never blocks a command or fills its memory. Regular files
only, read one byte past their cap: a larger document differs (and is written anew), a
larger bookkeeping file is named in one line and ignored."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from publisher.aws import S3Bucket
from publisher.servers.serve import UNAVAILABLE, make_server
from publisher.settings import DEFAULT_CACHE_CONTROL
from tests.conftest import KEY_A, base_state, dump_state, run_cli
from tests.s3util import CREDENTIALS, moto_server, s3_client

OWN_BUCKET = "bounded-reads"


def publisher(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process: a read that blocks fails the test at `timeout`
    instead of hanging the suite."""
    return subprocess.run(
        [sys.executable, "-m", "publisher", *map(str, args)],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _published(tmp_path: Path) -> tuple[Path, Path]:
    state = dump_state(tmp_path / "state.yaml", base_state())
    target = tmp_path / "public"
    assert run_cli("publish", state, "--target", target).exit_code == 0
    return state, target


@pytest.mark.parametrize(
    "name", ["manifest.json", "quick.json", "lock", "pending-purge.json", "webhooks.json"]
)
def test_a_fifo_for_a_bookkeeping_file_is_named_and_ignored(tmp_path: Path, name: str) -> None:
    """A FIFO would block the read forever: it counts as absent, said in one line, and the
    publish converges (the file is written anew as a regular file)."""
    state, target = _published(tmp_path)
    fifo = target / "_publisher" / name
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    ran = publisher("publish", state, "--target", target, "--full-scan")
    if name == "pending-purge.json":  # a purge pending, of what is unknown: not forgotten
        assert ran.returncode == 4, ran.stderr
        assert "a CDN purge of every document is pending" in ran.stderr
        ran = publisher(
            "publish", state, "--target", target, "--full-scan", "--ignore-pending-purge"
        )
    assert ran.returncode == 0, ran.stderr
    if name != "lock":  # the lock is looked at under its guard, and taken over silently
        assert f"ignoring _publisher/{name}: not a regular file" in ran.stderr
    assert "Traceback" not in ran.stderr
    checked = publisher("verify", state, "--target", target)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_fifo_for_a_document_is_written_over(tmp_path: Path) -> None:
    """A FIFO where a document belongs is not a live document: verify says it is missing
    (without blocking), and the publish puts the document there."""
    state, target = _published(tmp_path)
    expected = (target / "config" / KEY_A).read_bytes()
    (target / "config" / KEY_A).unlink()
    os.mkfifo(target / "config" / KEY_A)
    drift = publisher("verify", state, "--target", target, "--json")
    assert drift.returncode == 1, drift.stderr
    assert '"missing"' in drift.stdout and KEY_A not in drift.stdout
    ran = publisher("publish", state, "--target", target, "--full-scan")
    assert ran.returncode == 0, ran.stderr
    assert (target / "config" / KEY_A).read_bytes() == expected


@pytest.mark.parametrize(("name", "cap"), [("quick.json", 1 << 20), ("manifest.json", 256 << 20)])
def test_a_huge_bookkeeping_file_is_read_to_its_cap(tmp_path: Path, name: str, cap: int) -> None:
    """A sparse file far larger than its kind may be: read one byte past the cap and no
    further, named in one line, ignored; the manifest is written anew at once (a no-op
    publish writes nothing, so the marker waits for the next publish that writes)."""
    state, target = _published(tmp_path)
    with open(target / "_publisher" / name, "wb") as huge:
        huge.truncate(cap * 4)
    ran = publisher("publish", state, "--target", target)
    assert ran.returncode == 0, ran.stderr
    assert f"ignoring _publisher/{name}: over the {cap:,} bytes" in ran.stderr
    if name == "manifest.json":  # the marker is rewritten by the next publish that writes
        assert (target / "_publisher" / name).stat().st_size < cap
    assert publisher("verify", state, "--target", target).returncode == 0


def test_a_huge_bookkeeping_file_is_not_read_at_all(tmp_path: Path) -> None:
    """A sparse manifest of 2 GiB is known too large by its size: the publish's peak
    memory stays that of a small publish (it was 580 MB when read to the cap)."""
    state, target = _published(tmp_path)
    with open(target / "_publisher" / "manifest.json", "wb") as huge:
        huge.truncate(2 << 30)
    measured = subprocess.run(
        [sys.executable, "-c", PEAK, "publish", str(state), "--target", str(target)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "ignoring _publisher/manifest.json: over the 268,435,456 bytes" in measured.stderr
    peak_kib = int(measured.stdout.strip().splitlines()[-1])
    assert peak_kib < 200 * 1024, peak_kib


PEAK = """
import runpy, sys
sys.argv = ["publisher", *sys.argv[1:]]
try:
    runpy.run_module("publisher", run_name="__main__")
except SystemExit:
    pass
status = open("/proc/self/status").read()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
"""
"""Run the CLI in this process, then print its peak resident memory in KiB."""


def test_a_document_past_the_read_cap_differs(tmp_path: Path) -> None:
    """A live document of 65 MiB (sparse) is read to 64 MiB + 1 and counts as different."""
    state, target = _published(tmp_path)
    expected = (target / "config" / KEY_A).read_bytes()
    with open(target / "config" / KEY_A, "wb") as huge:
        huge.truncate(65 << 20)
    ran = publisher("publish", state, "--target", target, "--full-scan")
    assert ran.returncode == 0, ran.stderr
    assert (target / "config" / KEY_A).read_bytes() == expected


def test_a_document_cap_past_the_read_cap_is_refused(tmp_path: Path) -> None:
    state = dump_state(tmp_path / "state.yaml", base_state())
    ran = run_cli("publish", state, "--target", tmp_path / "o", "--max-document-bytes", "1g")
    assert ran.exit_code == 2
    too_big = run_cli(
        "publish", state, "--target", tmp_path / "o", "--max-document-bytes", str((64 << 20) + 1)
    )
    assert too_big.exit_code == 2 and "--max-document-bytes" in too_big.stderr
    assert not (tmp_path / "o").exists()


def test_serve_answers_beside_a_fifo(tmp_path: Path) -> None:
    """`publisher serve` of a directory where a FIFO sits at a key's path, and a sparse
    file of 2 GiB at another's: each is answered 500 at once (the server's fault, not the
    key's), and the server goes on serving the others."""
    root = tmp_path / "public"
    (root / "config").mkdir(parents=True)
    os.mkfifo(root / "config" / KEY_A)
    other = "key_acme_other_00000000000009"
    (root / "config" / other).write_bytes(b'{"status":200,"overrides":{}}')
    huge = "key_acme_huge_000000000000009"
    with open(root / "config" / huge, "wb") as sparse:
        sparse.truncate(2 << 30)
    server = make_server(root, "127.0.0.1", 0, DEFAULT_CACHE_CONTROL)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/config/"
    try:
        for key in (KEY_A, huge):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + key, timeout=5)
            assert refused.value.code == 500
            assert refused.value.read() == UNAVAILABLE
        with urllib.request.urlopen(base + other, timeout=5) as response:
            assert response.read() == b'{"status":200,"overrides":{}}'
    finally:
        server.shutdown()
        server.server_close()


def test_an_object_is_read_one_byte_past_its_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The S3 reader stops one byte past the cap it is given, whatever the object's size;
    a large quick.json in the bucket is named and ignored, and the publish converges."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with moto_server() as endpoint:
        client: Any = s3_client(endpoint)
        client.create_bucket(Bucket=OWN_BUCKET)  # moto's buckets outlive a test on a worker
        client.put_object(Bucket=OWN_BUCKET, Key="big", Body=b"x" * 100_000)
        bucket = S3Bucket(client, OWN_BUCKET, endpoint)
        found = bucket.get("big", 10)  # known by its length: not read
        assert found is not None and found.too_large and found.body == b""
        whole = bucket.get("big", 100_000)
        assert whole is not None and not whole.too_large and whole.body == b"x" * 100_000

        state = dump_state(tmp_path / "state.yaml", base_state())
        args = ("--target", f"s3://{OWN_BUCKET}/site", "--endpoint-url", endpoint)
        assert run_cli("publish", state, *args).exit_code == 0
        quick = "site/_publisher/quick.json"
        client.put_object(Bucket=OWN_BUCKET, Key=quick, Body=b"{" * (2 << 20))
        ran = run_cli("publish", state, *args)
        assert ran.exit_code == 0, ran.stderr
        assert "ignoring _publisher/quick.json: over the 1,048,576 bytes" in ran.stderr
        assert run_cli("verify", state, *args).exit_code == 0

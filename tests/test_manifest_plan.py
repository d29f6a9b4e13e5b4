"""The daily publish plans from the manifest; drift is repaired by a full scan, on a schedule."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher.redact import key_hash
from tests.conftest import KEY_A, KEY_G, base_state, dump_state, run_cli
from tests.race import racers
from tests.s3util import CREDENTIALS, Proxy, count, moto_server, s3_client


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


class Site:
    """A target, directory or S3, with out-of-band access to its documents."""

    def __init__(self, kind: str, tmp_path: Path, endpoint: str, name: str) -> None:
        self.kind = kind
        self.root = tmp_path / "public"
        self.client: Any = s3_client(endpoint)
        self.bucket = f"drift-{name}"
        if kind == "s3":
            self.client.create_bucket(Bucket=self.bucket)
        self.args: tuple[str | Path, ...] = (
            ("--target", self.root)
            if kind == "dir"
            else ("--target", f"s3://{self.bucket}", "--endpoint-url", endpoint)
        )

    def read(self, name: str) -> bytes | None:
        if self.kind == "dir":
            path = self.root / name
            return path.read_bytes() if path.exists() else None
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=name)["Body"].read())
        except self.client.exceptions.NoSuchKey:
            return None

    def write(self, name: str, body: bytes) -> None:
        if self.kind == "dir":
            (self.root / name).write_bytes(body)
        else:
            self.client.put_object(Bucket=self.bucket, Key=name, Body=body)

    def delete(self, name: str) -> None:
        if self.kind == "dir":
            (self.root / name).unlink()
        else:
            self.client.delete_object(Bucket=self.bucket, Key=name)


@pytest.fixture(params=["dir", "s3"])
def site(
    request: pytest.FixtureRequest, tmp_path: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Site:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return Site(request.param, tmp_path, endpoint, f"{abs(hash(request.node.name)) % 10**8}")


@pytest.mark.parametrize("drift", ["deleted", "overwritten"])
def test_full_scan_repairs_drift(site: Site, tmp_path: Path, drift: str) -> None:
    """A document deleted or overwritten behind publisher's back stays so until a full scan,
    which puts it back."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    assert run_cli("publish", path, *site.args).exit_code == 0
    good = site.read(f"config/{KEY_A}")
    if drift == "deleted":
        site.delete(f"config/{KEY_A}")
    else:
        site.write(f"config/{KEY_A}", b'{"status":200,"overrides":{"evil":{}}}')
    daily = run_cli("publish", path, *site.args)
    assert daily.exit_code == 0 and "Nothing to upload" in daily.stdout
    assert site.read(f"config/{KEY_A}") != good  # planned from the manifest: not seen
    scan = run_cli("publish", path, *site.args, "--full-scan")
    assert scan.exit_code == 0, scan.stderr
    assert "1 added" in scan.stdout if drift == "deleted" else "1 changed" in scan.stdout
    assert site.read(f"config/{KEY_A}") == good


def test_full_scan_runs_by_itself_when_due(site: Site, tmp_path: Path) -> None:
    """After --full-scan-every seconds since the last full scan, a publish lists by itself."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    assert run_cli("publish", path, *site.args).exit_code == 0  # cold: a full scan
    good = site.read(f"config/{KEY_G}")
    site.delete(f"config/{KEY_G}")
    assert run_cli("publish", path, *site.args, "--full-scan-every", "3600").exit_code == 0
    assert site.read(f"config/{KEY_G}") is None
    time.sleep(1.2)
    due = run_cli("publish", path, *site.args, "--full-scan-every", "1")
    assert due.exit_code == 0 and "1 added" in due.stdout
    assert site.read(f"config/{KEY_G}") == good
    manifest = json.loads(site.read("_publisher/manifest.json") or b"{}")
    assert time.time() - manifest["full_scan_at"] < 30


@pytest.mark.parametrize("damage", ["missing", "corrupted", "edited", "unsalted"])
def test_a_manifest_not_intact_falls_back_to_a_listing(
    site: Site, tmp_path: Path, damage: str
) -> None:
    """Missing, unreadable or edited (its digest no longer holds): the publish lists what is
    live, repairs the drift and writes an intact manifest."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    assert run_cli("publish", path, *site.args).exit_code == 0
    good = site.read(f"config/{KEY_A}")
    site.delete(f"config/{KEY_A}")
    raw = site.read("_publisher/manifest.json") or b""
    if damage == "missing":
        site.delete("_publisher/manifest.json")
    elif damage == "corrupted":
        site.write("_publisher/manifest.json", raw[: len(raw) // 2])
    elif damage == "unsalted":  # as format 2 wrote it: plain sha256 of each key
        data = json.loads(raw)
        plain = {hashlib.sha256(k.encode()).hexdigest(): v for k, v in data["documents"].items()}
        data.update(format=2, documents=plain)
        del data["salt"]
        site.write("_publisher/manifest.json", json.dumps(data).encode())
    else:  # claims the deleted document is still there, under another hash
        data = json.loads(raw)
        data["documents"][key_hash("key_someone_elses_0000", data["salt"])] = "0" * 64
        site.write("_publisher/manifest.json", json.dumps(data).encode())
    result = run_cli("publish", path, *site.args)
    assert result.exit_code == 0, result.stderr
    assert site.read(f"config/{KEY_A}") == good
    repaired = json.loads(site.read("_publisher/manifest.json") or b"{}")
    assert repaired["format"] == 3 and repaired["digest"] and len(repaired["salt"]) == 32
    assert run_cli("publish", path, *site.args).stdout.startswith("Nothing to upload")


def test_two_publishers_racing_keep_the_manifest_true(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two publisher processes of different states at once, ten rounds: each exits 0 or 5
    (locked), and after each round the manifest records exactly what is live."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    site = Site("s3", tmp_path, endpoint, "race")
    states = []
    for i in range(2):
        state = base_state()
        state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 0.1 * (i + 1)
        states.append(dump_state(tmp_path / f"s{i}.yaml", state))
    publishes = [{"cli": ["publish", str(p), *map(str, site.args)]} for p in states]
    with racers(CREDENTIALS) as race:
        for _ in range(10):
            ran = race.race(publishes)
            codes = sorted(r["code"] for r in ran)
            assert codes in ([0, 0], [0, 5]), ran
            check_manifest(site)


def check_manifest(site: Site) -> None:
    """The manifest records exactly the documents that are live, each by its digest."""
    manifest = json.loads(site.read("_publisher/manifest.json") or b"{}")
    listing = site.client.list_objects_v2(Bucket=site.bucket, Prefix="config/")
    live = {
        key_hash(o["Key"].removeprefix("config/"), manifest["salt"]): hashlib.sha256(
            site.read(o["Key"]) or b""
        ).hexdigest()
        for o in listing.get("Contents", [])
    }
    assert manifest["documents"] == live


def test_a_prune_of_keys_gone_from_the_state_lists_to_name_them(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest holds no raw key: a prune of a key removed from the state lists once."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    site = Site("s3", tmp_path, endpoint, "gone")
    state = base_state()
    path = dump_state(tmp_path / "s.yaml", state)
    proxy = Proxy(endpoint)
    args = ("--target", f"s3://{site.bucket}", "--endpoint-url", proxy.url)
    try:
        assert run_cli("publish", path, *args).exit_code == 0
        proxy.reset()
        state["organizations"][1]["api_keys"] = []  # KEY_G removed, not revoked
        dump_state(path, state)
        result = run_cli("publish", path, *args, "--prune", "--force")
        assert result.exit_code == 0, result.stderr
        assert count(proxy.reset(), "GET", "list-type=2") >= 1
    finally:
        proxy.close()
    assert site.read(f"config/{KEY_G}") is None


def test_bookkeeping_lands_before_the_manifest_or_no_manifest_is_written() -> None:
    import time

    from publisher.bookkeeping.manifest import MANIFEST
    from publisher.bookkeeping.write_behind import WriteBehind

    class Store:
        def __init__(self, failing: str | None = None, delay: float = 0.0) -> None:
            self.written: list[str] = []
            self.reads: list[str] = []
            self.failing, self.delay = failing, delay

        def read_meta(self, name: str) -> bytes | None:
            self.reads.append(name)
            return name.encode()

        def write_meta(self, name: str, body: bytes) -> None:
            if name != MANIFEST:
                time.sleep(self.delay)  # a round trip: the writes are out side by side
            if name == self.failing:
                raise OSError("denied")
            self.written.append(name)

        def delete_meta(self, names: object) -> None:
            pass

    names = ["bodies/1.json", "history/base-1.json", "generations/1.json"]
    good = Store(delay=0.2)
    began = time.monotonic()
    with WriteBehind(good) as writes:
        for name in names:
            writes.write_meta(name, b"{}")
        writes.write_meta(MANIFEST, b"{}")
    assert good.written[-1] == MANIFEST and sorted(good.written[:3]) == sorted(names)
    assert time.monotonic() - began < 0.55  # side by side: not three round trips in a row
    bad = Store("history/base-1.json", delay=0.05)
    with pytest.raises(OSError), WriteBehind(bad) as writes:
        writes.write_meta("bodies/1.json", b"{}")
        writes.write_meta("history/base-1.json", b"{}")
        writes.write_meta(MANIFEST, b"{}")
    assert bad.written == ["bodies/1.json"] and MANIFEST not in bad.written
    # An error before the manifest: the writes in flight have landed when the block ends
    # (the lock is released after it), and nothing else is sent.
    slow = Store(delay=0.3)
    with pytest.raises(RuntimeError), WriteBehind(slow) as writes:
        writes.write_meta("bodies/1.json", b"{}")
        raise RuntimeError("the history could not be recorded")
    assert slow.written == ["bodies/1.json"]
    # Reads made ahead answer once; a later read asks the store again.
    reader = Store()
    writes = WriteBehind(reader, ahead=["generations/00000002.json"])
    assert writes.read_meta("generations/00000002.json") == b"generations/00000002.json"
    assert reader.reads == ["generations/00000002.json"]
    writes.read_meta("generations/00000002.json")
    assert reader.reads == ["generations/00000002.json"] * 2

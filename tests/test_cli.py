"""The command line: help, exit codes, --json, init, render, the console script and the wheel."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from publisher.documents.render import render_documents
from publisher.state import load_state
from tests.conftest import KEY_A, KEY_G, base_state, dump_state, run_cli

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), ["publish", "validate", "render", "serve", "init", "init-bucket", "keys"]),
        (
            ("publish",),
            [
                "--target",
                "--dry-run",
                "--prune",
                "--max-deletes",
                "--force",
                "--stopped-policy",
                "--json",
                "Exit codes",
            ],
        ),
        (("serve",), ["--host", "--port", "--cache-control"]),
        (
            ("publish",),
            [
                "--endpoint-url",
                "--region",
                "--profile",
                "--concurrency",
                "--retry-mode",
                "--no-lock",
                "--cdn",
                "--distribution-id",
                "--invalidation-threshold",
                "--wait",
                "--purge-url",
            ],
        ),
        (("init-bucket",), ["--create", "--public-read", "--endpoint-url"]),
        (("keys",), ["create", "list", "revoke"]),
        (("keys", "create"), ["--org", "--description", "--project"]),
        (("render",), ["--key"]),
    ],
)
def test_help_lists_options(args: tuple[str, ...], words: list[str]) -> None:
    """Each command's --help names its options."""
    result = run_cli(*args, "--help")
    assert result.exit_code == 0
    for word in words:
        assert word in result.stdout


def test_render_prints_exact_document(state_file: Path) -> None:
    """`render --key` prints the document bytes that publish would write."""
    result = run_cli("render", state_file, "--key", KEY_A)
    expected = render_documents(load_state(state_file)).documents[KEY_A].body
    assert result.exit_code == 0
    assert result.stdout.encode() == expected + b"\n"


def test_render_unknown_key_is_usage_error(state_file: Path) -> None:
    """An unknown key exits 2 without echoing the key."""
    result = run_cli("render", state_file, "--key", "key_nothere_0000000000")
    assert result.exit_code == 2
    assert "is not in the state" in result.stderr
    assert "key_nothere_0000000000" not in result.stderr


def test_render_force_control_policy(tmp_path: Path) -> None:
    """--stopped-policy force-control includes stopped experiments without a winner."""
    state = base_state()
    state["organizations"][1]["experiments"][0]["status"] = "stopped"
    path = dump_state(tmp_path / "s.yaml", state)
    assert json.loads(run_cli("render", path, "-k", KEY_G).stdout)["overrides"] == {}
    forced = json.loads(
        run_cli("render", path, "-k", KEY_G, "--stopped-policy", "force-control").stdout
    )
    assert forced["overrides"] == {"exp-g": {"status": "stopped", "force": 0, "coverage": 1}}


def test_bad_option_value_exits_2(state_file: Path) -> None:
    """A wrong option value is a usage error (exit 2)."""
    assert run_cli("publish", state_file, "--stopped-policy", "nope").exit_code == 2
    assert run_cli("publish", state_file, "--max-deletes", "-1").exit_code == 2


def test_validate_json(state_file: Path) -> None:
    """`validate --json` prints counts."""
    result = run_cli("validate", state_file, "--json")
    assert json.loads(result.stdout) == {
        "file": str(state_file),
        "ok": True,
        "organizations": 2,
        "documents": 3,
        "distinct": 3,
        "revoked": 0,
        "webhooks": 0,
        "short_keys": [],
    }


def test_error_as_json(tmp_path: Path) -> None:
    """With --json an invalid state prints a machine-readable error on stdout, lines on stderr."""
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 2
    path = dump_state(tmp_path / "s.yaml", state)
    result = run_cli("publish", path, "--target", tmp_path / "out", "--json")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["exit_code"] == 3
    assert data["problems"][0]["location"] == "organizations[0].experiments[0].phases[0].coverage"
    assert data["problems"][0]["line"] == 16
    assert "coverage" in result.stderr
    assert not (tmp_path / "out").exists()


def test_document_size_limit(state_file: Path, tmp_path: Path) -> None:
    """A document over --max-document-bytes exits 3 naming the scope and its keys; nothing written."""
    result = run_cli(
        "publish", state_file, "--target", tmp_path / "out", "--max-document-bytes", "120"
    )
    assert result.exit_code == 3
    assert "document of acme: is 161 bytes, over the limit of 120" in result.stderr
    assert "used by key key_acme…0001" in result.stderr
    assert not (tmp_path / "out").exists()


def test_init_writes_example_and_refuses_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`init` writes a valid commented example, and will not overwrite without --force."""
    monkeypatch.chdir(tmp_path)
    assert run_cli("init").exit_code == 0
    text = Path("experiments.yaml").read_text()
    assert text.startswith("# ")
    assert load_state("experiments.yaml").organizations
    Path("experiments.yaml").write_text("mine")
    again = run_cli("init")
    assert again.exit_code == 2
    assert Path("experiments.yaml").read_text() == "mine"
    assert run_cli("init", "--force").exit_code == 0
    Path("dangling.yaml").symlink_to("nowhere.yaml")  # a link to a file not there (yet)
    linked = run_cli("init", "dangling.yaml")
    assert linked.exit_code == 2 and "dangling.yaml exists" in linked.stderr
    assert Path("dangling.yaml").is_symlink() and not Path("nowhere.yaml").exists()


def test_init_creates_missing_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`init sub/dir/x.yaml` creates the folders, says so in one line, and the file validates."""
    monkeypatch.chdir(tmp_path)
    result = run_cli("init", "sub/dir/x.yaml")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Wrote sub/dir/x.yaml (created sub/). Next: ")
    assert run_cli("validate", "sub/dir/x.yaml").exit_code == 0
    Path("afile").write_text("")
    blocked = run_cli("init", "afile/x.yaml")
    assert blocked.exit_code == 2 and "Traceback" not in blocked.stderr
    assert blocked.stderr == "error: afile/x.yaml: cannot create its folder: afile is a file\n"


def test_init_writes_json_for_a_json_path(tmp_path: Path) -> None:
    """`init x.json` writes the same example as JSON, which validate accepts and which
    renders the very documents the YAML example does."""
    assert run_cli("init", tmp_path / "x.json").exit_code == 0
    assert run_cli("init", tmp_path / "x.yaml").exit_code == 0
    data = json.loads((tmp_path / "x.json").read_text())  # JSON, not YAML
    assert data["version"] == 1
    assert run_cli("validate", tmp_path / "x.json").exit_code == 0
    as_json = render_documents(load_state(tmp_path / "x.json")).documents
    as_yaml = render_documents(load_state(tmp_path / "x.yaml")).documents
    assert {k: d.body for k, d in as_json.items()} == {k: d.body for k, d in as_yaml.items()}


@pytest.mark.parametrize("path", ["sub/", "sub", "."])
def test_init_refuses_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """A directory (or a path ending in /) is refused with exit 2; no file named `sub`."""
    monkeypatch.chdir(tmp_path)
    Path("sub").mkdir()
    if path == "sub/":
        Path("sub").rmdir()
    result = run_cli("init", path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: names a directory: give the file to write")
    assert not Path("sub").is_file()
    assert list(tmp_path.rglob("*.yaml")) == []


def test_init_refuses_an_unknown_extension(tmp_path: Path) -> None:
    """`init x.txt` would write a file validate refuses: exit 2, nothing written."""
    result = run_cli("init", tmp_path / "x.txt")
    assert result.exit_code == 2 and "use .yaml, .yml or .json" in result.stderr
    assert not (tmp_path / "x.txt").exists()


def test_console_script_end_to_end(tmp_path: Path) -> None:
    """The installed `publisher` script and `python -m publisher` run init, publish and validate."""
    script = shutil.which("publisher", path=str(BIN)) or str(BIN / "publisher")
    run = subprocess.run([script, "init"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    run = subprocess.run(
        [script, "publish", "experiments.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "Published 3 documents" in run.stdout
    assert (tmp_path / "public" / "config" / "key_demo_prod_0123456789abcdef").is_file()
    run = subprocess.run(
        [sys.executable, "-m", "publisher", "--version"], capture_output=True, text=True
    )
    assert run.stdout.startswith("publisher ")
    bad = subprocess.run(
        [script, "validate", "missing.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: missing.yaml: no such file")


def test_wheel_ships_the_schemas(tmp_path: Path) -> None:
    """The built wheel is the distribution `overrides-publisher` (PyPI's `publisher` is
    another project), installs the command `publisher`, and contains both JSON Schemas and
    the example state inside the package `publisher`."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("overrides_publisher-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    with zipfile.ZipFile(wheel) as zf:
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        assert "\nName: overrides-publisher\n" in zf.read(info).decode()
        scripts = zf.read(info.replace("METADATA", "entry_points.txt")).decode()
        assert "publisher = publisher.cli:main" in scripts
    assert not [n for n in names if n.split("/")[0] not in ("publisher",) and ".dist-info" not in n]
    for name in (
        "publisher/schema/state.schema.json",
        "publisher/schema/overrides.schema.json",
        "publisher/data/example.yaml",
    ):
        assert name in names
    with zipfile.ZipFile(wheel) as zf:
        assert (
            zf.read("publisher/schema/overrides.schema.json")
            == (ROOT / "schema" / "overrides.schema.json").read_bytes()
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--cdn", "cloudfront"), "--cdn cloudfront needs --distribution-id"),
        (("--cdn", "http-purge"), "--cdn http-purge needs at least one --purge-url"),
        (
            ("--cdn", "http-purge", "--purge-url", "edge.local"),
            "must start with http:// or https://",
        ),
        (("--purge-url", "http://edge"), "need --cdn cloudfront or http-purge"),
        (("--target", "ftp://x"), "ftp: is not a target"),
    ],
)
def test_cdn_and_target_usage_errors(
    state_file: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """Inconsistent CDN or target options exit 2 before anything is written."""
    result = run_cli("publish", state_file, "--target", tmp_path / "out", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_init_refuses_a_fifo_even_with_force(tmp_path: Path) -> None:
    """--force overwrites a file: a FIFO (something else reads it) is left as it is."""
    fifo = tmp_path / "out.yaml"
    os.mkfifo(fifo)
    for args in ((), ("--force",)):
        result = run_cli("init", fifo, *args)
        assert result.exit_code == 2, result.stdout
        assert "not a regular file" in result.stderr
        assert stat.S_ISFIFO(fifo.lstat().st_mode)

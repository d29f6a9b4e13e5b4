"""`publish --report FILE.html`: one self-contained page about one publish, written
whether it succeeded, found the state invalid (exit 3, problems with file:line), or was
cut short by the store (exit 4, what was and was not done). Never a raw key, nothing
fetched, typed text escaped."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.redact import key_label
from tests.conftest import KEY_A, KEY_A_CHECKOUT, KEY_G, base_state, dump_state, run_cli, tree
from tests.s3util import CREDENTIALS, Faults, Proxy, count, moto_server, s3_client
from tests.test_pages import Page, hostile_state, screenshot

SECOND = "key_acme_second_00000000000005"
KEYS = (KEY_A, KEY_A_CHECKOUT, KEY_G, SECOND)


def read_page(path: Path) -> tuple[str, str, Page]:
    html = path.read_text()
    page = Page()
    page.feed(html)
    return html, " ".join(" ".join(page.text).split()), page


def assert_self_contained(html: str, page: Page) -> None:
    assert page.fetching == [] and "script" not in page.tags and "img" not in page.tags
    assert "<link" not in html and "@import" not in html
    for key in KEYS:
        assert key not in html


def test_a_publish_report_names_each_change_before_and_after(tmp_path: Path) -> None:
    state, target = tmp_path / "s.yaml", tmp_path / "public"
    first = hostile_state()
    first["organizations"][0]["api_keys"].append({"key": SECOND, "description": "second"})
    assert run_cli("publish", dump_state(state, first), "-t", target).exit_code == 0
    changed = hostile_state()
    changed["organizations"][0]["api_keys"].append({"key": SECOND, "description": "second"})
    changed["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 0.25
    changed["organizations"][0]["experiments"][0]["phases"][0]["weights"] = [0.1, 0.9]
    changed["organizations"][1]["api_keys"][0]["revoked"] = True
    report = tmp_path / "out" / "publish.html"
    report.parent.mkdir()
    result = run_cli("publish", dump_state(state, changed), "-t", target, "--prune",
                     "--report", report)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    html, text, page = read_page(report)
    assert_self_contained(html, page)
    assert "Published" in text and "generation 2" in text
    # The acme key that sees exp-a got its change (the checkout key sees only its project).
    assert re.search(r"coverage: 1 → 0\.25", text), text
    assert re.search(r"weights: \[0\.5, 0\.5\] → \[0\.1, 0\.9\]", text), text
    # Two keys got the very same change: one row names both and says the change once.
    assert key_label(KEY_A) in text and key_label(SECOND) in text
    assert key_label(KEY_A_CHECKOUT) not in text
    assert text.count("coverage: 1 → 0.25") == 1
    assert "2 changed" in text and "1 deleted" in text
    # The revoked key's document: deleted, said by label with why.
    assert re.search(re.escape(key_label(KEY_G)) + r".*revoked deleted", text), text
    for stage in ("Load, render and validate", "Read what is live", "Upload", "Delete"):
        assert stage in text
    assert '<script>alert("x")</script>' in text and "&lt;script&gt;" in html  # escaped
    assert "Report written to" in result.stderr


def test_a_dry_run_report_says_what_it_would_do(tmp_path: Path) -> None:
    state, target = dump_state(tmp_path / "s.yaml", base_state()), tmp_path / "public"
    report = tmp_path / "plan.html"
    result = run_cli("publish", state, "-t", target, "--dry-run", "--report", report)
    assert result.exit_code == 0, result.stderr
    html, text, page = read_page(report)
    assert_self_contained(html, page)
    assert "Dry run: nothing changed" in text and "Changes it would make" in text
    assert "exp-a" in text and "exp-checkout" in text and "new document" in text
    assert not target.exists()


def test_an_invalid_state_writes_the_report_with_file_and_line(tmp_path: Path) -> None:
    target, report = tmp_path / "public", tmp_path / "r.html"
    state = base_state()
    state["organizations"][0]["experiments"][0]["phases"][0]["coverage"] = 7
    path = dump_state(tmp_path / "s.yaml", state)
    result = run_cli("publish", path, "-t", target, "--report", report)
    assert result.exit_code == 3
    html, text, page = read_page(report)
    assert_self_contained(html, page)
    assert "Failed (exit 3)" in text and "nothing was published" in text
    line = next(n for n, row in enumerate(path.read_text().splitlines(), 1) if "coverage: 7" in row)
    assert f"s.yaml:{line}" in text and "acme/exp-a" in text
    assert "State not valid" in text and "No document written" in text
    assert "the target was not changed" in text
    assert not target.exists() or tree(target) == {}


def test_a_report_that_cannot_be_written_stops_before_publishing(tmp_path: Path) -> None:
    state, target = dump_state(tmp_path / "s.yaml", base_state()), tmp_path / "public"
    for where, said in ((tmp_path / "missing" / "r.html", "its directory does not exist"),
                        (tmp_path, "not a regular file"),
                        # /proc takes no new file, even from root, whom access() lets by
                        (Path("/proc/version"), "cannot write:")):  # fmt: skip
        for option in ("--report", "--markdown"):
            result = run_cli("publish", state, "-t", target, option, where)
            assert result.exit_code == 2, result.stderr
            assert said in result.stderr
    assert not target.exists()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


def test_a_publish_cut_short_reports_what_was_and_was_not_done(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    client = s3_client(endpoint)
    client.create_bucket(Bucket="report")
    state = dump_state(tmp_path / "s.yaml", base_state())
    proxy = Proxy(endpoint, Faults(deny_put=f"/config/{KEY_A}"))
    report = tmp_path / "r.html"
    try:
        args = (
            "-t",
            "s3://report/site",
            "--endpoint-url",
            proxy.url,
            "--prune",
            "--report",
            report,
        )
        result = run_cli("publish", state, *args)
        requests = proxy.reset()
    finally:
        proxy.close()
    assert result.exit_code == 4
    assert count(requests, "DELETE", "/config/") == 0
    html, text, page = read_page(report)
    assert_self_contained(html, page)
    assert "Failed (exit 4)" in text
    assert "2 of 3 documents written" in text and "Nothing deleted" in text
    assert key_label(KEY_A) in text  # the failed upload, by label
    assert "A re-run finishes the job" in text
    assert "Upload (stopped here)" in text


def test_chromium_renders_the_report(tmp_path: Path) -> None:
    state, target = dump_state(tmp_path / "s.yaml", base_state()), tmp_path / "public"
    report = tmp_path / "r.html"
    assert run_cli("publish", state, "-t", target, "--report", report).exit_code == 0
    screenshot(report, tmp_path)


def test_a_report_never_overwrites_the_state_or_the_target(tmp_path: Path) -> None:
    state, target = dump_state(tmp_path / "s.yaml", base_state()), tmp_path / "public"
    assert run_cli("publish", state, "-t", target).exit_code == 0
    before_state, before_target = state.read_bytes(), tree(target)
    live = target / "config" / KEY_A
    link = tmp_path / "link.html"
    link.symlink_to(state)
    for where in (state, live, target / "_publisher" / "new.html", link):
        for args in (("publish", state, "-t", target, "--report", where),
                     ("report", state, "--target", target, "-o", where)):  # fmt: skip
            result = run_cli(*args)
            assert result.exit_code == 2, (where, result.stderr)
            assert "refusing to overwrite" in result.stderr
    assert state.read_bytes() == before_state and tree(target) == before_target


def test_a_report_is_written_through_a_symlink_and_never_to_a_fifo(tmp_path: Path) -> None:
    state, target = dump_state(tmp_path / "s.yaml", base_state()), tmp_path / "public"
    real, link = tmp_path / "real.html", tmp_path / "link.html"
    real.write_text("old")
    link.symlink_to(real)
    assert run_cli("publish", state, "-t", target, "--report", link).exit_code == 0
    assert link.is_symlink() and "<html" in real.read_text()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = run_cli("report", state, "-o", fifo)
    assert result.exit_code == 2 and "not a regular file" in result.stderr


def test_control_and_bidi_characters_are_shown_as_escapes(tmp_path: Path) -> None:
    state = base_state()
    state["organizations"][0]["name"] = "Acme\u202eevil\u0007"
    state["organizations"][0]["api_keys"][0]["description"] = "x\u202egnp.exe\u001b[31m"
    path, target = dump_state(tmp_path / "s.yaml", state), tmp_path / "public"
    for args in (("report", path, "-o", tmp_path / "status.html"),
                 ("publish", path, "-t", target, "--report", tmp_path / "p.html")):  # fmt: skip
        assert run_cli(*args).exit_code == 0
    for page in (tmp_path / "status.html", tmp_path / "p.html"):
        html = page.read_text()
        assert not any(c in html for c in "\u202e\u0007\u001b\u0000"), page
        assert "\\u202e" in html


def test_a_refused_dry_run_says_exit_3_in_its_json(tmp_path: Path) -> None:
    state, target = base_state(), tmp_path / "public"
    path = dump_state(tmp_path / "s.yaml", state)
    assert run_cli("publish", path, "-t", target).exit_code == 0
    for org in state["organizations"]:
        for key in org["api_keys"]:
            key["revoked"] = True
    dump_state(path, state)
    result = run_cli("publish", path, "-t", target, "--prune", "-n", "--json")
    assert result.exit_code == 3
    assert '"exit_code":3' in result.stdout and '"ok":false' in result.stdout


def test_documents_of_keys_gone_from_the_state_are_counted_as_staying(tmp_path: Path) -> None:
    state, target = base_state(), tmp_path / "public"
    path = dump_state(tmp_path / "s.yaml", state)
    assert run_cli("publish", path, "-t", target).exit_code == 0
    state["organizations"][1]["api_keys"] = []  # KEY_G removed, not revoked
    state["organizations"][0]["api_keys"][1]["revoked"] = True
    result = run_cli("publish", dump_state(path, state), "-t", target)
    assert result.exit_code == 0
    assert "2 documents of revoked or removed keys stay live" in result.stdout

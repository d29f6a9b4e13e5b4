"""`publisher report`: a self-contained status page that names every experiment, never a
raw key, escapes what people typed, and fetches nothing; with a target, drift and
generations. Rendered headless by Chromium where Debian's package is installed."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from publisher.redact import key_label
from tests.conftest import KEY_A, KEY_A_CHECKOUT, KEY_G, base_state, dump_state, run_cli


class Page(HTMLParser):
    """The page's text, and every attribute that could fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.fetching: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "poster") or "url(" in (value or ""):
                self.fetching.append(f"{tag} {name}={value}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def hostile_state() -> dict[str, object]:
    state = base_state()
    state["organizations"][0]["api_keys"][0]["description"] = '<script>alert("x")</script>'
    state["organizations"][0]["name"] = "Acme & <Sons>"
    state["organizations"][0]["experiments"][0]["url"] = '^/a"><img src=https://evil.example/x>'
    return state


def test_the_status_page_names_everything_and_leaks_nothing(tmp_path: Path) -> None:
    path = dump_state(tmp_path / "s.yaml", hostile_state())
    page_file = tmp_path / "status.html"
    result = run_cli("report", path, "-o", page_file)
    assert result.exit_code == 0, result.stderr
    html = page_file.read_text()
    page = Page()
    page.feed(html)
    text = " ".join(page.text)
    for experiment in ("exp-a", "exp-checkout", "exp-g"):
        assert experiment in text
    for key in (KEY_A, KEY_A_CHECKOUT, KEY_G):
        assert key not in html
        assert key_label(key) in text
    assert page.fetching == []
    assert "script" not in page.tags and "img" not in page.tags  # typed text stays text
    assert '<script>alert("x")</script>' in text and "Acme & <Sons>" in text
    assert "&lt;script&gt;" in html
    assert "50%" in text  # a weight drawn and said


def test_with_a_target_the_page_says_drift_and_generations(tmp_path: Path) -> None:
    path = dump_state(tmp_path / "s.yaml", base_state())
    target = tmp_path / "public"
    assert run_cli("publish", path, "--target", target).exit_code == 0
    (target / "config" / KEY_G).write_bytes(b"{}")
    page_file = tmp_path / "status.html"
    assert run_cli("report", path, "--target", target, "-o", page_file).exit_code == 0
    page = Page()
    page.feed(page_file.read_text())
    text = " ".join(page.text)
    assert "1 of 3 documents not in sync" in text
    assert key_label(KEY_G) in text and "different" in text
    assert "Recent generations" in text


def screenshot(page_file: Path, tmp_path: Path) -> None:
    """Render a page with Chromium headless and check it drew a PNG (skip without it)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    shot = tmp_path / f"{page_file.stem}.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", "--window-size=1200,900", page_file.as_uri()],
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_chromium_renders_the_page(tmp_path: Path) -> None:
    path = dump_state(tmp_path / "s.yaml", base_state())
    page_file = tmp_path / "status.html"
    assert run_cli("report", path, "-o", page_file).exit_code == 0
    screenshot(page_file, tmp_path)


def test_an_unwritable_output_is_one_error_line(tmp_path: Path) -> None:
    path = dump_state(tmp_path / "s.yaml", base_state())
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    for args in (
        ("report", path, "-o", blocked / "status.html"),
        ("edge-config", "nginx", "--origin", "http://127.0.0.1:9", "-o", blocked / "n.conf"),
    ):
        result = run_cli(*args)
        assert result.exit_code == 2, result.stderr
        assert result.stderr.startswith("error: ") and "cannot write" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("nginx", "--origin", "http://127.0.0.1:9", "--cache-path", "/"), "--cache-path"),
        (("nginx", "--origin", "http://127.0.0.1:9", "--cache-path", "/tmp/../etc"), ".."),
        (("nginx", "--origin", "http://127.0.0.1:9", "--cache-path", "/cache"), "of its own"),
        (("varnish", "--origin", "http://127.0.0.1:0"), "port 0"),
    ],
)
def test_edge_config_refuses_what_would_do_harm(args: tuple[str, ...], said: str) -> None:
    result = run_cli("edge-config", *args)
    assert result.exit_code == 2 and said in result.stderr and result.stdout == ""


def test_extra_documents_are_not_called_out_of_sync(tmp_path: Path) -> None:
    state, target = base_state(), tmp_path / "public"
    path = dump_state(tmp_path / "s.yaml", state)
    assert run_cli("publish", path, "--target", target).exit_code == 0
    state["organizations"][1]["api_keys"][0]["revoked"] = True
    dump_state(path, state)
    assert run_cli("report", path, "--target", target, "-o", tmp_path / "s.html").exit_code == 0
    page = Page()
    page.feed((tmp_path / "s.html").read_text())
    text = " ".join(" ".join(page.text).split())
    assert "All 2 documents in sync" in text and "1 extra document live" in text

"""Hardening, round three: what a stranger found after rounds one and two, tested the
way a user meets it.

A key followed by "…" is a key; identifiers that differ by a character Unicode renders
as nothing are refused, and error lines show such characters as escapes; a header value
too long for the bookkeeping to record is refused up front.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher import redact
from publisher.pages.publish_markdown import code, escape
from tests.conftest import KEY_A, KEY_G, base_state, dump_state, run_cli

# --- keys never shown --------------------------------------------------------------


def test_a_key_followed_by_an_ellipsis_is_never_shown(tmp_path: Path) -> None:
    """`<key>…` in a description and an organization's name: publish's text, keys list
    (text and --json) and the status page show a label."""
    state = base_state()
    state["organizations"][0]["api_keys"][0]["description"] = f"old {KEY_G}… rotated"
    state["organizations"][0]["name"] = f"Acme ({KEY_A}…)"
    path = dump_state(tmp_path / "state.yaml", state)
    target = tmp_path / "public"
    outputs = [
        run_cli("publish", path, "--target", target),
        run_cli("keys", "list", path),
        run_cli("keys", "list", path, "--json"),
        run_cli("report", path, "--target", target, "-o", tmp_path / "s.html"),
    ]
    assert all(o.exit_code == 0 for o in outputs), [o.stderr for o in outputs]
    texts = [o.stdout + o.stderr for o in outputs] + [(tmp_path / "s.html").read_text()]
    for text in texts:
        assert KEY_G not in text and KEY_A not in text
    assert "old key_glob…0003… rotated" in outputs[1].stdout


KEY_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
keys = st.text(alphabet=KEY_CHARS, min_size=8, max_size=40)
around = st.text(alphabet=KEY_CHARS + "…/ .:é\n\u2028", max_size=12)


@given(key=keys, before=around, after=around)
def test_a_remembered_key_never_survives_scrub(key: str, before: str, after: str) -> None:
    """Whatever stands around a remembered key (key characters glued on, "…", a path),
    the scrubbed text does not hold it."""
    redact.remember_keys([key])
    assert key not in redact.scrub(before + key + after)
    assert key not in redact.scrub(f"{before}/config/{key}{after}")


@given(key=keys, before=around, after=around)
def test_a_remembered_key_never_survives_markdown(key: str, before: str, after: str) -> None:
    """Markdown's escaping puts a backslash before each _: a key in text from the state
    is labelled before that, so neither the Markdown nor the text it renders holds it."""
    redact.remember_keys([key])
    for shown in (escape(before + key + after), code(before + key + after)):
        assert key not in shown and key not in shown.replace("\\", "")


# Capitals and digits: no key can begin inside the lower-case glue, so each key stands at
# one place in its glued text and nothing but its own lengths can find it there.
upper_keys = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=8, max_size=40)


@given(groups=st.lists(st.lists(upper_keys, min_size=1, max_size=4), min_size=1, max_size=5))
def test_keys_remembered_in_turn_are_all_found_glued(groups: list[list[str]]) -> None:
    """Keys remembered one organization at a time (as a state loads): every one of them,
    glued between key characters, is labelled, whichever call learnt its length."""
    for group in groups:
        redact.remember_keys(group)
    for key in (k for group in groups for k in group):
        assert key not in redact.scrub(f"rotated-{key}-x")


def test_a_label_in_a_path_is_not_labelled_again() -> None:
    """`/config/key_acme…0001`, a label already, stays as it is; a key in a path followed
    by "…" is labelled."""
    assert redact.redact_paths("/config/key_acme…0001 ok") == "/config/key_acme…0001 ok"
    assert redact.redact_paths(f"/config/{KEY_A}…") == "/config/key_acme…0001…"


# --- identifiers that look alike --------------------------------------------------

# The combining grapheme joiner, a Hangul filler, the Hangul choseong filler, a variation
# selector, a tag character: Unicode's default-ignorable code points outside its format
# category (which round two refused).
LOOKALIKES = ["\u034f", "\u3164", "\u115f", "\ufe0f", "\U000e0041", "\u180e"]


@pytest.mark.parametrize("char", LOOKALIKES)
def test_identifiers_that_render_alike_are_refused(tmp_path: Path, char: str) -> None:
    """`check<char>out` beside `checkout`: exit 3 naming the character by code point, the
    error line without the raw character, nothing written."""
    state = base_state()
    experiments = state["organizations"][0]["experiments"]
    experiments.append({**experiments[0], "key": f"check{char}out"})
    result = run_cli("publish", dump_state(tmp_path / "s.yaml", state), "--target", tmp_path / "t")
    assert result.exit_code == 3, result.stderr
    assert f"(U+{ord(char):04X})" in result.stderr and "experiments[2].key" in result.stderr
    assert char not in result.stderr
    assert not (tmp_path / "t").exists()


IGNORABLE = st.sampled_from(
    [chr(c) for c in (0xAD, 0x34F, 0x61C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0)]
    + [chr(c) for c in range(0x180B, 0x1810)]
    + [chr(c) for c in range(0x200B, 0x2010)]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2060, 0x2070)]
    + [chr(c) for c in range(0xFE00, 0xFE10)]
    + [chr(c) for c in range(0xE0000, 0xE1000, 37)]
)


@given(char=IGNORABLE, at=st.integers(0, 8), group=st.booleans())
def test_no_ignorable_character_slips_into_an_identifier(char: str, at: int, group: bool) -> None:
    """Any default-ignorable character anywhere in an experiment key or a user group:
    `validate` exits 3, and no error line holds the raw character."""
    state = base_state()
    experiment = state["organizations"][0]["experiments"][0]
    if group:
        phase = experiment["phases"][0]
        name = "beta_testers"
        phase["groups"] = [name[:at] + char + name[at:]]
    else:
        experiment["key"] = experiment["key"][:at] + char + experiment["key"][at:]
    text = json.dumps(state)
    result = run_cli("validate", "-", input=text)
    assert result.exit_code == 3, result.stdout + result.stderr
    assert "invisible or direction-changing character" in result.stderr
    assert char not in result.stdout + result.stderr


# --- header values -----------------------------------------------------------------


def test_a_cache_control_too_long_to_record_is_refused(tmp_path: Path) -> None:
    """--cache-control of 5,000 characters (the bookkeeping records at most 4,096): exit 2
    before anything is written, from the flag, the variable and the project file alike."""
    path = dump_state(tmp_path / "s.yaml", base_state())
    target = tmp_path / "t"
    long = "a" * 5000
    flag = run_cli("publish", path, "--target", target, "--cache-control", long)
    assert flag.exit_code == 2 and "at most 1024 characters, not 5000" in flag.stderr
    env = run_cli("publish", path, "--target", target, env={"PUBLISHER_CACHE_CONTROL": long})
    assert env.exit_code == 2 and "PUBLISHER_CACHE_CONTROL" in env.stderr
    (tmp_path / "publisher.toml").write_text(
        f'[targets.site]\nurl = "{target}"\ncache_control = "{long}"\n'
    )
    toml = run_cli("publish", path, "--target", "site", "--config", tmp_path / "publisher.toml")
    assert toml.exit_code == 2 and "at most 1024 characters" in toml.stderr
    assert not target.exists()
    fine = run_cli("publish", path, "--target", target, "--cache-control", "b" * 1024)
    assert fine.exit_code == 0, fine.stderr

"""Byte-exact golden documents for a realistic multi-organization state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from publisher.documents.render import render_documents
from publisher.documents.validate import validate_documents
from publisher.state import load_state

DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("policy", ["winners-only", "force-control"])
def test_golden_documents(policy: str) -> None:
    """Every key's document equals its golden file byte for byte, for both policies."""
    rendered = render_documents(load_state(DATA / "realistic.yaml"), policy)  # type: ignore[arg-type]
    validate_documents(rendered)
    folder = GOLDEN / policy
    if os.environ.get("UPDATE_GOLDEN"):
        folder.mkdir(parents=True, exist_ok=True)
        for key, doc in rendered.documents.items():
            (folder / f"{key}.json").write_bytes(doc.body)
    expected = {p.stem: p.read_bytes() for p in folder.glob("*.json")}
    assert {k: d.body for k, d in rendered.documents.items()} == expected


def test_golden_same_bytes_from_json_state(tmp_path: Path) -> None:
    """The same state written as JSON renders the same bytes as the YAML one."""
    import json

    import yaml

    data = yaml.safe_load((DATA / "realistic.yaml").read_text())
    (tmp_path / "s.json").write_text(json.dumps(data, indent=4))
    from_yaml = render_documents(load_state(DATA / "realistic.yaml")).documents
    from_json = render_documents(load_state(tmp_path / "s.json")).documents
    assert {k: d.body for k, d in from_json.items()} == {k: d.body for k, d in from_yaml.items()}

"""The package's shape: the rules tests/import_graph.py checks, and that it can fail."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from publisher.redact import KEY_PATTERN
from tests import import_graph

ROOT = Path(__file__).resolve().parent.parent


def test_the_package_keeps_its_shape() -> None:
    """No cycle, imports down the pipeline, boto3 and typer where they belong, short
    functions with few parameters, one module per file name."""
    assert import_graph.problems() == []


def test_long_functions_are_found() -> None:
    """The size check counts a function's lines and parameters, and only a typer
    command's body (its signature is its options)."""
    source = "\n".join(
        [
            "def long(a, b, c, d, e, f, g, h):",
            *["    x = 1"] * 60,
            "@app.command()",
            "def cmd(a, b, c, d, e, f, g, h, i):",
            "    return 1",
        ]
    )
    sizes = import_graph.function_sizes(ast.parse(source))
    assert sizes == [("long", 1, 61, 8), ("cmd", 63, 1, 0)]


def test_cycles_are_found() -> None:
    """The cycle finder reports a two-module cycle and ignores a chain."""
    assert import_graph.cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert import_graph.cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_layers_order_the_pipeline() -> None:
    """A stage ranks above what it imports; bookkeeping, targets and servers are siblings."""
    rank = {name: import_graph.layer(f"publisher.{name}.x")[1] for name in import_graph.LAYERS}
    assert rank["state"] < rank["documents"] < rank["delivery"] < rank["targets"]
    assert rank["targets"] < rank["publishing"] < rank["operations"] < rank["cli"]
    assert rank["bookkeeping"] == rank["targets"] == rank["servers"]
    assert import_graph.layer("publisher.errors")[1] == import_graph.BASE


def test_the_schema_and_the_code_say_the_same_key_pattern() -> None:
    """An API key is what state.schema.json's `key` pattern says: the pattern redaction and
    the targets use (redact.KEY_PATTERN) is that same one."""
    schema = json.loads((ROOT / "schema" / "state.schema.json").read_text())
    found = [p["pattern"] for p in _properties(schema)]  # the API key's: the only one
    assert found == [f"^{KEY_PATTERN}$"]


def _properties(node: object) -> list[dict[str, str]]:
    """Every `key` property schema in the state schema, however deep."""
    found: list[dict[str, str]] = []
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "key" and isinstance(value, dict) and "pattern" in value:
                found.append(value)
            found += _properties(value)
    elif isinstance(node, list):
        for value in node:
            found += _properties(value)
    return found

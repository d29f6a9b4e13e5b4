"""The package's shape: the rules tests/import_graph.py checks, and that it can fail."""

from __future__ import annotations

import ast

from tests import import_graph


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

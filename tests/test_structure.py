"""The package's shape: the rules tests/import_graph.py checks, and that it can fail."""

from __future__ import annotations

from tests import import_graph


def test_the_package_keeps_its_shape() -> None:
    """No cycle, imports down the pipeline, boto3 and typer where they belong, small modules."""
    assert import_graph.problems() == []


def test_cycles_are_found() -> None:
    """The cycle finder reports a two-module cycle and ignores a chain."""
    assert import_graph.cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert import_graph.cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_layers_order_the_pipeline() -> None:
    """A stage ranks above what it imports; sync and servers are siblings."""
    rank = {name: import_graph.layer(f"publisher.{name}.x")[1] for name in import_graph.LAYERS}
    assert rank["state"] < rank["documents"] < rank["delivery"] < rank["sync"] < rank["cli"]
    assert rank["sync"] == rank["servers"]
    assert import_graph.layer("publisher.errors")[1] == import_graph.BASE

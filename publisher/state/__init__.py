"""The experiment state: typed model, loading (YAML with lines, streamed JSON), rules."""

from __future__ import annotations

from .load import load_state, parse_state
from .model import State, StoppedPolicy

__all__ = ["State", "StoppedPolicy", "load_state", "parse_state"]

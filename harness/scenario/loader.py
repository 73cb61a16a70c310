"""Reading scenario files: YAML with line numbers kept, validated against the schema.

A bad file gives one :class:`ScenarioError` whose message is one line naming the file, the line
and the problem, e.g. ``cases/topup.yaml:14: actions[2].top_up.amount_pence: Input should be
greater than 0``. The YAML loader records the line of every mapping key and list item, so a
pydantic error location maps back to the line that holds the bad value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from emulator.errors import ScenarioError
from harness.scenario.model import Scenario

__all__ = ["ScenarioError", "load_scenario", "parse_scenario"]


class _Map(dict[Any, Any]):
    """A mapping that remembers its own line and the line of each key (1-based)."""

    line = 0
    lines: dict[Any, int]


class _Seq(list[Any]):
    line = 0
    lines: list[int]


class _MarkingLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences carry the line numbers of their nodes."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        out = _Map()
        out.line = node.start_mark.line + 1
        out.lines = {}
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    "found an unhashable key", key_node.start_mark) from None
            if key in out:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found a duplicate key {key!r}", key_node.start_mark)
            out[key] = self.construct_object(value_node, deep=True)
            out.lines[key] = key_node.start_mark.line + 1
        return out

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> list[Any]:
        out = _Seq(self.construct_object(child, deep=True)
                   for child in node.value)
        out.line = node.start_mark.line + 1
        out.lines = [child.start_mark.line + 1 for child in node.value]
        return out


def _map_construct(loader: _MarkingLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    return loader.construct_mapping(node)


def _seq_construct(loader: _MarkingLoader, node: yaml.SequenceNode) -> list[Any]:
    return loader.construct_sequence(node)


_MarkingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _map_construct)
_MarkingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _seq_construct)


def _line_of(data: Any, loc: tuple[int | str, ...]) -> tuple[int | None, str]:
    """The line of the deepest node ``loc`` reaches, and ``loc`` as a dotted path of the parts
    that name real keys (union tags that are not keys are skipped)."""
    line: int | None = getattr(data, "line", None) or None
    node = data
    path = ""
    for part in loc:
        if isinstance(node, _Map) and part in node:
            line = node.lines.get(part, line)
            path += f".{part}" if path else str(part)
            node = node[part]
        elif isinstance(node, _Seq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lines[part]
            path += f"[{part}]"
            node = node[part]
        elif isinstance(node, _Map) and part == "for_" and "for" in node:
            line, path, node = node.lines["for"], f"{path}.for" if path else "for", node["for"]
        elif isinstance(node, _Map) and isinstance(part, str) and part.rstrip("_") in node:
            key = part.rstrip("_")
            line, path, node = node.lines[key], f"{path}.{key}" if path else key, node[key]
    return line, path


def parse_scenario(text: str, file: str) -> Scenario:
    """A scenario from YAML ``text``; ``file`` names it in errors."""
    try:
        data = yaml.load(text, Loader=_MarkingLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ScenarioError(file, line, f"YAML error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(file, None, f"YAML error: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(file, 1, f"expected a mapping (id, title, ...), got "
                                     f"{type(data).__name__}")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        line, path = _line_of(data, tuple(first["loc"]))
        reason = str(first["msg"]).removeprefix("Value error, ").replace("\n", " ")
        if first["type"] == "missing":
            reason = "missing (required)"
            key = str(first["loc"][-1]).rstrip("_") if first["loc"] else ""
            path = f"{path}.{key}" if path else key
        elif first["type"] == "extra_forbidden":
            reason = "unknown key"
        raise ScenarioError(file, line, reason, path) from None
    return scenario.model_copy(update={"source": file})


def load_scenario(path: str | Path) -> Scenario:
    """One scenario file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(path), None, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), None, f"cannot read: {exc}") from None
    return parse_scenario(text, str(path))

"""The campaign file: which DMCs and which test cases to run, with what seed.

A campaign file is YAML with ``schema_version: 1``::

    schema_version: 1
    name: smoke
    description: the shipped smoke campaign
    seed: 1                       # default; ``--seed`` overrides it
    dmcs: [default, ioc-credit]   # DMC profile names (profiles/dmcs/)
    all_cases: false              # true: every case of the shipped catalogue ...
    cases: [mig-dormant-ioc]      # ... or catalogue test cases by id ...
    tags: [service]               # ... and every catalogue case carrying one of these tags ...
    files: [extra/my-case.yaml]   # ... and scenario files, relative to the campaign file

A bad file raises one :class:`~emulator.errors.CampaignError` naming the file, the line and the
problem. Built-in campaigns live in ``profiles/campaigns/<name>.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from emulator.errors import CampaignError

Text = Annotated[str, Field(min_length=1)]
Names = tuple[Text, ...]


class CampaignSchema(BaseModel):
    """The campaign file's schema (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1]
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    description: str = ""
    seed: int = 1
    dmcs: Annotated[Names, Field(min_length=1)]
    all_cases: bool = False
    cases: Names = ()
    tags: Names = ()
    files: Names = ()

    @model_validator(mode="after")
    def _some_cases(self) -> CampaignSchema:
        if not (self.all_cases or self.cases or self.tags or self.files):
            raise ValueError("names no test case: give all_cases, cases, tags or files")
        return self


@dataclass(frozen=True)
class Campaign:
    """A campaign file, read and validated; ``lines`` locates its entries for later errors."""

    spec: CampaignSchema
    file: str  # as the user gave it, or profiles/campaigns/<name>.yaml
    folder: Path  # where relative ``files`` resolve
    lines: dict[tuple[str | int, ...], int]  # YAML path -> 1-based line

    def line_of(self, *loc: str | int) -> int:
        """The line of ``loc`` (e.g. ``("dmcs", 2)``), or of its nearest enclosing entry."""
        while loc and loc not in self.lines:
            loc = loc[:-1]
        return self.lines.get(loc, 1)

    def error(self, reason: str, *loc: str | int) -> CampaignError:
        return CampaignError(self.file, self.line_of(*loc), reason)


def _node_lines(node: yaml.Node, path: tuple[str | int, ...],
                out: dict[tuple[str | int, ...], int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                out[(*path, key.value)] = key.start_mark.line + 1
                _node_lines(value, (*path, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _node_lines(item, (*path, index), out)


def parse_campaign(text: str, file: str, folder: Path) -> Campaign:
    """A campaign from YAML text; one CampaignError (file, line, problem) when it is bad."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = f"YAML error: {exc.problem or exc.context}"
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            reason += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise CampaignError(file, mark.line + 1 if mark else 0, reason) from None
    except yaml.YAMLError as exc:
        raise CampaignError(file, 0, f"YAML error: {exc}") from None
    if not isinstance(data, dict) or root is None:
        raise CampaignError(file, 1, "expected a mapping of campaign fields")
    lines: dict[tuple[str | int, ...], int] = {}
    _node_lines(root, (), lines)
    shell = Campaign(CampaignSchema.model_construct(), file, folder, lines)
    version = data.get("schema_version")
    if version != 1:
        raise shell.error(f"schema_version {version!r}: this s1lab reads 1", "schema_version")
    try:
        spec = CampaignSchema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field = ".".join(str(part) for part in loc)
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise shell.error(f"{field}: {reason}" if field else reason, *loc) from None
    return Campaign(spec, file, folder, lines)


def _builtin_folder() -> Any:
    return files("profiles").joinpath("campaigns")


def list_campaigns() -> list[str]:
    """Names of the built-in campaigns."""
    return sorted(entry.name.removesuffix(".yaml") for entry in _builtin_folder().iterdir()
                  if entry.name.endswith(".yaml"))


def load_campaign(name_or_path: str) -> Campaign:
    """A built-in campaign by name, or a campaign file by path."""
    if name_or_path in list_campaigns():
        file = f"profiles/campaigns/{name_or_path}.yaml"
        text = _builtin_folder().joinpath(f"{name_or_path}.yaml").read_text(encoding="utf-8")
        return parse_campaign(text, file, Path(str(_builtin_folder())))
    path = Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        known = ", ".join(list_campaigns())
        raise CampaignError(name_or_path, 0, f"no such file or built-in campaign "
                                             f"(built-in: {known})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(name_or_path, 0, f"cannot read: {exc}") from None
    return parse_campaign(text, name_or_path, path.resolve().parent)

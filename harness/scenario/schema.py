"""The JSON Schema of scenario files, generated from the pydantic models.

``python -m harness.scenario.schema [PATH]`` writes it (default
docs/schemas/scenario.schema.json); a test keeps the published file equal to the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from harness.scenario.model import Scenario

SCHEMA_ID = "https://s1lab.example/schemas/scenario.schema.json"
DEFAULT_PATH = Path("docs/schemas/scenario.schema.json")


def scenario_json_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    schema.get("properties", {}).pop("source", None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            **schema}


def render() -> str:
    return json.dumps(scenario_json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render(), encoding="utf-8")
    tmp.replace(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

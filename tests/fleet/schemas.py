"""The control plane's JSON Schemas (docs/schemas/mqtt/) as validators for the tests."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def validator(name: str) -> jsonschema.Draft202012Validator:
    path = SCHEMAS / "mqtt" / f"{name}.schema.json"
    if not path.exists():
        path = SCHEMAS / f"{name}.schema.json"
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def check(name: str, document: object) -> None:
    validator(name).validate(document)

"""Load the report's JSON Schema and validate report data against it."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

SCHEMA_RESOURCE = ("schema", "report.schema.json")


@functools.cache
def _schema_text() -> str:
    return (
        resources.files("perfprobe")
        .joinpath(*SCHEMA_RESOURCE)
        .read_text(encoding="utf-8")
    )


def load_schema() -> dict[str, Any]:
    """Return a fresh copy of the report's JSON Schema (draft 2020-12)."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


def validate_report(data: Any) -> None:
    """Check report data (``Report.to_dict()`` or loaded JSON) against the schema.

    Raise ``jsonschema.ValidationError`` describing the most relevant
    problem, and ``ImportError`` when the optional ``jsonschema`` package is
    not installed.
    """
    try:
        import jsonschema  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError(
            "validate_report() needs the jsonschema package; install it with "
            "pip install 'django-perfprobe[report]' or pip install jsonschema."
        ) from exc

    schema = load_schema()
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        raise error

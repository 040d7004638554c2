"""Read a saved JSON report back into a ``Report``, checked against the schema.

The recommendations are the ones stored in the file, as the rules of the
perfprobe that wrote it made them; nothing is recomputed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from ..compare.load import ReportLoadError, check_schema_version, read_json_file
from .fmt import printable, shorten
from .model import SCHEMA_VERSION, Recommendation, Report, ScenarioResult
from .schema import validate_report

#: A schema error quotes the value it refused; a whole section is too long
#: for the one line a command prints.
MESSAGE_CHARS = 160

# Memory-record fields the schema lets older reports leave out, whose absence
# means null: the renderers read them as null.
_MEMORY_RECORD_NULLABLE = (
    "rss_start_bytes",
    "heap_start_bytes",
    "rss_delta_bytes",
    "heap_delta_bytes",
    "duration_s",
    "error_type",
)

__all__ = ["ReportLoadError", "read_report", "report_from_dict"]


def read_report(path: str | os.PathLike[str]) -> Report:
    """Return the report saved as JSON at ``path`` (``Report.write_json``).

    Raise ``ReportLoadError`` with a one-line reason when the file cannot be
    read, is not JSON, or is not a report the schema accepts, and
    ``ImportError`` when the ``jsonschema`` package is not installed.
    """
    return report_from_dict(read_json_file(path))


def report_from_dict(data: Any) -> Report:
    """Return the ``Report`` of report data (loaded JSON, ``Report.to_dict()``).

    The data is checked against the report's JSON Schema first; reports
    written before an optional field existed are accepted, the field being
    read as absent. Raise ``ReportLoadError`` and ``ImportError`` as
    ``read_report`` does. ``data`` is not changed.
    """
    check_schema_version(data)
    # The schema describes SCHEMA_VERSION; a later 1.x report has its fields
    # and may add others, which the schema allows and the model leaves out.
    _check_schema({**data, "schema_version": SCHEMA_VERSION})

    fields = {f.name for f in dataclasses.fields(Report)}
    values = {key: value for key, value in data.items() if key in fields}
    values["memory"] = _memory_with_nulls(data["memory"])
    try:
        values["scenarios"] = [_make(ScenarioResult, s) for s in data["scenarios"]]
        values["recommendations"] = [
            _make(Recommendation, r) for r in data["recommendations"]
        ]
        return Report(**values)
    except ValueError as exc:
        raise ReportLoadError(f"is not a perfprobe report: {_one_line(exc)}") from None


def _check_schema(data: Mapping[str, Any]) -> None:
    try:
        validate_report(data)
    except ImportError:
        raise
    except Exception as error:
        # validate_report imported jsonschema to get here.
        import jsonschema  # type: ignore[import-untyped]

        if not isinstance(error, jsonschema.ValidationError):
            raise
        where = "/".join(str(part) for part in error.absolute_path) or "top level"
        raise ReportLoadError(
            f"is not a perfprobe report: at {printable(shorten(where, 60))}: "
            f"{_one_line(error.message)}"
        ) from None


def _one_line(message: object) -> str:
    return printable(shorten(str(message), MESSAGE_CHARS))


def _make(cls: Any, item: Mapping[str, Any]) -> Any:
    # Fields a later 1.0 writer may add are not the model's; leave them out.
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in item.items() if key in names})


def _memory_with_nulls(memory: Mapping[str, Any]) -> dict[str, Any]:
    records = []
    for record in memory["records"]:
        filled = dict(record)
        for key in _MEMORY_RECORD_NULLABLE:
            filled.setdefault(key, None)
        records.append(filled)
    return {**memory, "records": records}

"""Test reading saved reports back into ``Report`` (``perfprobe.report.loader``)."""

from __future__ import annotations

import copy
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from perfprobe.report import Report, load_schema, validate_report
from perfprobe.report.html import render_html
from perfprobe.report.loader import ReportLoadError, read_report, report_from_dict
from perfprobe.report.terminal import TerminalRenderer, make_console

from .report_factories import (
    build,
    checkpoint,
    make_collector,
    memory_block,
    n_plus_one_queries,
    operation,
    orders_report,
    request,
    run_scope,
)

MB = 1024 * 1024


def full_report() -> Report:
    """Return a report with every section: operations, memory, errors, N+1."""
    collector = make_collector()
    for duration_s in (0.2, 1.5):
        collector.record_operation(operation("import", duration_s), None)
    collector.record_operation(operation("import", 0.1, error_type="ValueError"), None)
    collector.record_memory(checkpoint("start", 20 * MB))
    collector.record_memory(memory_block("build_index", 150 * MB))
    run_scope(collector, "GET /orders/", n_plus_one_queries(6))
    collector.record_request(request("/orders/", 500, 0.3, error_type="E"), None)
    return build(collector)


def rendered(report: Report) -> str:
    """Return the plain terminal report of ``report`` at 120 columns."""
    out = StringIO()
    TerminalRenderer(make_console(out, width=120)).render(report)
    return out.getvalue()


def test_a_written_report_reads_back_as_the_same_report(tmp_path: Path) -> None:
    """write_json then read_report: the same data, recommendations, figures."""
    original = orders_report()
    path = original.write_json(tmp_path / "report.json")

    loaded = read_report(path)

    assert loaded.to_dict() == original.to_dict()
    assert loaded.recommendations == original.recommendations
    assert [r.rule_id for r in loaded.recommendations] == ["n-plus-one"]
    assert loaded.summary["queries"] == 21
    assert loaded.summary["requests"] == 3
    assert rendered(loaded) == rendered(original)


def test_the_stored_recommendations_are_kept_not_recomputed() -> None:
    """A file's own recommendation list is shown, even where the rules differ.

    The figures hold an N+1 of 18 queries the rules flag; a file whose list
    says something else (or nothing) is shown as it says.
    """
    data = orders_report().to_dict()
    stored = copy.deepcopy(data["recommendations"][0])
    stored.update(rule_id="house-rule", title="Stored title", suggestion="Keep it.")
    data["recommendations"] = [stored]

    loaded = report_from_dict(data)
    emptied = report_from_dict({**data, "recommendations": []})

    assert [(r.rule_id, r.title) for r in loaded.recommendations] == [
        ("house-rule", "Stored title")
    ]
    assert emptied.recommendations == []
    assert "1. [WARNING] Stored title (house-rule)" in rendered(loaded)


def _optional_paths(schema: dict[str, Any]) -> dict[str, list[str]]:
    """Return, per ``$defs`` name ("" for the top), its optional properties."""
    optional: dict[str, list[str]] = {}
    for name, node in [("", schema), *schema["$defs"].items()]:
        props = node.get("properties", {})
        optional[name] = [key for key in props if key not in node.get("required", [])]
    return optional


def _strip_optional(data: dict[str, Any]) -> dict[str, Any]:
    """Return ``data`` without the optional fields an older writer left out."""
    optional = _optional_paths(load_schema())
    old = copy.deepcopy(data)
    for key in optional[""]:
        old.pop(key, None)
    for key in ("seed", "sampling", "sampling_note"):
        old["settings"].pop(key)
    for rec in old["recommendations"]:
        for key in optional["recommendation"]:
            rec.pop(key, None)
    for record in old["memory"]["records"]:
        for key in optional["memoryRecord"]:
            record.pop(key, None)
    for event in old["queries"]["slowest"]:
        for key in optional["queryEvent"]:
            event.pop(key, None)
    for event in old["errors"]["recent"]:
        for key in optional["errorEvent"]:
            event.pop(key, None)
    return old


def test_an_older_report_the_schema_accepts_reads_and_renders() -> None:
    """Without any optional field, a report still loads, prints and makes a page.

    The memory table shows the block's 150.0 MB peak, and the page is drawn
    with its charts where matplotlib is installed.
    """
    data = full_report().to_dict()
    old = _strip_optional(data)
    assert "heap_delta_bytes" not in old["memory"]["records"][0]
    assert "saving_s" not in old["recommendations"][0]
    validate_report(old)

    loaded = report_from_dict(old)
    text = rendered(loaded)
    page = render_html(loaded)

    assert "build_index" in text and "150.0 MB" in text
    assert "build_index" in page
    assert loaded.recommendations[0].saving_s == 0.0
    assert [r.title for r in loaded.recommendations] == [
        r["title"] for r in data["recommendations"]
    ]


def test_the_data_given_is_not_changed() -> None:
    """Filling an older report's absent fields works on a copy."""
    old = _strip_optional(full_report().to_dict())
    before = copy.deepcopy(old)

    report_from_dict(old)

    assert old == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "package.json"}, "is not a perfprobe report: no schema_version"),
        ([1, 2], "is not a perfprobe report: no schema_version"),
        ({"schema_version": "2.0"}, "has schema_version '2.0'; this perfprobe reads"),
    ],
)
def test_other_json_is_refused(data: Any, message: str) -> None:
    """JSON that is no report, or a report of another schema, is refused."""
    with pytest.raises(ReportLoadError) as caught:
        report_from_dict(data)
    assert str(caught.value).startswith(message)


def test_a_schema_error_is_one_short_line_naming_where() -> None:
    """A broken section is named by its path; the quoted value is cut short."""
    data = orders_report().to_dict()
    data["queries"]["by_fingerprint"][0]["count"] = "x" * 5000
    missing = {key: value for key, value in data.items() if key != "summary"}

    with pytest.raises(ReportLoadError) as wrong:
        report_from_dict(data)
    with pytest.raises(ReportLoadError) as absent:
        report_from_dict(missing)

    assert str(wrong.value).startswith(
        "is not a perfprobe report: at queries/by_fingerprint/0/count: 'xxx"
    )
    assert len(str(wrong.value)) < 250 and "\n" not in str(wrong.value)
    assert str(absent.value) == (
        "is not a perfprobe report: at top level: 'summary' is a required property"
    )


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    """Text, NaN and a missing file each get their one-line reason."""
    (tmp_path / "page.html").write_text("<html>")
    (tmp_path / "nan.json").write_text(json.dumps({"schema_version": float("nan")}))

    reasons = []
    for name in ("page.html", "nan.json", "missing.json"):
        with pytest.raises(ReportLoadError) as caught:
            read_report(tmp_path / name)
        reasons.append(str(caught.value))

    assert reasons[0].startswith("is not JSON: ")
    assert reasons[1] == "is not JSON: NaN is not a JSON value"
    assert reasons[2] == "cannot be read: No such file or directory"

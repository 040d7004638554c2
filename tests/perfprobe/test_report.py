"""Test building, validating and writing reports (``perfprobe.report``)."""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from perfprobe import PerformanceMonitor
from perfprobe.collector import Collector
from perfprobe.report import (
    Report,
    ReportBuilder,
    ScenarioResult,
    jsonio,
    load_schema,
    validate_report,
)
from perfprobe.report.tables import TERMINAL_LIMITS, build_tables

from .report_factories import (
    build,
    make_collector,
    memory_block,
    n_plus_one_queries,
    operation,
    query,
    request,
    run_scope,
)

TOP_LEVEL_KEYS = {
    "schema_version",
    "generated_at",
    "title",
    "environment",
    "settings",
    "summary",
    "scenarios",
    "operations",
    "queries",
    "n_plus_one",
    "duplicates",
    "endpoints",
    "memory",
    "errors",
    "scopes",
    "recommendations",
    "dropped_metrics",
}


def _scenario(**overrides: Any) -> ScenarioResult:
    fields: dict[str, Any] = {
        "name": "database_operations",
        "description": "Queries with injected latency",
        "status": "ok",
        "duration_s": 1.5,
        "started_at": 1_700_000_000.0,
        "scope": "database_operations",
        "query_count": 4,
        "query_time_s": 0.63,
        "nominal_latencies_s": {"slow_query": 0.6},
        "details": {"orders": 3},
    }
    fields.update(overrides)
    return ScenarioResult(**fields)


def _busy_collector() -> Collector:
    collector = make_collector()
    for duration_s in (0.1, 0.2, 0.3, 0.4):
        collector.record_operation(operation("checkout", duration_s), None)
    for _ in range(3):
        collector.record_query(query("SELECT 1", 0.01), None)
    collector.record_query(query("SELECT slow", 0.6, call_site="apps/x.py:7"), None)
    for status in (200, 200, 200, 500):
        collector.record_request(request("/orders/", status, 0.05), None)
    collector.record_memory(memory_block("load", 2048, heap_delta_bytes=1024))
    return collector


def test_report_numbers_match_the_events_recorded() -> None:
    """Report the exact counts, totals and percentiles of hand-made events."""
    report = build(_busy_collector(), scenarios=[_scenario()])
    data = report.to_dict()

    assert set(data) >= TOP_LEVEL_KEYS
    assert data["schema_version"] == "1.0"
    (checkout,) = data["operations"]
    # Four samples 0.1..0.4: p50 at rank 1.5 -> 0.25, p95 at rank 2.85 -> 0.385.
    assert checkout["stats"]["count"] == 4
    assert checkout["stats"]["total"] == pytest.approx(1.0)
    assert checkout["stats"]["p50"] == pytest.approx(0.25)
    assert checkout["stats"]["p95"] == pytest.approx(0.385)
    assert data["queries"]["total"]["count"] == 4
    assert data["queries"]["total"]["total"] == pytest.approx(0.63)
    assert data["queries"]["slow_query_count"] == 1
    assert data["queries"]["by_fingerprint"][0]["fingerprint"] == "SELECT slow"
    assert data["queries"]["slowest"][0]["call_site"] == "apps/x.py:7"
    (endpoint,) = data["endpoints"]
    assert endpoint["statuses"] == {"200": 3, "500": 1}
    assert endpoint["errors"] == {"HTTP 500": 1}
    assert data["memory"]["max_peak_above_start_bytes"] == 2048
    assert "tracemalloc" in data["memory"]["note"]
    assert data["errors"]["counts"] == [
        {
            "source": "request",
            "name": "GET /orders/",
            "error_type": "HTTP 500",
            "count": 1,
        }
    ]
    summary = data["summary"]
    assert (summary["operations"], summary["queries"], summary["requests"]) == (
        4,
        4,
        4,
    )
    assert summary["query_time_s"] == pytest.approx(0.63)
    assert summary["errors"] == 1
    assert summary["scenarios"] == 1
    assert summary["recommendations"]["critical"] == 1
    assert data["scenarios"][0]["details"] == {"orders": 3}


def test_report_validates_against_the_shipped_schema() -> None:
    """Produce data, and JSON text, that the draft 2020-12 schema accepts."""
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["required"]) == TOP_LEVEL_KEYS
    report = build(_busy_collector(), scenarios=[_scenario()])

    validate_report(report.to_dict())
    validate_report(json.loads(report.to_json()))
    validate_report(build(make_collector()).to_dict())


def test_schema_rejects_a_report_missing_a_section() -> None:
    """Raise ``ValidationError`` when a required top-level key is absent."""
    data = build(make_collector()).to_dict()
    del data["queries"]
    with pytest.raises(jsonschema.ValidationError, match="queries"):
        validate_report(data)


def test_settings_section_states_the_time_scale() -> None:
    """Multiply time thresholds (only) by the time scale and say so."""
    collector = make_collector()
    collector.time_scale = 0.05
    note = "latencies were injected at nominal values x 0.05"
    settings = build(collector, latency_note=note).to_dict()["settings"]

    assert settings["thresholds"]["slow_operation_s"] == 1.0
    assert settings["effective_thresholds"]["slow_operation_s"] == pytest.approx(0.05)
    assert settings["effective_thresholds"]["slow_query_s"] == pytest.approx(0.025)
    assert settings["effective_thresholds"]["high_memory_bytes"] == 100 * 1024**2
    assert "multiplied by the time scale (0.05)" in settings["threshold_note"]
    assert settings["latency_note"] == note
    assert "inclusive" in settings["percentile_note"]
    assert "DDSketch" in settings["percentile_note"]


def test_settings_state_the_seed_only_when_given() -> None:
    """A seeded run (the demo's --seed) keeps its seed; other reports say null."""
    collector = make_collector()
    unseeded, seeded = build(collector), build(collector, seed=7)

    assert unseeded.to_dict()["settings"]["seed"] is None
    assert seeded.to_dict()["settings"]["seed"] == 7
    validate_report(unseeded.to_dict())
    validate_report(seeded.to_dict())
    # The header people read names it too, and only when there is one.
    assert "seed 7" in build_tables(seeded, TERMINAL_LIMITS).header.environment
    assert not [
        part
        for part in build_tables(unseeded, TERMINAL_LIMITS).header.environment
        if part.startswith("seed")
    ]


def test_environment_names_the_database_vendor() -> None:
    """Take the vendor from the queries unless one is given, else report null."""
    collector = make_collector()
    assert build(collector).environment["database_vendor"] is None
    collector.record_query(query("SELECT 1", 0.001, vendor="postgresql"), None)
    assert build(collector).environment["database_vendor"] == "postgresql"
    named = build(collector, database_vendor="mysql")
    assert named.environment["database_vendor"] == "mysql"
    assert named.environment["pid"] == os.getpid()


def test_one_n_plus_one_in_many_requests_is_one_aggregated_finding() -> None:
    """Merge the same N+1 from 300 request scopes into one finding and one rule hit."""
    collector = make_collector(MAX_SCOPE_HISTORY=1000)
    for _ in range(300):
        run_scope(collector, "GET /orders/", n_plus_one_queries(6))
    report = build(collector)

    assert len(report.n_plus_one["findings"]) == 300
    (finding,) = report.n_plus_one["aggregated"]
    assert finding["scope_count"] == 300
    assert finding["count"] == 1800
    assert finding["max_count_per_scope"] == 6
    assert finding["scopes"] == ["GET /orders/"]
    assert len(report.recommendations_by_rule("n-plus-one")) == 1


def test_merged_findings_outlive_the_scope_history() -> None:
    """Scopes dropped from the history still count in the merged finding."""
    collector = make_collector(MAX_SCOPE_HISTORY=5)
    for _ in range(40):
        run_scope(collector, "GET /orders/", n_plus_one_queries(6))
    report = build(collector)

    assert len(report.n_plus_one["findings"]) == 5
    (finding,) = report.n_plus_one["aggregated"]
    assert (finding["scope_count"], finding["count"]) == (40, 240)
    assert report.n_plus_one["scopes_analysed"] == 40


def test_duplicates_are_aggregated_across_scopes() -> None:
    """Merge the same duplicate query from several scopes into one finding."""
    collector = make_collector()
    for name in ("a", "b", "c"):
        run_scope(collector, name, [query("SELECT 1", 0.001) for _ in range(3)])
    (finding,) = build(collector).duplicates["aggregated"]
    assert (finding["count"], finding["scope_count"]) == (9, 3)
    assert finding["scopes"] == ["a", "b", "c"]


def test_generate_report_goes_through_the_builder() -> None:
    """Return a ``Report`` from ``PerformanceMonitor.generate_report``."""
    monitor = PerformanceMonitor(collector=make_collector())
    with monitor.measure_execution_time("step"):
        pass
    report = monitor.generate_report(title="custom")
    assert isinstance(report, Report)
    assert report.title == "custom"
    assert report.operations[0]["name"] == "step"


def test_scenario_result_rejects_non_finite_times_and_bad_status() -> None:
    """Raise ``ValueError`` for NaN or infinite times and an unknown status."""
    with pytest.raises(ValueError, match="finite"):
        _scenario(duration_s=math.nan)
    with pytest.raises(ValueError, match="finite"):
        _scenario(nominal_latencies_s={"x": math.inf})
    with pytest.raises(ValueError, match="status"):
        _scenario(status="skipped")


def test_non_finite_details_become_null_and_json_stays_strict() -> None:
    """Serialise NaN and infinity in free-form details as null, never as NaN."""
    report = build(make_collector(), scenarios=[_scenario(details={"ratio": math.nan})])
    text = report.to_json()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["scenarios"][0]["details"] == {"ratio": None}
    assert jsonio.finite_json({"a": (1.0, -math.inf)}) == {"a": [1.0, None]}
    with pytest.raises(ValueError, match="not JSON"):
        jsonio.dumps_strict({"when": object()})
    with pytest.raises(ValueError, match="details must be JSON data"):
        _scenario(details={"when": object()})


def test_scenario_result_from_scope_copies_the_scope_figures() -> None:
    """Take duration, query count and path from a scope summary."""
    collector = make_collector()
    summary = run_scope(collector, "api_requests", [query("SELECT 1", 0.004)])
    result = ScenarioResult.from_scope(summary, error=RuntimeError("boom"))
    assert result.status == "failed"
    assert result.error == {"type": "RuntimeError", "message": "boom"}
    assert (result.query_count, result.scope) == (1, "api_requests")
    assert result.query_time_s == pytest.approx(0.004)


# -- writing ------------------------------------------------------------------


def test_write_json_writes_valid_json(tmp_path: Path) -> None:
    """Write the report's JSON, readable by others, leaving no temporary file."""
    report = build(_busy_collector())
    target = tmp_path / "report.json"
    assert report.write_json(target) == target

    validate_report(json.loads(target.read_text(encoding="utf-8")))
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_an_empty_path_is_named_as_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``write_json("")`` said the working directory "is not a regular file"."""
    monkeypatch.chdir(tmp_path)
    report = build(make_collector())
    for write in (report.write_json, report.write_html):
        with pytest.raises(OSError) as raised:
            write("")
        assert str(raised.value) == (
            "[Errno 2] cannot write the report to '': the path is empty"
        )
    assert list(tmp_path.iterdir()) == []


def test_failed_serialisation_leaves_the_old_file(tmp_path: Path) -> None:
    """Keep an existing report untouched when the new one is not JSON data."""
    target = tmp_path / "report.json"
    target.write_text('{"old": true}', encoding="utf-8")
    report = build(make_collector())
    report.environment["extra"] = object()

    with pytest.raises(ValueError, match="cannot be written as JSON"):
        report.write_json(target)
    assert target.read_text(encoding="utf-8") == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_failure_mid_write_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Remove the half-written temporary file and keep the target on a disk error."""
    target = tmp_path / "report.json"
    target.write_text('{"old": true}', encoding="utf-8")

    def disk_full(fd: int) -> None:
        # The text is already in the temporary file; flushing it to disk fails.
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match=r"cannot write the report to .*report\.json"):
        build(make_collector()).write_json(target)
    assert target.read_text(encoding="utf-8") == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


# Run in a child process, whose file size limit makes the disk "full" at
# 4 KiB for real: the kernel refuses the write (EFBIG), no monkeypatching.
_WRITE_WITH_SIZE_LIMIT = """
import resource, sys
from perfprobe.report.jsonio import write_text_atomic
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    write_text_atomic(sys.argv[1], "x" * 100_000)
except OSError as exc:
    print(exc)
    sys.exit(3)
"""


def test_a_disk_that_fills_up_mid_write_leaves_no_partial_file(tmp_path: Path) -> None:
    """A write the kernel stops after 4 KiB keeps the old file and leaves no temp."""
    target = tmp_path / "report.json"
    target.write_text('{"old": true}', encoding="utf-8")

    result = subprocess.run(
        [sys.executable, "-c", _WRITE_WITH_SIZE_LIMIT, str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 3, result.stderr
    (line,) = result.stdout.strip().splitlines()
    assert line.startswith(f"[Errno {errno.EFBIG}] cannot write the report to ")
    assert target.read_text(encoding="utf-8") == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_missing_folder_gives_a_clear_error(tmp_path: Path) -> None:
    """Raise ``FileNotFoundError`` naming the target when its folder is missing."""
    target = tmp_path / "missing" / "report.json"
    with pytest.raises(FileNotFoundError, match=r"missing/report\.json"):
        build(make_collector()).write_json(target)


def test_parent_that_is_a_file_gives_a_clear_error(tmp_path: Path) -> None:
    """Raise ``OSError`` naming the target when its parent is not a folder."""
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(OSError, match="cannot write the report to"):
        build(make_collector()).write_json(blocker / "report.json")
    assert blocker.read_text(encoding="utf-8") == "x"


def test_rewriting_keeps_the_existing_file_mode(tmp_path: Path) -> None:
    """Keep the permissions of a report that is being replaced."""
    target = tmp_path / "report.json"
    target.write_text("{}", encoding="utf-8")
    target.chmod(0o600)
    build(make_collector()).write_json(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text(encoding="utf-8"))["schema_version"] == "1.0"


def test_builder_defaults_to_the_django_settings() -> None:
    """Read the thresholds from ``PERFPROBE`` when no settings are given."""
    report = ReportBuilder(make_collector().snapshot()).build()
    assert report.settings["thresholds"]["slow_operation_s"] == 1.0


def test_operation_tags_reach_the_report_bounded() -> None:
    """Tag values seen with an operation are listed, at most 20 per key."""
    collector = make_collector()
    for worker in range(30):
        event = operation("job", 0.01)
        event.tags = {"worker": f"w{worker:02d}", "shop": "eu"}
        collector.record_operation(event, None)
    data = build(collector).to_dict()
    (job,) = data["operations"]
    assert job["tags"]["shop"] == ["eu"]
    assert job["tags"]["worker"] == [f"w{i:02d}" for i in range(20)]
    validate_report(data)


def test_threshold_note_mentions_scaling_only_when_scaled() -> None:
    """A report at time scale 1 does not claim its thresholds were multiplied."""
    collector = make_collector()
    assert "multiplied" not in build(collector).to_dict()["settings"]["threshold_note"]
    collector.time_scale = 0.5
    assert "(0.5)" in build(collector).to_dict()["settings"]["threshold_note"]


def test_a_fifo_target_is_refused_and_left_alone(tmp_path: Path) -> None:
    """Writing over a FIFO raises OSError and the FIFO is still a FIFO."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        build(make_collector()).write_json(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_symlink_target_is_written_through(tmp_path: Path) -> None:
    """A report written to a symlink replaces the file it points to, not the link."""
    real = tmp_path / "real.json"
    real.write_text("{}", encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    build(make_collector()).write_json(link)
    assert link.is_symlink()
    assert json.loads(real.read_text(encoding="utf-8"))["schema_version"] == "1.0"


def test_a_file_name_at_the_length_limit_can_be_written(tmp_path: Path) -> None:
    """A 250-character name works: the temporary name does not grow with it."""
    target = tmp_path / ("r" * 245 + ".json")
    build(make_collector()).write_json(target)
    assert target.exists()


def test_a_surrogate_in_a_label_is_written_escaped(tmp_path: Path) -> None:
    """A lone surrogate (as os.listdir can return) does not stop the HTML write."""
    collector = make_collector()
    collector.record_operation(operation("load \udcff file", 0.01), None)
    target = tmp_path / "report.html"
    build(collector).write_html(target)
    assert "\\udcff" in target.read_text(encoding="utf-8")


def test_queries_outside_scopes_are_in_the_summary_and_queries_section() -> None:
    """2 unscoped queries beside 3 scoped ones: 5 in all, 2 outside, schema-valid."""
    collector = make_collector()
    for _ in range(2):
        collector.record_query(query("SELECT 1", 0.01), None)
    run_scope(collector, "GET /orders/", [query("SELECT 2", 0.01) for _ in range(3)])

    data = build(collector).to_dict()

    assert data["summary"]["queries"] == 5
    assert data["summary"]["queries_outside_scopes"] == 2
    assert data["queries"]["outside_scopes_count"] == 2
    validate_report(data)
    del data["summary"]["queries_outside_scopes"]
    with pytest.raises(jsonschema.ValidationError, match="queries_outside_scopes"):
        validate_report(data)

"""Tests for the pure parts of the benchmarks: formatting and arithmetic, no timing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.alternatives import net_ratios
from bench.callgrind import _lazy_row, parse_collected
from bench.collector_million import STAGGER, _event, _stagger, is_flat
from bench.demo_latency import demo_environment, injected_latency_s
from bench.harness import Row, Timings
from bench.results import (
    RunInfo,
    Section,
    markdown_table,
    parse_cpu_model,
    render_results,
    verdict_counts,
    write_results,
)
from perfprobe.collector import Collector

PASSING = Row("timer", "bare 1 µs", "2 µs", "2.0x", "+1 µs", "< 50x", True)
MISSING = Row("demo", "injected 11 s", "15 s", "", "+4 s", "≤ +1.5 s", False)
INFO = Row("pair", "", "70 ns", "", "a|b", "", None)


def test_markdown_table_has_header_separator_and_verdicts() -> None:
    """Each row becomes one markdown line ending in its PASS, MISS or info verdict."""
    assert markdown_table([PASSING, MISSING]) == (
        "| benchmark | baseline | measured | ratio | detail | target | verdict |\n"
        "|---|---|---|---|---|---|---|\n"
        "| timer | bare 1 µs | 2 µs | 2.0x | +1 µs | < 50x | PASS |\n"
        "| demo | injected 11 s | 15 s |  | +4 s | ≤ +1.5 s | MISS |"
    )


def test_markdown_table_escapes_pipes() -> None:
    """A pipe inside a cell is escaped so that it does not split the cell."""
    assert markdown_table([INFO]).splitlines()[2] == (
        "| pair |  | 70 ns |  | a\\|b |  | info |"
    )


def test_verdict_counts() -> None:
    """Rows are counted as passed, missed and info-only."""
    assert verdict_counts([PASSING, MISSING, INFO, PASSING]) == (2, 1, 1)


def _info() -> RunInfo:
    return RunInfo(
        date="2025-01-02 03:04 UTC",
        mode="quick",
        command="python bench/run_all.py --quick",
        elapsed_s=61.4,
        versions={"Python": "3.11.7", "Django": "5.2.1"},
        machine={"CPU": "Test CPU", "cores": "2"},
        extra_markdown=("## Requests\n\nfrom the other benchmark\n",),
    )


def test_render_results_states_run_targets_and_sections_in_order() -> None:
    """The file names date, command, versions, machine, verdicts, then each table."""
    text = render_results(
        _info(),
        [Section("Timers", (PASSING, INFO), "A note."), Section("Demo", (MISSING,))],
    )
    lines = text.splitlines()
    assert lines[0] == "# Benchmark results"
    assert "- Date: 2025-01-02 03:04 UTC" in lines
    assert "- Command: `python bench/run_all.py --quick` (quick, 61 s)" in lines
    assert "- Versions: Python 3.11.7, Django 5.2.1" in lines
    assert "- Machine: CPU Test CPU, cores 2" in lines
    assert "- Targets: 1 PASS, 1 MISS (1 info rows)" in lines
    assert "Missed: demo." in lines
    timers, note, demo = (
        lines.index("## Timers"),
        lines.index("A note."),
        lines.index("## Demo"),
    )
    requests = lines.index("## Requests")
    assert timers < note < demo < requests
    assert text.endswith("from the other benchmark\n")


def test_render_results_without_misses_has_no_missed_line() -> None:
    """A run where every target passed does not print a 'Missed' line."""
    text = render_results(_info(), [Section("Timers", (PASSING,))])
    assert "Missed" not in text
    assert "- Targets: 1 PASS, 0 MISS (0 info rows)" in text.splitlines()


def test_write_results_replaces_the_file(tmp_path: Path) -> None:
    """The file is replaced whole and no temporary file is left behind."""
    target = tmp_path / "RESULTS.md"
    target.write_text("old\n", encoding="utf-8")
    write_results(target, "new\n")
    assert target.read_text(encoding="utf-8") == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["RESULTS.md"]


def test_parse_cpu_model() -> None:
    """The first non-empty 'model name' of /proc/cpuinfo is the CPU model."""
    cpuinfo = "processor\t: 0\nvendor_id\t: X\nmodel name\t: Example CPU 3.0GHz\n"
    assert parse_cpu_model(cpuinfo + cpuinfo) == "Example CPU 3.0GHz"
    assert parse_cpu_model("processor\t: 0\n") == "unknown"


def _report(scale: float, planned: list[float], timeout_s: float) -> dict[str, Any]:
    # Shaped like the demo's JSON report: nominal values at scale 1.0,
    # worker plans and the timeout already scaled.
    return {
        "scenarios": [
            {
                "name": "database_operations",
                "nominal_latencies_s": {
                    "fast_indexed_query": 0.1,
                    "slow_query": 1.5,
                    "n_plus_one_query": 0.05,
                },
                "details": {"customers_loaded_lazily": 10},
            },
            {
                "name": "api_requests",
                "nominal_latencies_s": {
                    "GET /api/products/": 0.2,
                    "POST /api/orders/": 0.8,
                    "GET /api/users/profile/": 0.1,
                    "PUT /api/inventory/update/": 1.2,
                    "GET /api/analytics/dashboard/": 2.0,
                },
                "details": {},
            },
            {
                "name": "concurrent_operations",
                "nominal_latencies_s": {"worker_min": 0.5, "worker_max": 1.5},
                "details": {"workers": [{"planned_s": s} for s in planned]},
            },
            {"name": "memory_intensive", "nominal_latencies_s": {}, "details": {}},
            {
                "name": "error_scenarios",
                "nominal_latencies_s": {"query_timeout": 3.0, "http_500": 0.5},
                "details": {"query_timeout": {"timeout_s": timeout_s}},
            },
        ]
    }


def test_injected_latency_at_scale_one() -> None:
    """The sum is 2.1 (db) + 4.3 (api) + 1.2 (longest worker) + 0 + 3.5 (errors)."""
    latency = injected_latency_s(_report(1.0, [0.7, 1.2, 0.5], 3.0), 1.0)
    assert latency == pytest.approx(
        {
            "database_operations": 2.1,
            "api_requests": 4.3,
            "concurrent_operations": 1.2,
            "memory_intensive": 0.0,
            "error_scenarios": 3.5,
        }
    )
    assert sum(latency.values()) == pytest.approx(11.1)


def test_injected_latency_scales_nominal_values_only() -> None:
    """At scale 0.5 nominal values halve; already-scaled plans are taken as given."""
    latency = injected_latency_s(_report(0.5, [0.35, 0.6], 1.5), 0.5)
    assert latency["database_operations"] == pytest.approx(1.05)
    assert latency["api_requests"] == pytest.approx(2.15)
    assert latency["concurrent_operations"] == pytest.approx(0.6)
    assert latency["error_scenarios"] == pytest.approx(1.75)


def test_injected_latency_rejects_unknown_scenario() -> None:
    """A scenario without a latency rule is an error, not silently zero."""
    report = {"scenarios": [{"name": "mine", "nominal_latencies_s": {}, "details": {}}]}
    with pytest.raises(KeyError, match="mine"):
        injected_latency_s(report, 1.0)


def test_demo_environment_strips_database_and_perfprobe_variables() -> None:
    """DATABASE_URL and PERFPROBE_* go; the temporary database is named."""
    env = demo_environment(
        {
            "PATH": "/bin",
            "DATABASE_URL": "postgres://x",
            "PERFPROBE_PROMETHEUS": "1",
            "PERFPROBE_DEMO_DB": "/real.sqlite3",
        },
        Path("/tmp/t.sqlite3"),
    )
    assert env == {"PATH": "/bin", "PERFPROBE_DEMO_DB": "/tmp/t.sqlite3"}


def test_demo_environment_caches_bytecode_in_the_directory_given() -> None:
    """PYTHONDONTWRITEBYTECODE goes and compiled modules go to the directory."""
    env = demo_environment(
        {"PATH": "/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        Path("/tmp/t.sqlite3"),
        Path("/tmp/bytecode"),
    )
    assert env == {
        "PATH": "/bin",
        "PERFPROBE_DEMO_DB": "/tmp/t.sqlite3",
        "PYTHONPYCACHEPREFIX": "/tmp/bytecode",
    }


def test_parse_collected() -> None:
    """The instruction total is read from callgrind's 'Collected' summary line."""
    stderr = "==1== Callgrind\n==1== Collected : 1574508493\n==1== I refs: 1,574\n"
    assert parse_collected(stderr) == 1_574_508_493
    with pytest.raises(ValueError):
        parse_collected("==1== nothing\n")


def test_lazy_row_counts_per_query_over_the_request_difference() -> None:
    """Per query: each mode's growth from 10 to 30 requests, over 20 x 51."""
    # Plain grows 1,020,000 a request (20,000 a query); the wrapper 1,000 and
    # perfprobe 51,000 a request more, that is 20 and 1,000 a query.
    counts = {
        "lazy-plain:10": 5_000_000,
        "lazy-plain:30": 5_000_000 + 20 * 1_020_000,
        "lazy-wrapper:10": 6_000_000,
        "lazy-wrapper:30": 6_000_000 + 20 * 1_021_000,
        "lazy-perfprobe:10": 7_000_000,
        "lazy-perfprobe:30": 7_000_000 + 20 * 1_071_000,
    }
    row = _lazy_row(counts, 10, 30)
    assert row.baseline == "plain 20,000 instr/query"
    assert row.measured == "perfprobe +1,000 instr/query"
    assert row.ratio == "1.050x"
    assert row.detail.startswith("an empty execute wrapper alone +20 instr/query")


def test_is_flat() -> None:
    """Growth is what came after warm-up over what warm-up left held."""
    # Warm-up took 0 -> 10; then 10 -> 11 over the steps: 1 / 10.
    fraction, flat = is_flat([0, 10, 10, 10, 11, 11])
    assert fraction == pytest.approx(0.1)
    assert flat
    fraction, flat = is_flat([0, 10, 15, 20])
    assert fraction == pytest.approx(1.0)
    assert not flat


def test_stagger_spreads_names_over_one_buffer_cycle() -> None:
    """Name i of four gets i quarters of a cycle more, 0 to 3/4 of STAGGER."""
    collector = Collector()
    events = [_event(f"stagger.{i}") for i in range(4)]
    recorded = _stagger(collector, events, [0.001, 0.5, 2.0])
    expected = [0, STAGGER // 4, STAGGER // 2, 3 * STAGGER // 4]
    assert recorded == sum(expected)
    held = collector.snapshot().operations
    counts = [held[e.name][0].count if e.name in held else 0 for e in events]
    assert counts == expected


def test_net_ratios() -> None:
    """Net costs subtract the empty block per round; rounds pair up in order."""
    empty = Timings("empty", (10.0, 20.0, 10.0))
    probe = Timings("probe", (30.0, 40.0, 40.0))
    other = Timings("other", (50.0, 60.0, 10.0))
    # Nets: probe 20, 20, 30; other 40, 40, 0 (left out of the ratio).
    assert net_ratios(probe, other, empty) == (20.0, 40.0, 0.5)

"""Test that the documented recommendation rules match what the rules do."""

from __future__ import annotations

import re
from pathlib import Path

from perfprobe.report import RULES

from .report_factories import build, make_collector, query, run_scope

ROOT = Path(__file__).resolve().parents[2]
DEMO_README = ROOT / "README_performance_demo.md"


def _rule_rows() -> dict[str, str]:
    """Return the rows of the demo README's rules table, by rule id."""
    rows = {}
    for line in DEMO_README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `([a-z-]+)` \|(.*)\|\s*$", line)
        if match and match.group(1) in RULES:
            rows[match.group(1)] = match.group(2)
    return rows


def test_every_registered_rule_has_a_row_in_the_rules_table() -> None:
    """The table lists each rule id the registry holds."""
    assert set(_rule_rows()) == set(RULES)


def test_duplicates_covered_by_an_n_plus_one_are_left_out_as_documented() -> None:
    """Ten lazy loads of five customers are one N+1 and no duplicate, as stated."""
    fingerprint = 'SELECT * FROM "shop_customer" WHERE "id" = ?'
    collector = make_collector()
    # Each of five customers is loaded twice from the loop's one line.
    run_scope(
        collector,
        "orders",
        [query(fingerprint, 0.001, params_hash=i % 5) for i in range(10)],
    )
    rules = [r.rule_id for r in build(collector).recommendations]

    assert rules == ["n-plus-one"]
    row = _rule_rows()["duplicate-queries"]
    assert "`n-plus-one`" in row
    assert "left out" in row

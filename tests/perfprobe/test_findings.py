"""Tests for perfprobe.findings: findings merged over closed scopes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from perfprobe.events import LazyLoad
from perfprobe.findings import MAX_SCOPES_LISTED, FindingTotals, _Merged
from perfprobe.nplusone import DuplicateFinding, NPlusOneFinding

LOAD = LazyLoad("Order", "customer", "forward foreign key", 'select_related("c")')


def finding(scope: str, count: int, distinct: int, lazy: LazyLoad | None) -> Any:
    """Return an N+1 finding of one shape and call site, seen in ``scope``."""
    return NPlusOneFinding(
        scope=scope,
        fingerprint="SELECT ? FROM c",
        call_site="app/views.py:3",
        count=count,
        distinct_params=distinct,
        total_s=count * 0.25,
        sample_sql=f"sample of {scope}",
        lazy_load=lazy,
    )


def test_an_n_plus_one_in_three_scopes_is_one_merged_finding() -> None:
    """Counts 6, 10 and 4 merge: 20 in all, the first sample, the most params."""
    totals = FindingTotals(max_keys=10)
    totals.add_n_plus_one(finding("a", 6, 3, None))
    totals.add_n_plus_one(finding("b", 10, 5, LOAD))
    totals.add_n_plus_one(finding("a", 4, 4, None))

    (merged,) = totals.to_list()

    assert merged["count"] == 20 and merged["total_s"] == 5.0
    assert merged["max_count_per_scope"] == 10
    assert merged["scope_count"] == 3 and merged["scopes"] == ["a", "b"]
    assert merged["sample_sql"] == "sample of a"
    assert merged["distinct_params"] == 5
    # The first scope did not know the lazy load; the second named it.
    assert merged["lazy_load"] == {
        "model": "Order",
        "field": "customer",
        "relation": "forward foreign key",
        "fix": 'select_related("c")',
    }
    assert "scope" not in merged


def test_duplicates_merge_by_shape_and_call_sites_up_to_the_bound() -> None:
    """Two of one key merge; a third key past max_keys=1 is counted as dropped."""
    totals = FindingTotals(max_keys=1)
    for scope, sites in (("a", ("x:1",)), ("b", ("x:1",)), ("c", ("y:2",))):
        totals.add_duplicate(DuplicateFinding(scope, "SELECT 1", 2, 0.5, "S", sites))

    (merged,) = totals.to_list()

    assert (merged["count"], merged["total_s"], merged["scopes"]) == (
        4,
        1.0,
        ["a", "b"],
    )
    assert merged["call_sites"] == ["x:1"]
    assert totals.dropped == 1


def test_one_scopes_repeats_of_two_parameter_sets_count_one_scope() -> None:
    """Author 1 three times and author 2 twice in scope a, then once more in b."""
    totals = FindingTotals(max_keys=10)
    totals.add_duplicates(
        [
            DuplicateFinding("a", "SELECT ? FROM author", 3, 0.3, "S", ()),
            DuplicateFinding("a", "SELECT ? FROM author", 2, 0.2, "S", ()),
        ]
    )
    again = DuplicateFinding("b", "SELECT ? FROM author", 2, 0.2, "S", ())
    totals.add_duplicates([again])

    (merged,) = totals.to_list()

    assert (merged["count"], merged["max_count_per_scope"]) == (7, 3)
    assert (merged["scope_count"], merged["repeated_sets"]) == (2, 3)


def test_an_n_plus_one_merged_in_twelve_scopes_is_what_merged_add_makes() -> None:
    """12 scopes of one key: the same entry as _Merged.add; a second key dropped."""
    totals = FindingTotals(max_keys=1)
    seen = [finding(f"s{i}", 5 + i % 4, 2 + i % 3, None) for i in range(12)]
    for each in seen:
        totals.add_n_plus_one(each)
    other = NPlusOneFinding("s0", "SELECT 2", "b.py:1", 7, 7, 1.0, "S", None)
    totals.add_n_plus_one(other)

    expected = _Merged(seen[0].to_dict())
    expected.first["distinct_params"] = 4
    for each in seen:
        expected.add(each.scope, each.count, each.total_s)
    (entry,) = totals._merged.values()

    assert entry == expected
    assert entry.scopes == [f"s{i}" for i in range(MAX_SCOPES_LISTED)]
    assert (entry.scope_count, entry.found_count, entry.max_count_per_scope) == (
        12,
        12,
        8,
    )
    assert totals.dropped == 1


def test_scopes_naming_different_rows_lines_merge_into_no_choice() -> None:
    """Scopes naming two different lines keep both; a scope naming none adds none."""
    totals = FindingTotals(max_keys=10)
    one, other = ("jobs.py:31",), ("jobs.py:25",)
    for scope, lines in (("a", one), ("b", ()), ("c", one)):
        totals.add_n_plus_one(replace(finding(scope, 6, 6, LOAD), rows_loaded_at=lines))
    assert totals.to_list()[0]["rows_loaded_at"] == ["jobs.py:31"]

    totals.add_n_plus_one(replace(finding("d", 6, 6, LOAD), rows_loaded_at=other))

    assert totals.to_list()[0]["rows_loaded_at"] == ["jobs.py:25", "jobs.py:31"]

"""Tests for perfprobe.nplusone fed raw query records, as the fold feeds it.

Durations are binary fractions, so that their sums are exact.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from perfprobe import nplusone
from perfprobe.events import (
    RAW_BULK_CALL,
    RAW_CALL_SITE,
    RAW_DURATION_S,
    RAW_PARAMS_HASH,
    RAW_SQL,
    RAW_SQL_HASH,
    QueryEvent,
)
from perfprobe.nplusone import ScopeQueries
from perfprobe.rawrecords import RAW_LENGTH

from .report_factories import query

SITE = "app/views.py:10"
SHAPE_A = "SELECT a FROM t WHERE id = ?"
SHAPE_B = "SELECT b FROM t WHERE id = ?"


def raw(shape: str, params_hash: int, duration_s: float, site: str = SITE) -> Any:
    """Return a folded raw record: its fingerprint already at ``RAW_SQL``."""
    record: list[Any] = [None] * RAW_LENGTH
    record[RAW_SQL] = shape
    record[RAW_DURATION_S] = duration_s
    record[RAW_CALL_SITE] = site
    record[RAW_PARAMS_HASH] = params_hash
    # The recorder hashes the SQL as run; one text per shape here.
    record[RAW_SQL_HASH] = hash(shape)
    record[RAW_BULK_CALL] = 0
    return record


def add(queries: ScopeQueries, shape: str, *records: Any) -> None:
    """Add ``records`` of one shape and call site, as the fold does."""
    total_s = sum(r[RAW_DURATION_S] for r in records)
    queries.add_records(shape, SITE, list(records), total_s)


def test_repeats_promoted_out_of_order_are_listed_in_first_sighting_order() -> None:
    """A then B seen once each, B repeated before A: equal findings list A first."""
    queries = ScopeQueries(max_groups=100)
    add(queries, SHAPE_A, raw(SHAPE_A, 1, 0.5))
    add(queries, SHAPE_B, raw(SHAPE_B, 1, 0.5))
    add(queries, SHAPE_B, raw(SHAPE_B, 1, 0.5))
    add(queries, SHAPE_A, raw(SHAPE_A, 1, 0.5))

    found = queries.duplicates("page", 2)

    assert [(d.fingerprint, d.count, d.total_s) for d in found] == [
        (SHAPE_A, 2, 1.0),
        (SHAPE_B, 2, 1.0),
    ]
    assert all(d.call_sites == (SITE,) for d in found)


def test_a_repeat_within_one_group_is_a_duplicate_of_its_shape() -> None:
    """Ids 5, 6, 5, 5 in one batch: one duplicate of 3, named by the fingerprint."""
    queries = ScopeQueries(max_groups=100)
    add(
        queries,
        SHAPE_A,
        raw(SHAPE_A, 5, 0.25),
        raw(SHAPE_A, 6, 0.5),
        raw(SHAPE_A, 5, 1.0),
        raw(SHAPE_A, 5, 2.0),
    )

    (duplicate,) = queries.duplicates("page", 2)
    assert (duplicate.fingerprint, duplicate.sample_sql) == (SHAPE_A, SHAPE_A)
    assert (duplicate.count, duplicate.total_s) == (3, 3.25)
    # A loop of 4 over 2 distinct ids is below a threshold of 5: no N+1.
    assert queries.n_plus_one("page", 5) == []
    # With a threshold of 4 the loop is an N+1, and the repeats of id 5 from
    # its own call site are left to it.
    (finding,) = queries.n_plus_one("page", 4)
    assert (finding.count, finding.distinct_params) == (4, 2)
    assert queries.duplicates("page", 2, [finding]) == []


def test_single_sightings_count_when_one_is_enough() -> None:
    """With a minimum of 1, each of 3 statements run once is listed, once."""
    queries = ScopeQueries(max_groups=100)
    add(queries, SHAPE_A, raw(SHAPE_A, 1, 0.25), raw(SHAPE_A, 2, 0.5))
    add(queries, SHAPE_B, raw(SHAPE_B, 1, 1.0))

    found = queries.duplicates("page", 1)

    assert sorted((d.fingerprint, d.count, d.total_s) for d in found) == [
        (SHAPE_A, 1, 0.25),
        (SHAPE_A, 1, 0.5),
        (SHAPE_B, 1, 1.0),
    ]
    assert queries.duplicates("page", 2) == []


def test_a_loop_s_statement_repeated_later_from_another_line_is_a_duplicate() -> None:
    """Ids 1-6 in a loop, then id 4 twice from another line: one duplicate of 3."""
    queries = ScopeQueries(max_groups=100)
    add(queries, SHAPE_A, *(raw(SHAPE_A, pk, 0.25) for pk in range(1, 7)))
    other = [raw(SHAPE_A, 4, 0.5, site="app/views.py:20") for _ in range(2)]
    queries.add_records(SHAPE_A, "app/views.py:20", other, 1.0)

    (duplicate,) = queries.duplicates("page", 2)

    assert (duplicate.count, duplicate.total_s) == (3, 1.25)
    assert duplicate.call_sites == (SITE, "app/views.py:20")
    (finding,) = queries.n_plus_one("page", 5)
    assert (finding.count, finding.distinct_params) == (6, 6)


def test_single_sightings_keep_the_order_they_came_in() -> None:
    """Loop A, one eager query C, loop B, equal times: listed A, A, C, B."""
    queries = ScopeQueries(max_groups=100)
    add(queries, SHAPE_A, raw(SHAPE_A, 1, 0.5), raw(SHAPE_A, 2, 0.5))
    queries.add(query("SELECT c", 0.5, call_site=SITE, params_hash=9))
    add(queries, SHAPE_B, raw(SHAPE_B, 1, 0.5))

    found = queries.duplicates("page", 1)

    assert [d.fingerprint for d in found] == [SHAPE_A, SHAPE_A, "SELECT c", SHAPE_B]
    assert all((d.count, d.total_s) == (1, 0.5) for d in found)


def test_statements_past_max_groups_are_not_analysed_and_say_so() -> None:
    """With room for 3 statements, loops of 2 and 2 keep the first 3."""
    queries = ScopeQueries(max_groups=3)
    add(queries, SHAPE_A, raw(SHAPE_A, 1, 0.25), raw(SHAPE_A, 2, 0.25))
    assert not queries.truncated
    add(queries, SHAPE_B, raw(SHAPE_B, 1, 0.5), raw(SHAPE_B, 2, 0.5))

    assert queries.truncated
    found = queries.duplicates("page", 1)
    assert [(d.fingerprint, d.total_s) for d in found] == [
        (SHAPE_B, 0.5),
        (SHAPE_A, 0.25),
        (SHAPE_A, 0.25),
    ]


def _random_runs(rng: random.Random) -> list[tuple[bool, str, str, list[Any]]]:
    """Return runs of one shape and call site: (eager, shape, site, records)."""
    runs = []
    for _ in range(rng.randrange(1, 12)):
        shape = rng.choice([SHAPE_A, SHAPE_B, "SELECT c FROM t"])
        site = rng.choice([SITE, "app/views.py:20"])
        bulk = rng.random() < 0.15
        records = []
        for _ in range(rng.randrange(1, 9)):
            record = raw(shape, rng.randrange(12), rng.randrange(1, 9) / 8, site)
            record[RAW_BULK_CALL] = rng.choice([0, 5, 6]) if bulk else 0
            records.append(record)
        runs.append((rng.random() < 0.2, shape, site, records))
    return runs


def _event(record: Any) -> QueryEvent:
    """Return the query event the eager path would have made of ``record``."""
    event = query(
        record[RAW_SQL],
        record[RAW_DURATION_S],
        call_site=record[RAW_CALL_SITE],
        params_hash=record[RAW_PARAMS_HASH],
    )
    event.sql_hash = record[RAW_SQL_HASH]
    event.bulk_call = record[RAW_BULK_CALL]
    return event


def test_runs_of_raw_records_find_what_adding_each_query_finds() -> None:
    """300 random scopes: the same findings, in order, as one query at a time."""
    rng = random.Random(5)
    for _ in range(300):
        max_groups = rng.choice([4, 10, 1000])
        folded, one_by_one = ScopeQueries(max_groups), ScopeQueries(max_groups)
        for eager, shape, site, records in _random_runs(rng):
            if eager:
                for record in records:
                    folded.add(_event(record))
            else:
                total_s = sum(r[RAW_DURATION_S] for r in records)
                folded.add_records(shape, site, records, total_s)
            for record in records:
                one_by_one.add(_event(record))

        for minimum in (1, 2, 3):
            assert folded.n_plus_one("s", minimum) == one_by_one.n_plus_one(
                "s", minimum
            )
            assert folded.duplicates("s", minimum) == one_by_one.duplicates(
                "s", minimum
            )
        assert folded.truncated == one_by_one.truncated


def test_each_shape_is_judged_transaction_control_once_in_bounded_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1,100 scopes of a SELECT and a SAVEPOINT: two judgements, then 1,024 kept."""
    judged: dict[str, bool] = {}
    monkeypatch.setattr(nplusone, "_judged", judged)
    savepoint = 'SAVEPOINT "s1"'
    for _ in range(1_100):
        queries = ScopeQueries(max_groups=100)
        for params_hash in range(6):
            add(queries, SHAPE_A, raw(SHAPE_A, params_hash, 0.5))
            add(queries, savepoint, raw(savepoint, params_hash, 0.5))
        assert [f.count for f in queries.n_plus_one("job", 5)] == [6]
    assert judged == {SHAPE_A: False, savepoint: True}

    for index in range(1_100):
        shape = f"SELECT {index} FROM t WHERE id = ?"
        ScopeQueries(max_groups=100).add_records(shape, SITE, [raw(shape, 1, 0.5)], 0.5)
    assert len(judged) <= nplusone._MAX_JUDGED
    queries = ScopeQueries(max_groups=100)
    add(queries, savepoint, raw(savepoint, 1, 0.5), raw(savepoint, 2, 0.5))
    assert queries.shapes() == ()

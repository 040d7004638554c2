"""Tests for the C common case of ``ScopeQueries.add_records`` (``add_new_run``).

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
    RAW_LAZY_LOAD,
    RAW_PARAMS_HASH,
    RAW_SQL,
    RAW_SQL_HASH,
    LazyLoad,
)
from perfprobe.nplusone import ScopeQueries
from perfprobe.querygroups import group_facts
from perfprobe.rawrecords import RAW_LENGTH

from .extensions import needs_extension

try:
    from perfprobe._fold import add_new_run as c_add_new_run
except ImportError:  # pragma: no cover - depends on the build
    c_add_new_run = None

needs_c = needs_extension(c_add_new_run, "the C extension perfprobe._fold")

SITE = "app/views.py:10"
SHAPE = "SELECT a FROM t WHERE id = ?"
LOAD = LazyLoad("Order", "customer", "forward foreign key", 'select_related("c")')


def raw(
    shape: str,
    params_hash: int,
    duration_s: float,
    *,
    sql_hash: int | None = None,
    lazy_load: Any = None,
    bulk_call: int = 0,
) -> list[Any]:
    """Return a folded raw record: its fingerprint already at ``RAW_SQL``."""
    record: list[Any] = [None] * RAW_LENGTH
    record[RAW_SQL] = shape
    record[RAW_DURATION_S] = duration_s
    record[RAW_CALL_SITE] = SITE
    record[RAW_PARAMS_HASH] = params_hash
    record[RAW_SQL_HASH] = hash(shape) if sql_hash is None else sql_hash
    record[RAW_LAZY_LOAD] = lazy_load
    record[RAW_BULK_CALL] = bulk_call
    return record


def state(queries: ScopeQueries) -> dict[str, Any]:
    """Return everything a ``ScopeQueries`` holds, for comparing two."""
    return {
        "groups": list(queries._groups.items()),
        "duplicates": list(queries._duplicates.items()),
        "promoted": list(queries._promoted),
        "waiting": list(queries._waiting),
        "waiting_count": queries._waiting_count,
        "sql_seen": set(queries._sql_seen),
        "truncated": queries.truncated,
    }


def new_run(queries: ScopeQueries, shape: str, records: list[Any]) -> Any:
    """Call the C common case as ``add_records`` does; return its answer."""
    assert c_add_new_run is not None
    total_s = sum(r[RAW_DURATION_S] for r in records)
    return c_add_new_run(
        queries,
        shape,
        SITE,
        records,
        total_s,
        group_facts(records),
        nplusone._Group,
        nplusone._judged,
        nplusone._MAX_DISTINCT_PARAMS,
    )


@needs_c
def test_a_new_n_plus_one_run_is_added_as_the_python_definition_adds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fifty records of a judged shape: the same group and waiting run as Python."""
    monkeypatch.setattr(nplusone, "_judged", {SHAPE: False})
    records = [
        raw(SHAPE, n, 0.125, lazy_load=LOAD if n > 2 else None) for n in range(50)
    ]
    in_c = ScopeQueries(max_groups=100)
    in_python = ScopeQueries(max_groups=100)

    assert new_run(in_c, SHAPE, list(records)) is True
    monkeypatch.setattr(nplusone, "_add_new_run", None)
    in_python.add_records(SHAPE, SITE, list(records), 50 * 0.125)

    assert state(in_c) == state(in_python)
    group = in_c._groups[(SHAPE, SITE)]
    assert (group.count, group.total_s, group.lazy_load) == (50, 6.25, LOAD)
    assert len(group.param_hashes) == 50
    assert in_c._waiting_count == 50
    assert [f.count for f in in_c.n_plus_one("job", 5)] == [50]


@needs_c
@pytest.mark.parametrize(
    "case",
    [
        "not judged",
        "transaction control",
        "key held",
        "no room for a group",
        "no room for the sightings",
        "statement seen",
        "a repeated parameter",
        "a bulk call",
        "two SQL hashes",
        "too many records",
        "not a list of records",
    ],
)
def test_anything_but_the_common_case_is_left_to_python(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The C path answers False and changes nothing; Python then adds the run."""
    judged = {SHAPE: False}
    monkeypatch.setattr(nplusone, "_judged", judged)
    queries = ScopeQueries(max_groups=10)
    records = [raw(SHAPE, n, 0.5) for n in range(3)]
    if case == "not judged":
        judged.clear()
    elif case == "transaction control":
        judged[SHAPE] = True
    elif case == "key held":
        queries.add_records(SHAPE, SITE, [raw(SHAPE, 9, 0.5, sql_hash=1)], 0.5)
    elif case == "no room for a group":
        queries.max_groups = 0
    elif case == "no room for the sightings":
        queries.max_groups = 2
    elif case == "statement seen":
        other = "SELECT b FROM t WHERE id = ?"
        judged[other] = False
        queries.add_records(
            other, SITE, [raw(other, 9, 0.5, sql_hash=hash(SHAPE))], 0.5
        )
    elif case == "a repeated parameter":
        records[2][RAW_PARAMS_HASH] = 0
    elif case == "a bulk call":
        records[1][RAW_BULK_CALL] = 4
    elif case == "two SQL hashes":
        records[1][RAW_SQL_HASH] = 5
    elif case == "too many records":
        records = [raw(SHAPE, n, 0.5) for n in range(nplusone._MAX_DISTINCT_PARAMS + 1)]
    else:
        records = tuple(records)  # type: ignore[assignment]
    before = state(queries)

    assert new_run(queries, SHAPE, records) is False
    assert state(queries) == before


def _random_records(rng: random.Random, shape: str) -> list[Any]:
    """Return one run of ``shape``, its items varied at random."""
    records = []
    bulk = rng.random() < 0.1
    for _ in range(rng.choice((1, 2, 5, 50, 70))):
        records.append(
            raw(
                shape,
                rng.randrange(80),
                rng.randrange(1, 9) / 8,
                sql_hash=rng.choice((hash(shape), hash(shape), 17)),
                lazy_load=rng.choice((None, None, LOAD)),
                bulk_call=rng.choice((0, 5)) if bulk else 0,
            )
        )
    if rng.random() < 0.7:
        # Mostly one statement with distinct parameters, as an N+1 loop.
        distinct = rng.sample(range(10_000), len(records))
        for record, params_hash in zip(records, distinct, strict=True):
            record[RAW_PARAMS_HASH] = params_hash
            record[RAW_SQL_HASH] = hash(shape)
    return records


@needs_c
def test_scopes_hold_the_same_with_the_c_common_case_and_without(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """400 random scopes: the same state and findings; the C path took some runs."""
    shapes = [
        "SELECT a FROM t WHERE id = ?",
        "SELECT b FROM t WHERE id = ?",
        'SAVEPOINT "s1"',
    ]
    calls = {"taken": 0}

    def counted(*args: Any) -> bool:
        assert c_add_new_run is not None
        taken: bool = c_add_new_run(*args)
        calls["taken"] += taken
        return taken

    rng = random.Random(23)
    for _ in range(400):
        max_groups = rng.choice([3, 60, 1000])
        runs = [
            (shape, _random_records(rng, shape))
            for shape in rng.choices(shapes, k=rng.randrange(1, 6))
        ]
        held = []
        for add_new_run in (counted, None):
            monkeypatch.setattr(nplusone, "_add_new_run", add_new_run)
            queries = ScopeQueries(max_groups)
            for shape, records in runs:
                copies = [list(record) for record in records]
                total_s = sum(r[RAW_DURATION_S] for r in copies)
                queries.add_records(shape, SITE, copies, total_s)
            findings = [
                (queries.n_plus_one("s", m), queries.duplicates("s", m))
                for m in (1, 2, 3)
            ]
            held.append((state(queries), findings))

        assert held[0] == held[1]
    assert calls["taken"] > 100

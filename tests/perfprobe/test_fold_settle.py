"""Tests for the fold's pass over a group's raw records (``settle_records``)."""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

import pytest

from perfprobe import querylog
from perfprobe.collector import Collector
from perfprobe.events import (
    RAW_ALIAS,
    RAW_BULK_CALL,
    RAW_LAZY_LOAD,
    RAW_PARAMS_HASH,
    RAW_SCOPE,
    RAW_SQL,
    RAW_SQL_HASH,
    LazyLoad,
    QueryEvent,
)
from perfprobe.querygroups import group_facts, settle_records
from perfprobe.rawrecords import RAW_LENGTH
from perfprobe.scope import Scope

from .extensions import needs_extension
from .test_requestrecorder_pending import (
    SQL_A,
    end_request,
    open_request,
    play,
    raw_query,
    workload,
)

try:
    from perfprobe._fold import settle_group as c_settle_group
except ImportError:  # pragma: no cover - depends on the build
    c_settle_group = None

needs_c = needs_extension(c_settle_group, "the C extension perfprobe._fold")


def record(
    scope: object,
    params_hash: object,
    *,
    sql: object = "SELECT 1 FROM t WHERE id = 7",
    alias: object = "default",
    bulk_call: object = 0,
    sql_hash: object = None,
    lazy_load: object = None,
) -> list[Any]:
    """Return a raw record with the items the settling reads and replaces."""
    made: list[Any] = [None] * RAW_LENGTH
    made[RAW_ALIAS] = alias
    made[RAW_SQL] = sql
    made[RAW_SCOPE] = scope
    made[RAW_PARAMS_HASH] = params_hash
    made[RAW_BULK_CALL] = bulk_call
    made[RAW_SQL_HASH] = sql_hash
    made[RAW_LAZY_LOAD] = lazy_load
    return made


def test_the_python_settling_puts_the_group_s_items_in_and_reads_its_facts() -> None:
    """Three records: shape, path and hash put in; parameters in order, one alias."""
    job = Scope("job")
    alias = "default"
    records = [record(job, 5, alias=alias), record(job, 3), record(job, 5)]
    records[1][RAW_ALIAS] = alias

    facts = settle_records(records, "SELECT ? FROM t WHERE id = ?", "job", 4242)

    params, bulk, distinct, one_sql, one_alias, lazy_load = facts
    assert params == [5, 3, 5]
    assert (bulk, distinct, one_sql) == (False, {3, 5}, True)
    assert one_alias is alias
    assert lazy_load is None
    for made in records:
        assert made[RAW_SQL] == "SELECT ? FROM t WHERE id = ?"
        assert made[RAW_SCOPE] == "job"
        assert made[RAW_SQL_HASH] == 4242


def test_group_facts_name_no_alias_when_two_differ_and_see_a_bulk_call() -> None:
    """Aliases "default" and "replica": no single alias; a bulk call anywhere counts."""
    records = [record(None, 1, sql_hash=9), record(None, 2, sql_hash=9)]
    records[1][RAW_ALIAS] = "replica"
    records[1][RAW_BULK_CALL] = 17

    assert group_facts(records) == ([1, 2], True, {1, 2}, True, None, None)
    records[1][RAW_SQL_HASH] = 10
    assert group_facts(records)[3] is False


def random_group(rng: random.Random, scope: object) -> list[list[Any]]:
    """Return a group of 1 to 70 records of one scope, items varied at random."""
    aliases = ["default", "default", "replica"]
    same_alias = rng.random() < 0.6
    loads = [
        LazyLoad("Order", "customer", "forward foreign key", 'select_related("c")'),
        LazyLoad("Order", "shop", "forward foreign key", 'select_related("shop")'),
    ]
    with_loads = rng.random() < 0.5
    records = []
    for _ in range(rng.choice((1, 2, 5, 50, 70))):
        records.append(
            record(
                scope,
                rng.choice(
                    (rng.randint(0, 5), rng.getrandbits(62), -rng.getrandbits(40))
                ),
                sql="".join(["SELECT x FROM t WHERE id = ", str(rng.randint(0, 9))]),
                alias=aliases[0] if same_alias else rng.choice(aliases),
                bulk_call=rng.choice((0, 0, 0, 0, 3, rng.getrandbits(40))),
                sql_hash=rng.choice((None, rng.getrandbits(50))),
                lazy_load=rng.choice([None, None, *loads]) if with_loads else None,
            )
        )
    return records


@needs_c
def test_c_settling_matches_the_python_definition() -> None:
    """300 random groups: the same items put in and the same facts."""
    assert c_settle_group is not None
    rng = random.Random(11)
    for scope in [Scope("a"), None, "a path"] * 100:
        in_python = random_group(rng, scope)
        in_c = [list(made) for made in in_python]
        sql_hash = rng.getrandbits(61)

        expected = settle_records(in_python, "SELECT ?", "a/b", sql_hash)
        facts = c_settle_group(in_c, "SELECT ?", "a/b", sql_hash)

        assert facts is not None
        assert facts[:4] == expected[:4]
        assert facts[4] is expected[4]
        assert facts[5] is expected[5]
        assert in_c == in_python
        assert all(made[RAW_SQL_HASH] is sql_hash for made in in_c)


@needs_c
@pytest.mark.parametrize(
    "change",
    [
        "empty",
        "not a list",
        "short",
        "bytes SQL",
        "another scope",
        "bool params hash",
        "str SQL hash",
        "float bulk call",
        "lazy load with a length",
    ],
)
def test_c_settling_leaves_anything_unusual_to_python(change: str) -> None:
    """The C pass answers None and changes nothing where Python must decide."""
    assert c_settle_group is not None
    job = Scope("job")
    records: list[Any] = [record(job, n) for n in range(4)]
    last = records[-1]
    if change == "empty":
        records = []
    elif change == "not a list":
        records[-1] = tuple(last)
    elif change == "short":
        records[-1] = last[:-1]
    elif change == "bytes SQL":
        last[RAW_SQL] = b"SELECT 1"
    elif change == "another scope":
        last[RAW_SCOPE] = Scope("job")
    elif change == "bool params hash":
        last[RAW_PARAMS_HASH] = True
    elif change == "str SQL hash":
        last[RAW_SQL_HASH] = "x"
    elif change == "lazy load with a length":
        # Its truth is its length: Python's filter(None) decides, not C.
        last[RAW_LAZY_LOAD] = ()
    else:
        last[RAW_BULK_CALL] = 1.0
    before = [list(made) for made in records]

    assert c_settle_group(records, "SELECT ?", "job", 1) is None
    assert [list(made) for made in records] == before


# Shrinks the group's list to one record from a collection that an
# allocation runs (the threshold swept so that one falls inside
# settle_group). Prints how many records the list held when the pass began
# reading them (one if the shrink came first, else all) and how many
# parameter hashes the pass read: a pass that read more read freed lists.
SHRUNK_BY_A_COLLECTION = """
import gc
from perfprobe._fold import settle_group

for extra in range(12):
    records = [
        ["default", "sqlite", "SELECT 1", 0.1, 0.0, 1, None, "a.py:1", 5, None,
         None, 0, None]
        for _ in range(2000)
    ]
    shrunk = []

    def shrink(phase, info, records=records, shrunk=shrunk):
        if phase == "start" and not shrunk:
            # Settled already: the pass had read every record.
            shrunk.append(2000 if records[0][2] == "SELECT ?" else 1)
            del records[1:]

    gc.collect()
    gc.callbacks.append(shrink)
    gc.set_threshold(gc.get_count()[0] + extra)
    facts = settle_group(records, "SELECT ?", None, 7)
    gc.set_threshold(700)
    gc.callbacks.remove(shrink)
    print(shrunk[0] if shrunk else 2000, 0 if facts is None else len(facts[0]))
"""


@needs_c
def test_c_settling_survives_the_group_shrinking_in_a_collection() -> None:
    """A gc callback shrinking the list while settle_group allocates is seen."""
    done = subprocess.run(
        [sys.executable, "-c", SHRUNK_BY_A_COLLECTION],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    answers = [line.split() for line in done.stdout.splitlines()]
    assert len(answers) == 12
    # None (0 read) is the pass leaving the group to Python.
    assert all(read in ("0", held) for held, read in answers), answers
    # The sweep did shrink the list before the pass read it.
    assert ["1", "0"] in answers


@pytest.mark.parametrize("in_c", [True, False])
def test_a_statement_s_queries_share_one_sql_hash_after_the_fold(
    in_c: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recorder leaves the hash out; the fold puts one ``hash(sql)`` in, shared."""
    if in_c and c_settle_group is None:
        pytest.skip("the C extension perfprobe._fold is not built")
    if not in_c:
        monkeypatch.setattr(querylog, "_settle_group", None)
    collector = Collector()
    scope = open_request(collector, "/a/")
    # Texts equal but not the same object, as a driver's SQL is per query.
    texts = ["".join(["SELECT * FROM customer WHERE id = ", "%s"]) for _ in range(5)]
    log = collector.thread_logs.register()
    for index, text in enumerate(texts):
        made = raw_query(scope, text, 100 + index, 1 / 64)
        made[RAW_SQL_HASH] = None
        log.queries.append(made)
    kept = list(log.queries)
    end_request(collector, scope, "/a/", [])

    events = [
        e for e in collector.snapshot().recent_events if isinstance(e, QueryEvent)
    ]

    assert texts[0] is not texts[1]
    assert [e.sql_hash for e in events] == [hash(texts[0])] * 5
    assert all(made[RAW_SQL_HASH] is kept[0][RAW_SQL_HASH] for made in kept)
    assert scope.summary.n_plus_one[0].count == 5


def event_items(event: QueryEvent) -> tuple[Any, ...]:
    """Return what a query event says, the hashes included."""
    return (
        event.fingerprint,
        event.duration_s,
        event.scope,
        event.call_site,
        event.params_hash,
        event.sql_hash,
        event.alias,
    )


@pytest.mark.parametrize("seed", range(20))
def test_reports_are_the_same_with_the_c_settling_and_without(
    seed: int, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Random requests, user scopes, eager queries and reads: the same report."""
    settings.PERFPROBE = {"RECENT_EVENTS_SIZE": 5000}
    steps = workload(seed)
    collectors = [Collector(), Collector()]
    with_c = play(collectors[0], steps)
    monkeypatch.setattr(querylog, "_settle_group", None)
    in_python = play(collectors[1], steps)

    assert with_c == in_python
    assert with_c["closed"] >= 20
    queries = [
        [
            event_items(e)
            for e in c.snapshot().recent_events
            if isinstance(e, QueryEvent)
        ]
        for c in collectors
    ]
    assert queries[0] == queries[1]
    assert any(hash(SQL_A) == q[5] for q in queries[0])

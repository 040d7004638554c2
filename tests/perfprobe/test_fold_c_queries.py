"""Tests for the C grouping of raw query records and its Python definition."""

from __future__ import annotations

import random
from typing import Any

import pytest

from apps.shop.models import Customer
from perfprobe import PerformanceMonitor, querylog
from perfprobe.collector import Collector
from perfprobe.events import RAW_CALL_SITE, RAW_DURATION_S, RAW_SCOPE, RAW_SQL
from perfprobe.querygroups import group_records, load_group_queries
from perfprobe.rawrecords import RAW_LENGTH
from perfprobe.scope import Scope
from perfprobe.sketch import PURE_PYTHON_ENV

from .extensions import needs_extension

try:
    from perfprobe._fold import group_queries as c_group_queries
except ImportError:  # pragma: no cover - depends on the build
    c_group_queries = None

needs_c = needs_extension(c_group_queries, "the C extension perfprobe._fold")


def raw(sql: object, scope: object, site: object, duration_s: object) -> list[Any]:
    """Return a raw query record with the four items the grouping reads."""
    record: list[Any] = [None] * RAW_LENGTH
    record[RAW_SQL] = sql
    record[RAW_SCOPE] = scope
    record[RAW_CALL_SITE] = site
    record[RAW_DURATION_S] = duration_s
    return record


def test_the_python_grouping_keeps_first_sightings_and_sums_each_group() -> None:
    """A, A, B, A, C: groups A (three), B, C; sums and the batch's durations."""
    job = Scope("job")
    batch = [
        raw("A", job, "v.py:1", 0.5),
        raw("A", job, "v.py:1", 0.25),
        raw("B", job, None, 2.0),
        raw("A", job, "v.py:1", 0.125),
        raw("C", None, "v.py:1", 4.0),
    ]

    groups, durations = group_records(batch)

    assert [(key, len(records), total) for key, records, _, total in groups] == [
        (("A", job, "v.py:1"), 3, 0.875),
        (("B", job, None), 1, 2.0),
        (("C", None, "v.py:1"), 1, 4.0),
    ]
    assert groups[0][1] == [batch[0], batch[1], batch[3]]
    assert groups[0][1][2] is batch[3]
    assert groups[0][2] == [0.5, 0.25, 0.125]
    assert durations == [0.5, 0.25, 2.0, 0.125, 4.0]


@needs_c
def test_c_grouping_matches_the_python_definition() -> None:
    """200 random batches: the same groups, records, durations and sums, bit for bit."""
    assert c_group_queries is not None
    rng = random.Random(8)
    scopes = [Scope("a"), Scope("b"), None]
    for _ in range(200):
        batch = [
            raw(
                rng.choice(["SELECT 1", "SELECT 2", "UPDATE t"]),
                rng.choice(scopes),
                rng.choice(["v.py:1", "v.py:2", None]),
                rng.lognormvariate(-9.0, 2.0),
            )
            for _ in range(rng.randrange(0, 60))
        ]
        made = c_group_queries(batch)
        assert made is not None
        expected = group_records(batch)
        assert made == expected
        for (_, records, _, total), (_, want, _, want_total) in zip(
            made[0], expected[0], strict=True
        ):
            assert all(a is b for a, b in zip(records, want, strict=True))
            assert total.hex() == want_total.hex()


class _Equal(str):
    """SQL text equal to any text, as only its own __eq__ can say."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


@needs_c
def test_c_grouping_compares_texts_of_each_query_as_python_does() -> None:
    """Equal texts made apart, texts of other widths and lengths, a subclass."""
    assert c_group_queries is not None
    base = "SELECT x FROM t WHERE id = %s"
    texts = [
        base,
        "".join(base),  # equal, another object
        base[:-1] + "?",  # same length, one character apart
        base + " ",
        base.replace("x", "\u00e9"),  # one byte a character, non-ASCII
        base.replace("x", "\u0101"),  # two bytes a character
        base.replace("x", "\U0001f600"),  # four bytes a character
        _Equal(base),
    ]
    rng = random.Random(4)
    for _ in range(300):
        # Copies made per query, as Django makes each query's SQL anew.
        batch = [
            raw("".join(list(rng.choice(texts))), None, "v.py:1", 0.5)
            for _ in range(rng.randrange(1, 12))
        ]
        batch.append(raw(_Equal(rng.choice(texts)), None, "v.py:1", 0.5))
        batch.insert(0, raw(rng.choice(texts), None, "v.py:1", 0.5))
        assert c_group_queries(batch) == group_records(batch)


@needs_c
@pytest.mark.parametrize(
    "odd",
    [
        ("SELECT 1",) * RAW_LENGTH,
        ["SELECT 1"] * (RAW_LENGTH - 1),
        raw("SELECT 1", None, None, 1),
        raw("SELECT 1", None, None, None),
    ],
)
def test_c_grouping_leaves_anything_but_raw_records_to_python(odd: object) -> None:
    """A tuple, a short list, or a duration that is not a float gives None."""
    assert c_group_queries is not None
    assert c_group_queries([raw("SELECT 1", None, None, 0.5), odd]) is None


class _Text(str):
    """SQL text whose comparison empties the record compared, or raises."""

    __slots__ = ("action",)

    def __eq__(self, other: object) -> bool:
        self.action()  # type: ignore[attr-defined]
        return str.__eq__(self, other)

    __hash__ = str.__hash__


@needs_c
def test_c_grouping_survives_a_record_changed_by_a_comparison() -> None:
    """An __eq__ that empties the next record is refused, not a crash."""
    assert c_group_queries is not None
    batch = [raw("x", None, None, 0.5), raw("x", None, None, 0.25)]
    text = _Text("x")
    text.action = batch[1].clear  # type: ignore[attr-defined]
    batch[0][RAW_SQL] = text
    with pytest.raises(RuntimeError, match="changed while it was grouped"):
        c_group_queries(batch)


@needs_c
def test_c_grouping_passes_an_exception_of_a_comparison_on() -> None:
    """An __eq__ that raises raises out of both groupings alike."""
    assert c_group_queries is not None

    def fail() -> None:
        raise LookupError("compare")

    text = _Text("x")
    text.action = fail  # type: ignore[attr-defined]
    batch = [raw(text, None, None, 0.5), raw("x", None, None, 0.25)]
    with pytest.raises(LookupError):
        c_group_queries(batch)
    with pytest.raises(LookupError):
        group_records(batch)


def test_pure_python_setting_turns_the_c_grouping_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With PERFPROBE_PURE_PYTHON set no C grouping is loaded."""
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    assert load_group_queries() is None


@pytest.mark.django_db
def test_a_scope_s_queries_fold_alike_with_and_without_c(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """12 lazy loads, 2 repeats and a count: the same report either way."""

    def run() -> tuple[Any, ...]:
        mon = PerformanceMonitor(Collector())
        monkeypatch.setattr("perfprobe.monitoring.monitor", mon)
        with mon.scope("job") as scope:
            for pk in range(1, 13):
                list(Customer.objects.filter(pk=pk))
            for _ in range(2):
                list(Customer.objects.filter(pk=3))
            Customer.objects.count()
        snapshot = mon.collector.snapshot()
        summary = scope.summary
        return (
            summary.query_count,
            [(f.count, f.distinct_params, f.call_site) for f in summary.n_plus_one],
            [(d.count, d.call_sites) for d in summary.duplicates],
            {k: v["stats"].count for k, v in snapshot.queries.items()},
            snapshot.query_total.count if snapshot.query_total else 0,
        )

    with_c = run()
    monkeypatch.setattr(querylog, "_group_queries", None)
    assert run() == with_c
    assert with_c[0] == with_c[4] == 15
    # The loop is one N+1 of 12; the repeats come from another line.
    assert [(count, distinct) for count, distinct, _ in with_c[1]] == [(12, 12)]
    # Id 3 ran three times: once in the loop, twice from the next loop.
    assert [(count, len(sites)) for count, sites in with_c[2]] == [(3, 2)]

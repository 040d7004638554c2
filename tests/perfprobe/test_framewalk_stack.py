"""Tests for _callsite.walk_stack and flat_hash: the same results as Python.

The agreement of ``walk_stack`` with the Python walk over real workloads
runs in ``test_framewalk`` (its ``walks`` fixture takes both C walks); here
are its own edges, and the parameter hash the recorder takes from C.
"""

from __future__ import annotations

import datetime
import logging
import random
import subprocess
import sys
from typing import Any

import pytest
from django.db import DatabaseError, connection

from perfprobe import PerformanceMonitor
from perfprobe.db import callsite, framewalk, instrument, lazyload, params
from perfprobe.db.framewalk import walk_frames
from perfprobe.scope import Scope

from .extensions import needs_extension, required

try:
    from perfprobe.db import _callsite
except ImportError:  # pragma: no cover - depends on the build
    _callsite = None  # type: ignore[assignment]

c_walk_stack = getattr(_callsite, "walk_stack", None)
c_flat_hash = getattr(_callsite, "flat_hash", None)
needs_stack = pytest.mark.skipif(
    c_walk_stack is None and not (required() and sys.version_info[:2] == (3, 11)),
    reason="walk_stack is built on CPython 3.11 only",
)
needs_c = needs_extension(c_flat_hash, "the C extension perfprobe.db._callsite")


def walk_args(max_depth: int = 10) -> tuple[Any, ...]:
    """Return walk_stack's arguments after ``skip``, for no scope and no SQL."""
    return (
        callsite._code_info,
        callsite._classify,
        lazyload.QUERYSET,
        -1,
        max_depth,
        {},
        None,
        None,
    )


def here(skip: int) -> tuple[Any, ...]:
    """Walk from the frame ``skip`` calls above this one, with both walks."""
    assert c_walk_stack is not None
    frame = sys._getframe(skip + 1)
    line = frame.f_lineno
    return c_walk_stack(skip + 1, *walk_args()), walk_frames(frame, *walk_args()), line


@needs_stack
def test_walk_stack_finds_the_calling_line_without_frames() -> None:
    """From user code with nothing telling on the way: this line, no frames."""
    c, python, line = here(0)

    assert python[0] == c[0]
    assert c[0] is not None and c[0].endswith(f"test_framewalk_stack.py:{line}")
    # The Python walk returns the frame it stopped at; walk_stack made none.
    assert python[1] is not None
    assert c[1:] == (None, None, None, None)


@needs_stack
def test_walk_stack_skips_as_sys_getframe_counts() -> None:
    """skip counts complete frames outward, as sys._getframe(skip) does."""

    def inner() -> tuple[Any, ...]:
        return here(1)

    c, python, line = inner()
    assert c[0] == python[0]
    assert c[0] is not None and c[0].endswith(f":{line}")


@needs_stack
def test_walk_stack_gives_up_past_the_top_of_the_stack() -> None:
    """A skip deeper than the stack raises ValueError, as sys._getframe does."""
    assert c_walk_stack is not None
    with pytest.raises(ValueError, match="not deep enough"):
        c_walk_stack(100_000, *walk_args())


@needs_stack
@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((-1, *walk_args()), ValueError, "skip must be >= 0"),
        ((0, [], *walk_args()[1:]), TypeError, "code_info and memo must be dicts"),
        ((0, *walk_args()[:5], [], None, None), TypeError, "must be dicts"),
        ((0, {}, len), TypeError, "exactly 9 arguments"),
    ],
)
def test_walk_stack_rejects_wrong_arguments(
    args: tuple[Any, ...], error: type[Exception], message: str
) -> None:
    """Arguments of the wrong type or value raise, never crash."""
    assert c_walk_stack is not None
    with pytest.raises(error, match=message):
        c_walk_stack(*args)


@needs_stack
def test_walk_stack_reads_a_tracers_line() -> None:
    """Under a line tracer the line is the traced frame's f_lineno, as in Python."""
    seen: list[tuple[Any, ...]] = []

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        return tracer

    # Whatever traced before (a coverage tool) is put back after.
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        seen.append(here(0))
    finally:
        sys.settrace(previous)
    c, python, _ = seen[0]
    assert c[0] == python[0]


def test_the_stack_walk_is_off_with_the_python_walk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PERFPROBE_PURE_PYTHON leaves no C stack walk and no C parameter hash."""
    monkeypatch.setenv(framewalk.PURE_PYTHON_ENV, "1")
    assert framewalk.load_extension()[3] is None
    assert params._load_flat_hash() is None


FLAT = [
    (1, "a", None, True, b"x", datetime.datetime(2020, 1, 2, 3, 4)),
    [1, 2, 3],
    (),
    [],
    ("1",),
    (1,),
    (True,),
]
NOT_FLAT = [(1.5,), [object()], (1, [2]), "abc", None, {"a": 1}, (True, 2.0)]


@needs_c
@pytest.mark.parametrize("value", FLAT)
def test_flat_hash_is_the_python_formula(value: Any) -> None:
    """A flat row of plain values hashes as _params_hash's first case does."""
    assert c_flat_hash is not None
    kind = type(value)
    expected = hash((kind, tuple(map(type, value)), tuple(value)))
    assert c_flat_hash(value, params._PLAIN) == expected == params._params_hash(value)


@needs_c
@pytest.mark.parametrize("value", NOT_FLAT)
def test_flat_hash_leaves_the_rest_to_python(value: Any) -> None:
    """Anything but a flat row of plain values gives None."""
    assert c_flat_hash is not None
    assert c_flat_hash(value, params._PLAIN) is None


@needs_c
def test_flat_hash_keeps_types_apart() -> None:
    """1, True and "1" as parameters hash apart, as in Python."""
    assert c_flat_hash is not None
    hashes = {c_flat_hash(row, params._PLAIN) for row in [(1,), (True,), ("1",), [1]]}
    assert len(hashes) == 4


def random_flat_row(rng: random.Random) -> Any:
    """Return a list or tuple of 0 to 12 plain values of every plain type."""
    utc = datetime.UTC
    makers = [
        lambda: rng.randrange(-(2**70), 2**70),
        lambda: rng.randrange(-5, 300),
        lambda: rng.choice([True, False, None]),
        lambda: "".join(rng.choice("ab\u00e9\u4e2d") for _ in range(rng.randrange(9))),
        lambda: rng.randbytes(rng.randrange(6)),
        lambda: datetime.datetime(2020, 1, 2, 3, 4, rng.randrange(60)),
        lambda: datetime.datetime(2021, 5, 6, 7, 8, rng.randrange(60), tzinfo=utc),
    ]
    row = [rng.choice(makers)() for _ in range(rng.randrange(13))]
    return tuple(row) if rng.random() < 0.5 else row


@needs_c
def test_flat_hash_is_the_python_formula_on_random_rows() -> None:
    """On 2,000 random flat rows the C hash is Python's hash of the key tuple."""
    assert c_flat_hash is not None
    rng = random.Random(20261205)
    for _ in range(2000):
        row = random_flat_row(rng)
        expected = hash((type(row), tuple(map(type, row)), tuple(row)))
        assert c_flat_hash(row, params._PLAIN) == expected


@needs_c
def test_flat_hash_rejects_a_plain_set_that_is_not_frozen() -> None:
    """The set of plain types must be a frozenset."""
    assert c_flat_hash is not None
    with pytest.raises(TypeError, match="frozenset"):
        c_flat_hash((1,), {int})


def use_hash(in_c: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Have the recorder hash parameters in the Walker, flat_hash or Python."""
    if in_c == "walker" and callsite._origin is None:
        pytest.skip("the C stack walk is not built")
    if in_c == "flat" and c_flat_hash is None:
        pytest.skip("the C extension is not built")
    if in_c != "walker":
        monkeypatch.setattr(callsite, "_origin", None)
    if in_c == "python":
        monkeypatch.setattr(instrument, "_flat_hash", None)


@pytest.mark.django_db
@pytest.mark.parametrize("in_c", ["walker", "flat", "python"])
def test_duplicates_and_n_plus_one_alike_with_either_hash(
    in_c: str, fresh_monitor: PerformanceMonitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recorder's parameter hash in C or in Python finds the same findings."""
    use_hash(in_c, monkeypatch)
    with fresh_monitor.scope("hashes"), connection.cursor() as cursor:
        for value in range(6):
            # Six values, each run twice from two lines: two N+1 groups of
            # 6 queries with 6 distinct parameter rows, and 6 duplicates.
            cursor.execute("SELECT %s, %s", [value, "x"])
            cursor.execute("SELECT %s, %s", [value, "x"])
    summary = fresh_monitor.collector.snapshot().scopes[-1]

    found = [(f.count, f.distinct_params) for f in summary.n_plus_one]
    assert found == [(6, 6), (6, 6)]
    assert sorted(d.count for d in summary.duplicates) == [2] * 6


class RaisingOffset(datetime.tzinfo):
    """A time zone whose offset cannot be read: its datetimes cannot be hashed."""

    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
        raise RuntimeError("no offset")


class UnhashableType(type):
    """A metaclass whose classes cannot be hashed (so not looked up in _PLAIN)."""

    def __hash__(cls) -> int:
        raise RuntimeError("no hash")


class Odd(metaclass=UnhashableType):
    """A parameter whose type cannot be hashed."""


@pytest.mark.django_db
@pytest.mark.parametrize("in_c", ["walker", "flat", "python"])
@pytest.mark.parametrize(
    "value",
    [datetime.datetime(2026, 1, 1, tzinfo=RaisingOffset()), Odd()],
    ids=["datetime with a raising tzinfo", "type with a raising hash"],
)
def test_a_parameter_that_cannot_be_hashed_is_still_recorded(
    in_c: str,
    value: Any,
    fresh_monitor: PerformanceMonitor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The query is recorded (with _params_hash's identity hash), nothing logged.

    The driver refuses the row (two placeholders, one value); its error
    reaches the caller unchanged.
    """
    use_hash(in_c, monkeypatch)
    caplog.set_level(logging.DEBUG, logger="perfprobe")
    with fresh_monitor.scope("odd"), connection.cursor() as cursor:
        # sqlite3: "Incorrect number of bindings"; psycopg: "2 placeholders".
        with pytest.raises(DatabaseError, match=r"bindings|placeholders"):
            cursor.execute("SELECT %s, %s", [value])
    summary = fresh_monitor.collector.snapshot().scopes[-1]

    assert summary.query_count == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


REFUSING_HOOK = """
import sys
from perfprobe.db import _callsite


def classify(code):
    return {"inner": 1, "outer": "user"}.get(code.co_name, 0)


def inner():
    try:
        raise ValueError
    except ValueError as error:
        # Frames without sys._getframe, whose audit event the hook refuses.
        here = error.__traceback__.tb_frame
    return _callsite.walk_stack(0, {}, classify, 1, -1, 10, {}, None, None), here


def outer():
    return inner()


def refuse(event, args):
    if event == "sys._getframe":
        raise RuntimeError("refused")


sys.addaudithook(refuse)
walked, here = outer()
print(walked[2] is here, walked[1] is here.f_back)
"""


@needs_stack
def test_walk_stack_makes_its_frames_where_sys_getframe_is_refused() -> None:
    """An audit hook refusing sys._getframe: the frames are found all the same.

    The recorder's frame lookup (caller_frame) raises no audit event; the
    stack walk must not lose every ORM query where such a hook is set.
    Audit hooks cannot be removed, so this runs in a process of its own.
    """
    done = subprocess.run(
        [sys.executable, "-c", REFUSING_HOOK],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


WALKER_SOURCE = """
import sys


def lib(walker, scope, sql, params=()):
    user = sys._getframe(1)
    scope_id = None if scope is None else scope.id
    return walker(0, scope, scope_id, sql, params), (id(user.f_code), user.f_lasti)


def user(walker, scope, sql, params=()):
    return lib(walker, scope, sql, params)
"""
# The parameters' hash the Walker gives for no parameters.
EMPTY = hash((tuple, (), ()))
# The kind the Walker below is told lib() has: neither queryset (1) nor
# the async boundary (-1), so it is a telling frame.
TELLING = 5


@needs_stack
def test_the_walkers_memo_gives_what_the_dict_holds_now() -> None:
    """Whatever the dict held before, the Walker answers with what it holds now.

    A user frame reached through one telling frame: the memo dict's entry
    for (scope id, SQL, code, offset, kind) is the lazy load, through the
    Walker's cache as well; any change to the dict (a value replaced, a
    clear) is seen at the next call; another scope or other SQL misses.
    """
    assert _callsite is not None
    namespace: dict[str, Any] = {}
    exec(compile(WALKER_SOURCE, "/srv/app/walker_user.py", "exec"), namespace)
    kinds = {"lib": TELLING, "user": "walker_user.py"}

    def classify(code: Any) -> str | int:
        return kinds.get(code.co_name, 0)

    resolved: list[tuple[Any, ...]] = []

    def resolve(walked: Any, scope: Any, sql: Any) -> tuple[Any, ...]:
        resolved.append((walked, scope, sql))
        return ("resolved", None, 0)

    memo: dict[Any, Any] = {}
    walker = _callsite.Walker({}, classify, 1, -1, 10, memo, resolve, params._PLAIN)
    user = namespace["user"]
    scope, other_scope = Scope("s"), Scope("t")
    # One statement, as a new string each time (as the recorder gets it).
    sql = "".join(["SELECT ", "1"])
    try:
        (result, (code_id, lasti)) = user(walker, scope, sql)
        assert result == ("resolved", None, 0, EMPTY) and len(resolved) == 1
        walked = resolved[0][0]
        assert [kind for kind, _ in walked[3]] == [TELLING]
        assert walked[1].f_code.co_name == "user"
        site = walked[0]
        key = (scope.id, sql, code_id, lasti, TELLING)
        first, second = object(), object()
        memo[key] = first
        for _ in range(3):
            text = "".join(["SELECT ", "1"])
            assert user(walker, scope, text)[0] == (site, first, 0, EMPTY)
        memo[key] = second
        assert user(walker, scope, sql)[0] == (site, second, 0, EMPTY)
        assert user(walker, scope, sql)[0] == (site, second, 0, EMPTY)
        assert len(resolved) == 1
        # Another scope, other SQL, no scope: not in the memo.
        assert user(walker, other_scope, sql)[0] == ("resolved", None, 0, EMPTY)
        assert user(walker, scope, "SELECT 2")[0] == ("resolved", None, 0, EMPTY)
        assert user(walker, None, sql)[0] == ("resolved", None, 0, EMPTY)
        assert len(resolved) == 4
        memo.clear()
        assert user(walker, scope, sql)[0] == ("resolved", None, 0, EMPTY)
        memo[key] = first
        assert user(walker, scope, sql)[0] == (site, first, 0, EMPTY)
        _callsite.forget()
        assert user(walker, scope, sql)[0] == (site, first, 0, EMPTY)
        assert len(resolved) == 5
    finally:
        # The C caches hold this test's code objects, classified its way.
        callsite.clear_cache()


def nothing(code: Any) -> int:
    """Classify every code object as uninteresting library code."""
    return 0


def no_origin(walked: Any, scope: Any, sql: Any) -> tuple[None, None, int]:
    """Resolve every walk to no call site."""
    return (None, None, 0)


class Refusal(BaseException):
    """Not an Exception: it must pass the recorder's handlers."""


class RefusingOffset(datetime.tzinfo):
    """A time zone whose offset raises a BaseException that is no Exception."""

    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
        raise Refusal


@needs_stack
@pytest.mark.parametrize("value", FLAT + NOT_FLAT)
def test_the_walkers_parameter_hash_is_flat_hashs(value: Any) -> None:
    """The Walker's fourth item is flat_hash(params, _PLAIN): the same or None."""
    assert _callsite is not None and c_flat_hash is not None
    walker = _callsite.Walker({}, nothing, 1, -1, 1, {}, no_origin, params._PLAIN)
    expected = c_flat_hash(value, params._PLAIN)
    assert walker(0, None, None, None, value)[3] == expected
    if expected is not None:
        assert expected == params._params_hash(value)


@needs_stack
def test_the_walkers_parameter_hash_gives_none_where_hashing_raises() -> None:
    """An Exception from hashing gives None; any other BaseException passes."""
    assert _callsite is not None
    walker = _callsite.Walker({}, nothing, 1, -1, 1, {}, no_origin, params._PLAIN)
    raising = datetime.datetime(2026, 1, 1, tzinfo=RaisingOffset())
    assert walker(0, None, None, None, (raising,))[3] is None
    refusing = datetime.datetime(2026, 1, 1, tzinfo=RefusingOffset())
    with pytest.raises(Refusal):
        walker(0, None, None, None, (refusing,))


class PlainTypes(frozenset[type]):
    """A frozenset subclass: the Walker finds no type in it by address."""


@needs_stack
@pytest.mark.parametrize("plain", [params._PLAIN, PlainTypes(params._PLAIN)])
def test_the_walkers_parameter_hash_is_the_python_formula_on_random_rows(
    plain: frozenset[type],
) -> None:
    """Lists read in place or copied, and tuples, hash as Python hashes the key."""
    assert _callsite is not None
    walker = _callsite.Walker({}, nothing, 1, -1, 1, {}, no_origin, plain)
    rng = random.Random(20261206)
    for _ in range(2000):
        row = random_flat_row(rng)
        expected = hash((type(row), tuple(map(type, row)), tuple(row)))
        assert walker(0, None, None, None, row)[3] == expected


class Emptying(datetime.tzinfo):
    """A time zone whose offset empties a list when asked."""

    def __init__(self, row: list[Any]) -> None:
        self.row = row

    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
        self.row.clear()
        return datetime.timedelta(hours=2)

    def dst(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return datetime.timedelta(0)


@needs_stack
def test_the_walker_hashes_a_list_as_it_was_when_hashing_empties_it() -> None:
    """A list whose hashing runs code is hashed from a copy taken first."""
    assert _callsite is not None and c_flat_hash is not None
    walker = _callsite.Walker({}, nothing, 1, -1, 1, {}, no_origin, params._PLAIN)
    for through_walker in [True, False]:
        row: list[Any] = ["a", 1]
        row.append(datetime.datetime(2026, 1, 2, tzinfo=Emptying(row)))
        before = tuple(row)
        if through_walker:
            got = walker(0, None, None, None, row)[3]
        else:
            got = c_flat_hash(row, params._PLAIN)
        assert row == []
        assert got == hash((list, tuple(map(type, before)), before))


@needs_stack
def test_the_walker_rejects_wrong_arguments() -> None:
    """Wrong arguments to the Walker or its call raise TypeError, never crash."""
    assert _callsite is not None
    plain = params._PLAIN
    with pytest.raises(TypeError):
        _callsite.Walker([], len, 1, -1, 10, {}, len, plain)
    with pytest.raises(TypeError):
        _callsite.Walker({}, len, 1, -1, 10, {}, len, {int})
    with pytest.raises(TypeError, match="must be callable"):
        _callsite.Walker({}, len, 1, -1, 10, {}, None, plain)
    walker = _callsite.Walker({}, len, 1, -1, 10, {}, len, plain)
    with pytest.raises(TypeError, match="exactly 5 positional arguments"):
        walker(0, None, None, None)
    with pytest.raises(TypeError, match="exactly 5 positional arguments"):
        walker(0, None, None, None, params=())
    with pytest.raises(ValueError, match="skip must be >= 0"):
        walker(-1, None, None, None, ())
    with pytest.raises(ValueError, match="not deep enough"):
        walker(100_000, None, None, None, ())


DEEP_SOURCE = """
import sys


def lib(depth, walk):
    if depth:
        return lib(depth - 1, walk)
    return walk(sys._getframe())


def user(depth, walk):
    return lib(depth, walk)
"""


@needs_stack
@pytest.mark.parametrize("depth", [0, 7, 8, 20])
def test_many_telling_frames_agree(depth: int) -> None:
    """More telling frames than the walk holds in place: all are reported."""
    assert c_walk_stack is not None
    namespace: dict[str, Any] = {}
    exec(compile(DEEP_SOURCE, "/srv/app/deep_user.py", "exec"), namespace)
    kinds = {"lib": TELLING, "user": "deep_user.py"}

    def classify(code: Any) -> str | int:
        return kinds.get(code.co_name, 0)

    args = ({}, classify, 1, -1, 100, {}, None, None)

    def walk(frame: Any) -> tuple[Any, Any]:
        return c_walk_stack(1, *args), walk_frames(frame, *args)

    try:
        c, python = namespace["user"](depth, walk)
    finally:
        callsite.clear_cache()
    assert len(python[3]) == depth + 1
    assert c[0] == python[0] and c[1] is python[1]
    assert [kind for kind, _ in c[3]] == [TELLING] * (depth + 1)
    assert all(a is b for (_, a), (_, b) in zip(c[3], python[3], strict=True))


EMPTIED_IN_COLLECTION = """
import gc
import os
import sys

from perfprobe.db import _callsite, params
from perfprobe.scope import Scope

SOURCE = '''
import sys


def lib(call, scope, sql):
    user = sys._getframe(1)
    key = (id(user.f_code), user.f_lasti)
    del user
    return call(scope, sql), key


def user(call, scope, sql):
    return lib(call, scope, sql)
'''
namespace = {}
exec(compile(SOURCE, "/srv/app/gc_user.py", "exec"), namespace)
kinds = {"lib": 5, "user": "gc_user.py"}


def classify(code):
    return kinds.get(code.co_name, 0)


memo, code_info = {}, {}
walker = _callsite.Walker(
    code_info, classify, 1, -1, 10, memo, lambda *_: ("resolved", None, 0),
    params._PLAIN,
)
mode = sys.argv[1]
if mode == "walker":
    def call(scope, sql):
        return walker(1, scope, scope.id, sql, ())[1]
else:
    walk = getattr(_callsite, mode)
    def call(scope, sql):
        start = 1 if mode == "walk_stack" else sys._getframe(1)
        return walk(start, code_info, classify, 1, -1, 10, memo, scope.id, sql)[4]

scope, sql = Scope("s"), "SELECT 1"
deleted = []


class Lazy:
    def __del__(self):
        deleted.append(self.__class__)


_, (code_id, lasti) = namespace["user"](call, scope, sql)
armed = []


def empty(phase, info):
    # What clear_cache() does to the walk: the memo and its C caches emptied.
    if phase == "start" and armed:
        armed.clear()
        memo.clear()
        _callsite.forget()


gc.callbacks.append(empty)
# No result tuple from a free list: each is a new object, whose allocation
# may start a collection.
held = [tuple([i] * n) for i in range(2500) for n in (4, 5)]
reached = 0
for threshold in range(1, 60):
    memo[(scope.id, sql, code_id, lasti, 5)] = Lazy()
    assert type(namespace["user"](call, scope, sql)[0]) is Lazy
    deleted.clear()
    gc.collect()
    gc.set_threshold(threshold)
    armed.append(True)
    lazy, _ = namespace["user"](call, scope, sql)
    gc.set_threshold(0)
    if deleted and lazy is not None:
        # The result holds a freed load: leave without touching it.
        print("freed", threshold, flush=True)
        os._exit(3)
    if not armed and type(lazy) is Lazy and not memo:
        # Emptied after the memo hit, the load still to be returned.
        reached += 1
    lazy = None
print("reached", reached)
"""


@needs_stack
@pytest.mark.parametrize("mode", ["walker", "walk_stack", "walk"])
def test_a_collection_that_empties_the_memo_leaves_the_load_returned_alive(
    mode: str,
) -> None:
    """The lazy load found in the memo is held before anything is allocated.

    Allocating the result can start a collection, whose callbacks or
    finalisers (or a thread they let run) may call clear_cache(): the memo
    and its C cache, the load's only holders, emptied. The Walker returned
    the load freed (a crash at its next use). Thresholds, free lists and
    gc callbacks are the process's, so this runs in a process of its own.
    """
    done = subprocess.run(
        [sys.executable, "-c", EMPTIED_IN_COLLECTION, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, (done.stdout, done.stderr)
    reached = int(done.stdout.split()[-1])
    if mode == "walker":
        # A collection did empty the memo after a hit, at some threshold
        # (at 4 before the fix, between the hit and the result tuple).
        assert reached >= 1

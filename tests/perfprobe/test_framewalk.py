"""Tests for perfprobe.db.framewalk and _callsite: the C walk agrees with Python.

Every query the workloads below run is walked by both, on the same live
stack, and the two results compared: the call site, the frame the walk
stopped at, the queryset frame and the telling frames, each by identity.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from types import CodeType, FrameType
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import connection, connections
from django.test import override_settings

from apps.shop.models import Customer, Order, OrderItem, Product
from perfprobe import PerformanceMonitor
from perfprobe.db import callsite, framewalk, installer, lazyload, params
from perfprobe.db.framewalk import WalkResult, walk_frames
from perfprobe.events import LazyLoad
from perfprobe.scope import Scope

from .extensions import REQUIRE_ENV, needs_extension

try:
    from perfprobe.db._callsite import forget as c_forget
    from perfprobe.db._callsite import walk as c_walk
except ImportError:  # pragma: no cover - depends on the build
    c_walk = None
# Built on CPython 3.11 only.
c_walk_stack = getattr(sys.modules.get("perfprobe.db._callsite"), "walk_stack", None)

pytestmark = [pytest.mark.django_db]

needs_c = needs_extension(c_walk, "the C extension perfprobe.db._callsite")


class Pairs(list[tuple[WalkResult, WalkResult]]):
    """The C walk's and the Python walk's results, in that order, per query."""

    #: Whether the C results come from walk_stack, which leaves out the
    #: frame objects its caller does not read.
    stack = False
    #: Whether the C results are the Walker's final (call_site, lazy,
    #: bulk_call), the Python walk's 5-tuple beside them; ``resolved`` then
    #: holds what ``_resolve`` made of each Python walk.
    origin = False

    def __init__(self) -> None:
        super().__init__()
        self.resolved: list[tuple[str | None, LazyLoad | None, int]] = []

    def clear(self) -> None:
        super().clear()
        self.resolved.clear()


def test_the_extension_is_built_where_required() -> None:
    """With PERFPROBE_REQUIRE_EXTENSION set, the C walk must be importable."""
    if not os.environ.get(REQUIRE_ENV):
        pytest.skip(f"{REQUIRE_ENV} is not set")
    assert c_walk is not None


@pytest.fixture(params=["walk", "walk_stack", "origin"])
def walks(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pairs]:
    """Walk every recorded query with both walks; yield the pairs of results.

    The C walk is ``walk`` from the frame the recorder found, or
    ``walk_stack`` over the frame records. The order alternates, so that
    each walk sometimes meets code objects not yet classified and calls
    ``_classify`` itself. With ``origin``, the recorder's ``Walker``
    (``callsite._origin``) against the Python walk and ``_resolve``: the
    Python walk first, so that its memo hits are those of the other
    walks; ``_resolve`` before the Walker or after it, alternately, so
    that each sometimes resolves a load first and stores it in the memo.
    """
    assert c_walk is not None
    pairs = Pairs()

    def both(frame: FrameType | None, *args: Any) -> WalkResult:
        if len(pairs) % 2:
            python, c = walk_frames(frame, *args), c_walk(frame, *args)
        else:
            c, python = c_walk(frame, *args), walk_frames(frame, *args)
        pairs.append((c, python))
        return python

    def both_stack(skip: int, *args: Any) -> WalkResult:
        assert c_walk_stack is not None
        # One frame more: this function's own.
        frame = sys._getframe(skip + 1)
        if len(pairs) % 2:
            python, c = walk_frames(frame, *args), c_walk_stack(skip + 1, *args)
        else:
            c, python = c_walk_stack(skip + 1, *args), walk_frames(frame, *args)
        pairs.append((c, python))
        return python

    c_origin = callsite._origin

    def both_origin(
        skip: int,
        scope: Scope | None,
        scope_id: int | None,
        sql: str | None,
        values: Any,
    ) -> tuple[str | None, LazyLoad | None, int, int | None]:
        assert scope_id == (None if scope is None else scope.id)
        assert c_origin is not None
        walked = walk_frames(
            sys._getframe(skip + 1),
            callsite._code_info,
            callsite._classify,
            callsite._QUERYSET,
            callsite._ASYNC_BOUNDARY,
            callsite._MAX_DEPTH,
            callsite._lazy_memo,
            None if scope is None else scope.id,
            sql,
        )
        if len(pairs) % 2:
            python = callsite._resolve(walked, scope, sql)
            c = c_origin(skip + 1, scope, scope_id, sql, values)
        else:
            c = c_origin(skip + 1, scope, scope_id, sql, values)
            python = callsite._resolve(walked, scope, sql)
        assert c[3] is None or c[3] == params._params_hash(values)
        pairs.append((c[:3], walked))  # type: ignore[arg-type]
        pairs.resolved.append(python)
        return (*python, c[3])

    # The recorder takes the Walker where it is built; these compare the
    # walks it would otherwise take.
    monkeypatch.setattr(callsite, "_origin", None)
    if request.param == "walk":
        monkeypatch.setattr(callsite, "_walk", both)
        monkeypatch.setattr(callsite, "_walk_stack", None)
    elif c_walk_stack is None or c_origin is None:
        pytest.skip("walk_stack is built on CPython 3.11 only")
    elif request.param == "walk_stack":
        pairs.stack = True
        monkeypatch.setattr(callsite, "_walk_stack", both_stack)
    else:
        pairs.origin = True
        monkeypatch.setattr(callsite, "_origin", both_origin)
    # The C walk's caches follow clear_cache() even where the Python walk
    # was chosen (PERFPROBE_PURE_PYTHON).
    monkeypatch.setattr(callsite, "_forget_walk_cache", c_forget)
    callsite.clear_cache()
    yield pairs
    callsite.clear_cache()


def assert_agree(pairs: Pairs) -> None:
    """Fail unless each pair of results is the same, frames compared by identity."""
    assert pairs, "no query was walked"
    if pairs.origin:
        assert len(pairs.resolved) == len(pairs)
        for (c, walked), python in zip(pairs, pairs.resolved, strict=True):
            assert len(c) == 3
            assert c[0] == python[0]
            if walked[4] is not None:
                # The Python walk's memo hit: the Walker's is the same load.
                assert c[1] is walked[4] is python[1]
            else:
                assert c[1] == python[1]
            assert c[2] == python[2]
        return
    for c, python in pairs:
        if pairs.stack and (
            python[4] is not None
            or (python[0] is not None and python[2] is None and python[3] is None)
        ):
            # Nothing the recorder reads needs the frames: none are made.
            python = (python[0], None, None, None, python[4])
        elif (
            pairs.stack
            and c[1] is None
            and python[0] is not None
            and python[3] is None
            and python[2] is not None
        ):
            # A queryset frame alone, whose queryset carries no instance:
            # it names no lazy load, and no frame is made.
            assert lazyload.hinted_instance(python[2].f_locals.get("self")) is None
            python = (python[0], None, None, None, python[4])
        assert c[0] == python[0]
        assert c[1] is python[1]
        assert c[2] is python[2]
        if python[3] is None:
            assert c[3] is None
        else:
            assert c[3] is not None
            assert [kind for kind, _ in c[3]] == [kind for kind, _ in python[3]]
            assert all(a is b for (_, a), (_, b) in zip(c[3], python[3], strict=True))
        assert c[4] is python[4]


def make_orders(count: int) -> list[Order]:
    """Create ``count`` orders, each for a customer of its own with one item."""
    product = Product.objects.create(name="p", sku="P-1", price=3)
    orders = []
    for i in range(count):
        customer = Customer.objects.create(name=f"c{i}", email=f"c{i}@example.com")
        order = Order.objects.create(customer=customer)
        OrderItem.objects.create(order=order, product=product, quantity=1, unit_price=3)
        orders.append(order)
    return orders


@needs_c
def test_lazy_loads_agree(walks: Pairs, fresh_monitor: PerformanceMonitor) -> None:
    """Forward and reverse lazy loads in a loop: both walks see the same frames."""
    make_orders(3)
    walks.clear()
    with fresh_monitor.scope("lazy loads"):
        names = [order.customer.name for order in Order.objects.all()]
        counts = [customer.orders.count() for customer in Customer.objects.all()]

    assert names == ["c0", "c1", "c2"] and counts == [1, 1, 1]
    assert_agree(walks)
    # The forward loads passed the descriptor's frame, the counts a related
    # manager's queryset frame.
    assert sum(python[3] is not None for _, python in walks) == 3
    assert sum(python[2] is not None for _, python in walks) >= 3
    # The first forward load was resolved and memoised; both walks found
    # it for the two rows after.
    assert sum(python[4] is not None for _, python in walks) == 2


class _OwnLookup(Order._default_manager._queryset_class):  # type: ignore[misc]
    """A queryset class with its own attribute lookup, which C must not run."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


@pytest.mark.skipif(c_walk_stack is None, reason="walk_stack is built on 3.11 only")
def test_the_stack_walk_makes_frames_only_for_a_queryset_that_carries_an_instance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plain queryset's query makes no frame; one that may name a load keeps it."""
    customer = make_orders(1)[0].customer
    results: list[WalkResult] = []

    def recording(skip: int, *args: Any) -> WalkResult:
        assert c_walk_stack is not None
        result: WalkResult = c_walk_stack(skip + 1, *args)
        results.append(result)
        return result

    monkeypatch.setattr(callsite, "_walk_stack", recording)
    monkeypatch.setattr(callsite, "_origin", None)
    callsite.clear_cache()
    plain = list(Order.objects.all())
    related = customer.orders.count()
    hinted = Order.objects.all()
    hinted._hints = {"instance": customer}
    list(hinted)
    cleared = Order.objects.all()
    cleared._hints = {"instance": None, "other": 1}
    list(cleared)
    own_lookup = _OwnLookup(model=Order)
    list(own_lookup)

    assert len(plain) == 1 and related == 1
    here = f"{__file__.rsplit('/', 1)[-1]}:"
    plain_walk, related_walk, hinted_walk, cleared_walk, own_walk = results
    for walked in (plain_walk, cleared_walk):
        assert here in walked[0]
        assert walked[1:] == (None, None, None, None)
    for walked in (related_walk, hinted_walk, own_walk):
        assert here in walked[0]
        assert walked[1] is not None and walked[2] is not None
    assert related_walk[2].f_locals["self"]._hints["instance"] is customer


class _Slotted(Order._default_manager._queryset_class):  # type: ignore[misc]
    """A queryset class with slots of its own (its instances keep a dict)."""

    __slots__ = ("extra",)


class _HintsProperty(Order._default_manager._queryset_class):  # type: ignore[misc]
    """A queryset class whose hints come from a property, which C must not run."""

    owner: Any = None

    @property
    def _hints(self) -> dict[str, Any]:
        return {"instance": self.owner}

    @_hints.setter
    def _hints(self, value: dict[str, Any]) -> None:
        pass


class _Hints(dict[str, Any]):
    """Hints in a dict subclass, whose lookups C must not make."""


@needs_c
def test_odd_querysets_and_related_manager_calls_agree(walks: Pairs) -> None:
    """Slots, hints from a property or in a dict subclass, in_bulk(), iterator()."""
    customer = make_orders(2)[0].customer
    walks.clear()
    by_property = _HintsProperty(model=Order)
    by_property.owner = customer
    subclassed = Order.objects.all()
    subclassed._hints = _Hints(instance=customer)

    rows = [
        len(Order.objects.in_bulk()),
        len(list(Order.objects.iterator())),
        len(list(customer.orders.iterator())),
        len(customer.orders.in_bulk()),
        len(list(customer.orders.values_list("id"))),
        len(list(_Slotted(model=Order))),
        len(list(by_property)),
        len(list(subclassed)),
    ]

    assert rows == [2, 2, 1, 1, 1, 2, 2, 2]
    assert_agree(walks)


@needs_c
def test_prefetch_and_select_related_agree(walks: Pairs) -> None:
    """prefetch_related() runs its queries through prefetch frames; they agree."""
    make_orders(2)
    walks.clear()
    orders = list(Order.objects.prefetch_related("items__product"))
    customers = list(Customer.objects.select_related("profile"))

    assert len(orders) == 2 and len(customers) == 2
    assert_agree(walks)
    kinds = {kind for _, python in walks for kind, _ in python[3] or []}
    assert lazyload.PREFETCH in kinds


@needs_c
def test_bulk_calls_agree(walks: Pairs) -> None:
    """bulk_create(), bulk_update() and a deletion: the walks agree on each."""
    customers = Customer.objects.bulk_create(
        Customer(name=f"b{i}", email=f"b{i}@example.com") for i in range(3)
    )
    for customer in customers:
        customer.name += "!"
    Customer.objects.bulk_update(customers, ["name"])
    Customer.objects.filter(name__startswith="b").delete()

    assert not Customer.objects.exists()
    assert_agree(walks)
    kinds = {kind for _, python in walks for kind, _ in python[3] or []}
    assert lazyload.BULK_WRITE in kinds


@needs_c
def test_async_orm_through_sync_to_async_agrees(walks: Pairs) -> None:
    """A query run in sync_to_async's thread stops at the same boundary frame."""
    make_orders(2)
    walks.clear()

    async def view() -> int:
        count: int = await sync_to_async(Order.objects.count)()
        return count

    try:
        assert async_to_sync(view)() == 2
        assert_agree(walks)
        # The walk stopped at the thread hop: a frame, no call site from it.
        assert any(python[0] is None and python[1] is not None for _, python in walks)
    finally:
        # sync_to_async's worker thread opened a connection Django never
        # closes (its thread is gone); the driver's own close() can.
        mine = set(connections.all(initialized_only=True))
        for other in list(installer._instrumented):
            if other not in mine and other.connection is not None:
                other.connection.close()
                other.connection = None


def run_in_code(filename: str, depth: int) -> int:
    """Run one query ``depth`` calls deep in code compiled as ``filename``.

    Return the line of this function that called into that code.
    """
    source = (
        "from django.db import connection\n"
        "def dive(depth):\n"
        "    if depth:\n"
        "        return dive(depth - 1)\n"
        "    with connection.cursor() as cursor:\n"
        "        cursor.execute('SELECT 1')\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    line = sys._getframe().f_lineno + 1
    namespace["dive"](depth)
    return line


@needs_c
def test_exec_code_is_user_code_in_both(walks: Pairs) -> None:
    """Code compiled from a string is user code to both walks, at its own line."""
    run_in_code("<string>", 3)

    assert_agree(walks)
    (_, python) = walks[-1]
    assert python[0] == "<string>:6"


@needs_c
@override_settings(PERFPROBE={"CALL_SITE_EXCLUDE": ["deep_library"]})
def test_a_stack_deeper_than_the_limit_agrees(walks: Pairs) -> None:
    """Past _MAX_DEPTH library frames both walks give up with no call site."""
    run_in_code("/opt/deep_library/dive.py", callsite._MAX_DEPTH + 20)

    assert_agree(walks)
    (_, python) = walks[-1]
    assert python[0] is None and python[1] is None


@needs_c
@override_settings(PERFPROBE={"CALL_SITE_EXCLUDE": ["deep_library"]})
def test_a_stack_just_within_the_limit_agrees(walks: Pairs) -> None:
    """A user frame just inside _MAX_DEPTH frames is found by both walks."""
    line = run_in_code("/opt/deep_library/dive.py", callsite._MAX_DEPTH - 20)

    assert_agree(walks)
    (_, python) = walks[-1]
    assert python[0] is not None and python[0].endswith(f"test_framewalk.py:{line}")


@needs_c
def test_the_walks_agree_on_no_frame_and_on_the_top_of_the_stack() -> None:
    """From None both return nothing; from this frame both find this line."""
    assert c_walk is not None
    args = (callsite._code_info, callsite._classify, lazyload.QUERYSET, -1, 10, {})
    args += (None, None)

    nothing = (None, None, None, None, None)
    assert c_walk(None, *args) == walk_frames(None, *args) == nothing
    frame = sys._getframe()
    c, python = c_walk(frame, *args), walk_frames(frame, *args)
    assert c == python and c[1] is frame


@needs_c
def test_an_error_in_classify_propagates_from_the_c_walk() -> None:
    """An exception raised while classifying leaves the C walk unchanged."""
    assert c_walk is not None

    def classify(code: CodeType) -> str | int:
        raise LookupError(code.co_name)

    with pytest.raises(LookupError, match="test_an_error_in_classify"):
        c_walk(sys._getframe(), {}, classify, lazyload.QUERYSET, -1, 10, {}, 1, "")


@needs_c
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((object(), {}, len, 1, -1, 10, {}, 1, ""), "frame must be a frame or None"),
        ((None, [], len, 1, -1, 10, {}, 1, ""), "code_info and memo must be dicts"),
        ((None, {}, len, 1, -1, 10, [], 1, ""), "code_info and memo must be dicts"),
        ((None, {}, len, 1, -1, 10), "exactly 9 arguments"),
    ],
)
def test_the_c_walk_rejects_wrong_arguments(
    args: tuple[Any, ...], message: str
) -> None:
    """Arguments of the wrong type raise TypeError, never crash."""
    assert c_walk is not None
    with pytest.raises(TypeError, match=message):
        c_walk(*args)


def test_the_python_walk_is_used_when_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With PERFPROBE_PURE_PYTHON set the walk loaded is the Python one."""
    monkeypatch.setenv(framewalk.PURE_PYTHON_ENV, "1")
    assert framewalk.load_extension()[:2] == (walk_frames, sys._getframe)


def test_the_c_walk_is_used_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the variable, the C walk is loaded where built, else the Python one."""
    monkeypatch.delenv(framewalk.PURE_PYTHON_ENV, raising=False)
    walk, frame_at, _, _ = framewalk.load_extension()
    if c_walk is None:
        assert (walk, frame_at) == (walk_frames, sys._getframe)
    else:
        assert walk is c_walk and frame_at is not sys._getframe


@needs_c
def test_caller_frame_matches_sys_getframe() -> None:
    """The C frame lookup returns the frames sys._getframe() does, at each depth."""
    assert c_walk is not None
    from perfprobe.db._callsite import caller_frame

    def inner() -> list[tuple[FrameType, FrameType]]:
        # A loop, not a comprehension: that would be a frame of its own.
        pairs = []
        for depth in range(4):
            pairs.append((caller_frame(depth), sys._getframe(depth)))
        return pairs

    pairs = inner()
    assert pairs[0][1].f_code is inner.__code__
    assert all(c is python for c, python in pairs)
    with pytest.raises(ValueError, match="not deep enough"):
        caller_frame(100_000)
    with pytest.raises(ValueError, match="depth must be >= 0"):
        caller_frame(-1)


def test_the_python_walk_is_used_when_the_extension_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An extension that cannot be imported leaves the Python walk in place."""
    monkeypatch.delenv(framewalk.PURE_PYTHON_ENV, raising=False)
    # None in sys.modules makes the import raise ImportError.
    monkeypatch.setitem(sys.modules, "perfprobe.db._callsite", None)
    assert framewalk.load_extension()[:2] == (walk_frames, sys._getframe)


def query_here() -> str:
    """Run one query and return the ``path:line`` expected as its call site."""
    line = sys._getframe().f_lineno + 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return f"{callsite.display_path(os.path.abspath(__file__))}:{line}"


@needs_c
def test_the_c_walk_follows_a_settings_change(walks: Pairs) -> None:
    """Excluding this file after its code was cached moves both walks past it."""
    expected = query_here()
    assert walks[-1][0][0] == expected

    with override_settings(PERFPROBE={"CALL_SITE_EXCLUDE": ["test_framewalk"]}):
        query_here()
    assert_agree(walks)
    # Every frame of this file is now library code; the rest is pytest's.
    assert walks[-1][0][0] != expected
    assert "test_framewalk" not in str(walks[-1][0][0])

    query_here()
    assert walks[-1][0][0] == expected


@needs_c
def test_wrong_result_for_a_user_frame_without_a_line_number() -> None:
    """A user frame whose code has no line table gets the same call site in C."""
    assert c_walk is not None
    namespace: dict[str, Any] = {}
    exec(
        compile("def here(f):\n    return f()\n", "/srv/app/nolines.py", "exec"),
        namespace,
    )
    here = namespace["here"]
    # Such code (rewritten by a tool, say) reports f_lineno None.
    here.__code__ = here.__code__.replace(co_linetable=b"")
    frame = here(lambda: sys._getframe(1))
    assert frame.f_lineno is None
    args = (callsite._code_info, callsite._classify, lazyload.QUERYSET, -1, 10, {})
    args += (None, None)
    callsite.clear_cache()
    python, c = walk_frames(frame, *args)[0], c_walk(frame, *args)[0]
    callsite.clear_cache()
    assert python == "/srv/app/nolines.py:None"
    assert c == python


_SMALL_STACK_SCRIPT = """
import threading
from perfprobe.db._callsite import forget

# The smallest stack Python lets a thread have (some servers choose small ones).
threading.stack_size(32768)
thread = threading.Thread(target=forget)
thread.start()
thread.join()
print("emptied")
"""


@needs_c
def test_crash_emptying_the_caches_on_a_thread_with_a_small_stack() -> None:
    """forget() runs on a thread with a 32 KiB stack without overflowing it."""
    env = {**os.environ, "PYTHONPATH": "src"}
    done = subprocess.run(
        [sys.executable, "-c", _SMALL_STACK_SCRIPT],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "emptied"), done.stderr

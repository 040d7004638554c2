"""Recognise queries Django ran implicitly: lazy loads and bulk-call batches."""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections import deque
from collections.abc import Iterable
from types import FrameType
from typing import Any

import django
from django.db.models import Model
from django.db.models.fields.related_descriptors import ForwardOneToOneDescriptor

from ..events import LazyLoad

# What a frame of Django's code tells about the query running beneath it.
# Kinds are small ints so the per-code-object cache in callsite stays cheap.
NONE = 0
QUERYSET = 1  # a QuerySet method: the queryset may belong to a related manager
PREFETCH = 2  # prefetch_related machinery: the cure, not the disease
MANAGER_WRITE = 3  # an explicit related-manager call such as .add() or .set()
FORWARD = 4  # order.customer, place.restaurant_ptr
REVERSE_ONE = 5  # customer.profile
DEFERRED = 6  # a field left out by .only() or .defer()
GENERIC = 7  # a GenericForeignKey
M2M_READ = 8  # user.groups.count() or .exists() on a many-to-many manager
BULK_WRITE = 9  # bulk_create() or bulk_update(): one call, several batches
DELETION = 10  # a deletion Collector: one delete(), several batches
#: Kinds whose frame alone names the relation loaded (see ``_from_frame``).
EXPLICIT_KINDS = frozenset({FORWARD, REVERSE_ONE, DEFERRED, GENERIC, M2M_READ})

_DJANGO_ROOT = os.path.dirname(os.path.abspath(django.__file__)) + os.sep
_QUERY = "db/models/query.py"
_DESCRIPTORS = "db/models/fields/related_descriptors.py"
_DELETION = "db/models/deletion.py"

_KNOWN_FRAMES: dict[tuple[str, str], int] = {
    (_DESCRIPTORS, "ForwardManyToOneDescriptor.__get__"): FORWARD,
    (_DESCRIPTORS, "ReverseOneToOneDescriptor.__get__"): REVERSE_ONE,
    ("db/models/query_utils.py", "DeferredAttribute.__get__"): DEFERRED,
    ("contrib/contenttypes/fields.py", "GenericForeignKey.__get__"): GENERIC,
    (_QUERY, "prefetch_related_objects"): PREFETCH,
    (_QUERY, "prefetch_one_level"): PREFETCH,
    (_QUERY, "QuerySet.bulk_create"): BULK_WRITE,
    (_QUERY, "QuerySet.bulk_update"): BULK_WRITE,
    # QuerySet.delete() and Model.delete() run every query through these.
    (_DELETION, "Collector.collect"): DELETION,
    (_DELETION, "Collector.delete"): DELETION,
}
_M2M_MANAGER = "create_forward_many_to_many_manager.<locals>.ManyRelatedManager."
_FK_MANAGER = "create_reverse_many_to_one_manager.<locals>.RelatedManager."

DEFERRED_FIX = "remove it from .only()/.defer() or load it up front"


def frame_kind(path: str, qualname: str) -> int:
    """Return the kind of a code object from its absolute path and qualname.

    Everything outside Django, and most of Django, is ``NONE``.
    """
    if not path.startswith(_DJANGO_ROOT):
        return NONE
    module = path[len(_DJANGO_ROOT) :].replace(os.sep, "/")
    kind = _KNOWN_FRAMES.get((module, qualname))
    if kind is not None:
        return kind
    if module == _QUERY and qualname.startswith("QuerySet."):
        return QUERYSET
    if module == _DESCRIPTORS:
        if qualname in (_M2M_MANAGER + "count", _M2M_MANAGER + "exists"):
            return M2M_READ
        if qualname.startswith((_M2M_MANAGER, _FK_MANAGER)):
            return MANAGER_WRITE
    return NONE


class LazyLoadTracker:
    """Collect the telling frames of one stack walk, innermost first.

    Frames are only remembered during the walk; their locals are read in
    ``result()`` and ``bulk_call()``, once, and only for the frame that
    decides.
    """

    __slots__ = (
        "_bulk",
        "_bulk_kind",
        "_explicit",
        "_explicit_kind",
        "_manager_write",
        "_prefetching",
        "_queryset",
    )

    def __init__(self) -> None:
        self._explicit: FrameType | None = None
        self._explicit_kind = NONE
        self._queryset: FrameType | None = None
        self._prefetching = False
        self._manager_write = False
        self._bulk: FrameType | None = None
        self._bulk_kind = NONE

    def observe(self, kind: int, frame: FrameType) -> None:
        """Note a frame whose code ``frame_kind()`` gave the non-zero ``kind``."""
        self.observe_all(((kind, frame),))

    def observe_all(self, telling: Iterable[tuple[int, FrameType]]) -> None:
        """Note each ``(kind, frame)`` of a walk, innermost first.

        One call for the whole walk: a query's stack has several telling
        frames, and this runs for every query.
        """
        for kind, frame in telling:
            if kind == QUERYSET:
                if self._queryset is None:
                    self._queryset = frame
            elif kind == PREFETCH:
                self._prefetching = True
            elif kind == MANAGER_WRITE:
                self._manager_write = True
            elif kind in (BULK_WRITE, DELETION):
                # Outermost wins: bulk_update() runs one update() per batch,
                # and only the outer call is the one the user made.
                self._bulk = frame
                self._bulk_kind = kind
            elif self._explicit is None:
                self._explicit = frame
                self._explicit_kind = kind

    def result(self, user_frame: FrameType | None = None) -> LazyLoad | None:
        """Return the lazy load the observed frames show, or ``None``.

        ``user_frame``, the frame of the call site, is searched for the row
        the lazily loaded instance came through, so that the fix can name
        the whole lookup path. Raises whatever Django's model metadata
        raises on a broken model; the caller treats that like any other
        failure inside perfprobe.
        """
        if self._prefetching:
            return None
        found: tuple[LazyLoad, Any] | None = None
        if self._explicit is not None:
            found = _from_frame(self._explicit_kind, self._explicit.f_locals)
        elif (
            self._queryset is not None
            and not self._manager_write
            # A bulk call is an explicit write, whatever manager it went
            # through.
            and self._bulk is None
        ):
            found = _from_queryset(self._queryset.f_locals.get("self"))
        if found is None:
            return None
        lazy, instance = found
        if user_frame is None:
            return lazy
        return _through_parent(lazy, instance, user_frame.f_locals)

    def bulk_call(self) -> int:
        """Return the number of the bulk ORM call seen in the walk, or 0."""
        if self._bulk is None:
            return 0
        return _bulk_call_number(self._bulk_kind, self._bulk.f_locals)


class _LastBulkCall(threading.local):
    """The bulk call this thread's latest batched query belonged to."""

    owner: weakref.ref[Any] | None = None
    rows_id = 0
    number = 0


_last_bulk_call = _LastBulkCall()
# next() on a count is atomic under the GIL, so threads never share a number.
_bulk_numbers = itertools.count(1)


def _bulk_call_number(kind: int, local: dict[str, Any]) -> int:
    """Return one number for every query of one bulk call, a new one per call.

    A call is told apart by the object running it, held weakly so that a
    later object at the same address is not mistaken for it: a Collector is
    new for every deletion; a queryset may be reused for several
    bulk_create() calls, so those are told apart by their list of rows too.
    """
    owner = local.get("self")
    rows_id = id(local.get("objs")) if kind == BULK_WRITE else 0
    last = _last_bulk_call
    if (
        owner is not None
        and last.owner is not None
        and last.owner() is owner
        and last.rows_id == rows_id
    ):
        return last.number
    try:
        last.owner = weakref.ref(owner)
    except TypeError:
        last.owner = None
    last.rows_id = rows_id
    last.number = next(_bulk_numbers)
    return last.number


def _from_frame(kind: int, local: dict[str, Any]) -> tuple[LazyLoad, Any] | None:
    """Return a descriptor or manager frame's lazy load and its instance."""
    owner = local.get("self")
    if kind == M2M_READ:
        # count() and exists() query the through table directly, so the
        # queryset alone would not name the relation; the manager does.
        if owner is None:
            return None
        lazy = _many_to_many(owner.instance, owner.model, owner.through)
        return (lazy, owner.instance) if lazy is not None else None
    instance = local.get("instance")
    if owner is None or instance is None:
        return None
    model = type(instance).__name__
    if kind == FORWARD:
        name = owner.field.name
        one_to_one = isinstance(owner, ForwardOneToOneDescriptor)
        relation = "forward one-to-one" if one_to_one else "forward foreign key"
        return LazyLoad(model, name, relation, f'select_related("{name}")'), instance
    if kind == REVERSE_ONE:
        name = owner.related.accessor_name
        lazy = LazyLoad(model, name, "reverse one-to-one", f'select_related("{name}")')
        return lazy, instance
    if kind == DEFERRED:
        lazy = LazyLoad(model, owner.field.attname, "deferred field", DEFERRED_FIX)
        return lazy, instance
    if kind == GENERIC:
        name = owner.name
        lazy = LazyLoad(
            model, name, "generic foreign key", f'prefetch_related("{name}")'
        )
        return lazy, instance
    return None


def hinted_instance(queryset: Any) -> Any:
    """Return the instance ``queryset`` carries as a router hint, or ``None``.

    Related managers mark their querysets with the owning instance. The
    definition of what the C stack walk (``_callsite.walk_stack``) tells
    without running code, to leave out a queryset frame that has none.
    """
    hints = getattr(queryset, "_hints", None)
    return hints.get("instance") if hints else None


def _from_queryset(queryset: Any) -> tuple[LazyLoad, Any] | None:
    """Return a related manager queryset's lazy load and its instance."""
    # A reverse foreign key also registers the hinted instance as a known
    # related object, which is what tells the two managers apart.
    instance = hinted_instance(queryset)
    if instance is None:
        return None
    known = getattr(queryset, "_known_related_objects", None)
    if known:
        field = next(iter(known))
        name = field.remote_field.accessor_name
        if name is None:
            return None
        lazy = LazyLoad(
            type(instance).__name__,
            name,
            "reverse foreign key",
            f'prefetch_related("{name}")',
        )
        return lazy, instance
    tables = {join.table_name for join in queryset.query.alias_map.values()}
    m2m = _many_to_many(instance, queryset.model, None, tables)
    return (m2m, instance) if m2m is not None else None


def _many_to_many(
    instance: Any,
    target: Any,
    through: Any = None,
    tables: set[str] | None = None,
) -> LazyLoad | None:
    """Name the many-to-many relation from ``instance`` to ``target``.

    A relation matches when its through model is ``through`` or, failing
    that, when its through table is among ``tables`` (the queryset's joins),
    which rules out querysets that merely carry an instance hint, such as
    ``refresh_from_db()``'s.
    """
    target_model = target._meta.concrete_model
    for field in type(instance)._meta.get_fields():
        if not field.many_to_many:
            continue
        if field.concrete:
            field_through, name = field.remote_field.through, field.name
        else:
            field_through, name = field.through, field.accessor_name
        if name is None or field.related_model._meta.concrete_model is not target_model:
            continue
        if through is not None:
            matches = field_through is through
        else:
            matches = tables is not None and field_through._meta.db_table in tables
        if matches:
            return LazyLoad(
                type(instance).__name__,
                name,
                "many-to-many",
                f'prefetch_related("{name}")',
            )
    return None


# Bounds on the search for the row an instance came through: a lookup path
# of up to this many relations, this many related objects looked at, and
# this many of the call site's locals (a module-level call site has all
# the module's globals).
_MAX_PATH = 3
_MAX_VISITS = 2000
_MAX_ROOTS = 200


def _through_parent(lazy: LazyLoad, instance: Any, local: dict[str, Any]) -> LazyLoad:
    """Extend ``lazy``'s fix if ``instance`` came through another row's relation.

    ``for item in OrderItem.objects.select_related("order")`` followed by
    ``item.order.customer`` loads Order.customer once per item; the fix is
    ``select_related("order__customer")`` on the OrderItem queryset, found
    here because ``item`` is a local whose related-object cache holds that
    very Order.
    """
    if not lazy.fix.startswith(("select_related(", "prefetch_related(")):
        return lazy
    # A cached relation can also point back at a parent (a reverse foreign
    # key's rows cache their owner; one-to-one caches go both ways), so when
    # the call site names the instance itself, only a prefetch cache, which
    # points from the queryset's rows down to what was prefetched, is
    # trusted to say where the instance came from.
    named = any(value is instance for value in local.values())
    path = _find_path(instance, local.values(), prefetch_only=named)
    if path is None:
        return lazy
    root, names, prefetched = path
    method = "prefetch_related" if prefetched else lazy.fix.split("(", 1)[0]
    lookup = "__".join([*names, lazy.field])
    via = ".".join([type(root).__name__, *names])
    return LazyLoad(lazy.model, lazy.field, lazy.relation, f'{method}("{lookup}")', via)


def _find_path(
    target: Any, roots: Iterable[Any], prefetch_only: bool
) -> tuple[Model, list[str], bool] | None:
    """Return the instance among ``roots`` whose cached relations reach ``target``.

    Breadth first, so the shortest path wins. Returns the root, the relation
    names from it to ``target``, and whether a prefetch cache is on the way.
    """
    queue: deque[tuple[Model, Model, list[str], bool]] = deque()
    seen = {id(target)}
    for value in itertools.islice(roots, _MAX_ROOTS):
        if isinstance(value, Model) and id(value) not in seen:
            seen.add(id(value))
            queue.append((value, value, [], False))
    visits = 0
    while queue and visits < _MAX_VISITS:
        root, node, names, prefetched = queue.popleft()
        for name, child, by_prefetch in _related_rows(node, prefetch_only):
            visits += 1
            if child is target:
                return root, [*names, name], prefetched or by_prefetch
            if len(names) + 1 < _MAX_PATH and id(child) not in seen:
                seen.add(id(child))
                queue.append((root, child, [*names, name], prefetched or by_prefetch))
            if visits >= _MAX_VISITS:
                break
    return None


def _related_rows(
    node: Model, prefetch_only: bool
) -> Iterable[tuple[str, Model, bool]]:
    """Yield ``(relation name, row, came by prefetch)`` for each cached row."""
    state = getattr(node, "_state", None)
    if not prefetch_only and state is not None:
        for name, child in getattr(state, "fields_cache", {}).items():
            if isinstance(child, Model):
                yield name, child, False
    prefetched = getattr(node, "_prefetched_objects_cache", None) or {}
    for name, queryset in prefetched.items():
        rows = getattr(queryset, "_result_cache", None) or ()
        for child in itertools.islice(rows, _MAX_VISITS):
            if isinstance(child, Model):
                yield name, child, True

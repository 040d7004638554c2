"""Recognise queries Django ran implicitly: lazy relations and deferred fields."""

from __future__ import annotations

import os
from types import FrameType
from typing import Any

import django
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

_DJANGO_ROOT = os.path.dirname(os.path.abspath(django.__file__)) + os.sep
_QUERY = "db/models/query.py"
_DESCRIPTORS = "db/models/fields/related_descriptors.py"

_KNOWN_FRAMES: dict[tuple[str, str], int] = {
    (_DESCRIPTORS, "ForwardManyToOneDescriptor.__get__"): FORWARD,
    (_DESCRIPTORS, "ReverseOneToOneDescriptor.__get__"): REVERSE_ONE,
    ("db/models/query_utils.py", "DeferredAttribute.__get__"): DEFERRED,
    ("contrib/contenttypes/fields.py", "GenericForeignKey.__get__"): GENERIC,
    (_QUERY, "prefetch_related_objects"): PREFETCH,
    (_QUERY, "prefetch_one_level"): PREFETCH,
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
    ``result()``, once, and only for the frame that decides.
    """

    __slots__ = (
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

    def observe(self, kind: int, frame: FrameType) -> None:
        """Note a frame whose code ``frame_kind()`` gave the non-zero ``kind``."""
        if kind == QUERYSET:
            if self._queryset is None:
                self._queryset = frame
        elif kind == PREFETCH:
            self._prefetching = True
        elif kind == MANAGER_WRITE:
            self._manager_write = True
        elif self._explicit is None:
            self._explicit = frame
            self._explicit_kind = kind

    def result(self) -> LazyLoad | None:
        """Return the lazy load the observed frames show, or ``None``.

        Raises whatever Django's model metadata raises on a broken model;
        the caller treats that like any other failure inside perfprobe.
        """
        if self._prefetching:
            return None
        if self._explicit is not None:
            return _from_frame(self._explicit_kind, self._explicit.f_locals)
        if self._queryset is not None and not self._manager_write:
            return _from_queryset(self._queryset.f_locals.get("self"))
        return None


def _from_frame(kind: int, local: dict[str, Any]) -> LazyLoad | None:
    owner = local.get("self")
    if kind == M2M_READ:
        # count() and exists() query the through table directly, so the
        # queryset alone would not name the relation; the manager does.
        if owner is None:
            return None
        return _many_to_many(owner.instance, owner.model, owner.through)
    instance = local.get("instance")
    if owner is None or instance is None:
        return None
    model = type(instance).__name__
    if kind == FORWARD:
        name = owner.field.name
        one_to_one = isinstance(owner, ForwardOneToOneDescriptor)
        relation = "forward one-to-one" if one_to_one else "forward foreign key"
        return LazyLoad(model, name, relation, f'select_related("{name}")')
    if kind == REVERSE_ONE:
        name = owner.related.accessor_name
        return LazyLoad(model, name, "reverse one-to-one", f'select_related("{name}")')
    if kind == DEFERRED:
        return LazyLoad(model, owner.field.attname, "deferred field", DEFERRED_FIX)
    if kind == GENERIC:
        name = owner.name
        return LazyLoad(
            model, name, "generic foreign key", f'prefetch_related("{name}")'
        )
    return None


def _from_queryset(queryset: Any) -> LazyLoad | None:
    # Related managers mark their querysets with the owning instance as a
    # router hint; a reverse foreign key also registers that instance as a
    # known related object, which is what tells the two managers apart.
    hints = getattr(queryset, "_hints", None)
    instance = hints.get("instance") if hints else None
    if instance is None:
        return None
    known = getattr(queryset, "_known_related_objects", None)
    if known:
        field = next(iter(known))
        name = field.remote_field.accessor_name
        if name is None:
            return None
        return LazyLoad(
            type(instance).__name__,
            name,
            "reverse foreign key",
            f'prefetch_related("{name}")',
        )
    tables = {join.table_name for join in queryset.query.alias_map.values()}
    return _many_to_many(instance, queryset.model, None, tables)


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

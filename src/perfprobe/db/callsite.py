"""Find the line of user code behind a query, and any lazy load on the way."""

from __future__ import annotations

import os
import sys
import sysconfig
import threading
import traceback
from collections.abc import Callable, Container
from types import CodeType, FrameType
from typing import Any, NamedTuple

import asgiref
import django
from django.conf import settings
from django.core.signals import setting_changed

from ..conf import SETTINGS_NAME, get_settings
from ..events import LazyLoad
from ..scope import Scope
from . import asyncsite, lazyload
from .framewalk import LazyMemo, WalkResult, load_extension
from .params import _PLAIN


class QueryOrigin(NamedTuple):
    """Where a query came from: ``path:line`` in user code, and any lazy load.

    ``bulk_call`` numbers the bulk ORM call (``bulk_create()``,
    ``bulk_update()``, a deletion) the query is a batch of; 0 for none.
    """

    call_site: str | None
    lazy_load: LazyLoad | None
    bulk_call: int = 0


Origin = Callable[
    [int, Scope | None, int | None, str | None, Any],
    tuple[str | None, LazyLoad | None, int, int | None],
]


def _package_root(module_file: str) -> str:
    return os.path.dirname(os.path.abspath(module_file)) + os.sep


_LIBRARY_ROOTS = tuple(
    {
        _package_root(django.__file__),
        _package_root(asgiref.__file__),
        # perfprobe itself: the package directory, not any path that merely
        # contains "perfprobe" (the project's own tests do).
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
        # The environment's scripts folder (.venv/bin) holds console scripts
        # such as pytest and gunicorn: with a virtualenv inside the project,
        # a query run by a plugin (pytest-django's set-up, say) would
        # otherwise be placed at ".venv/bin/pytest:8".
        *(
            os.path.abspath(path) + os.sep
            for key in ("stdlib", "platstdlib", "scripts")
            if (path := sysconfig.get_paths().get(key))
        ),
    }
)
_LIBRARY_FRAGMENTS = (
    f"{os.sep}site-packages{os.sep}",
    f"{os.sep}dist-packages{os.sep}",
)

# A deep pile of library frames (recursive template rendering, say) must not
# make every query walk it all; past this depth the call site is unknown.
_MAX_DEPTH = 200
# Code objects are created once per function in normal code, but exec() and
# templating engines can mint new ones forever; past this many, start over.
_MAX_CACHED_CODES = 20_000

# For each code object seen, keyed by id(): a display path (str) for user
# code or the lazyload frame kind (int, 0 for uninteresting) for library
# code. Not keyed by the code object: code objects compare equal across
# files when only their filenames differ, and hashing one rehashes its
# constants every time. _code_refs holds each code object, so its id cannot
# be reused while its entry lives: an id found is the very same code, and
# the walk, which runs through some twenty frames per query, needs no
# identity check.
_code_info: dict[int, str | int] = {}
_code_refs: dict[int, CodeType] = {}
# Re-entrant: clearing the cache drops code objects, whose weakref callbacks
# (or a signal handler, or a finaliser run by the collector) may run a query
# on this thread, whose walk classifies code and takes this lock again.
_cache_lock = threading.RLock()
# The frame kind of asgiref's sync_to_async thread entry (lazyload's are >= 0).
_ASYNC_BOUNDARY = -1
_QUERYSET = lazyload.QUERYSET
_ASGIREF_ROOT = _package_root(asgiref.__file__)
_base_dir: str | None = None
# Counts clear_cache() calls: a classification that began under other
# settings (another thread cleared the cache meanwhile) is not stored.
_generation = 0


def _display_base() -> str:
    global _base_dir
    if _base_dir is None:
        base = getattr(settings, "BASE_DIR", None) if settings.configured else None
        _base_dir = os.path.abspath(str(base) if base else os.getcwd())
    return _base_dir


def is_library_path(path: str) -> bool:
    """Return whether an absolute ``path`` is Django, perfprobe or other library.

    Library code is Django, asgiref, perfprobe, the standard library, the
    environment's scripts folder (console scripts such as ``pytest``),
    anything under site-packages or dist-packages, and any path containing a
    fragment listed in ``PERFPROBE["CALL_SITE_EXCLUDE"]``.
    """
    if path.startswith("<"):
        return path.startswith("<frozen")
    if path.startswith(_LIBRARY_ROOTS):
        return True
    if any(fragment in path for fragment in _LIBRARY_FRAGMENTS):
        return True
    return any(fragment in path for fragment in get_settings().CALL_SITE_EXCLUDE)


def display_path(path: str) -> str:
    """Return ``path`` relative to ``BASE_DIR`` (or the working directory).

    Paths outside it are returned absolute.
    """
    base = _display_base()
    if path.startswith(base + os.sep):
        return path[len(base) + 1 :]
    return path


def _classify(code: CodeType) -> str | int:
    generation = _generation
    filename = code.co_filename
    path = filename if filename.startswith("<") else os.path.abspath(filename)
    info: str | int
    if path.startswith(_ASGIREF_ROOT) and code.co_qualname == asyncsite.THREAD_HANDLER:
        info = _ASYNC_BOUNDARY
    elif is_library_path(path):
        info = lazyload.frame_kind(path, code.co_qualname)
    else:
        info = display_path(path)
    # Writers take the lock and keep the order (a reference is added before
    # its entry and dropped after it), so no thread ever finds an entry
    # whose code object is not held.
    with _cache_lock:
        if generation != _generation:
            # Maybe worked out from the old settings: good for this walk only.
            return info
        if len(_code_info) >= _MAX_CACHED_CODES:
            _code_info.clear()
            _code_refs.clear()
        _code_refs[id(code)] = code
        _code_info[id(code)] = info
    return info


def _user_site(frame: FrameType) -> str | None:
    code = frame.f_code
    info = _code_info.get(id(code))
    if info is None:
        info = _classify(code)
    return f"{info}:{frame.f_lineno}" if isinstance(info, str) else None


def find_query_origin(
    frame: FrameType | None = None, scope: Scope | None = None
) -> QueryOrigin:
    """Walk outward from ``frame`` (default: the caller's) to the first user frame.

    Return its ``path:line`` (``None`` when the whole stack is library code),
    the lazy load and the bulk call recognised among the library frames on
    the way. A query run through ``sync_to_async`` (the async ORM) is
    traced, past the thread hop, to the awaiting line of the task that
    opened ``scope``, the query's current scope. Raises
    ``ImproperlyConfigured`` when ``PERFPROBE`` is invalid.
    """
    if frame is None:
        frame = sys._getframe(1)
    return QueryOrigin(*query_origin(frame, scope, None))


# caller_frame(depth) returns what sys._getframe(depth) would; the C one
# raises no audit event, which cost the recorder about 1k instructions a
# query. The C walk caches code kinds and call sites; _forget_walk_cache()
# empties them when the classification may change (clear_cache()).
# _walk_stack(skip, ...) is _walk(caller_frame(skip), ...) reading CPython
# 3.11's frame records, with no frame object made for the frames passed;
# None where it is not built (see stack_origin).
_walk, caller_frame, _forget_walk_cache, _walk_stack = load_extension()


# Lazy loads already resolved, keyed by scope id, SQL, the user code object,
# the offset of its instruction that triggered the load, and the frame
# kind. In an N+1 loop the same attribute access on the same line runs the
# same SQL for every row; resolving it (descriptor locals, the search for
# the row it came through) once per scope instead of once per row is most
# of what recording such a query costs. Scope ids are never reused, so an
# entry can only be stale by size: past this many, start over.
_lazy_memo: LazyMemo = {}
_MAX_LAZY_MEMO = 4096


def query_origin(
    frame: FrameType | None, scope: Scope | None, sql: str | None
) -> tuple[str | None, LazyLoad | None, int]:
    """Return ``find_query_origin()``'s call site, lazy load and bulk call number.

    A plain tuple, for the recorder's hot path. With ``sql`` and a
    ``scope``, a lazy load found for the same SQL at the same instruction
    of the same user code earlier in that scope is reused rather than
    resolved again.
    """
    walked = _walk(
        frame,
        _code_info,
        _classify,
        _QUERYSET,
        _ASYNC_BOUNDARY,
        _MAX_DEPTH,
        _lazy_memo,
        None if scope is None else scope.id,
        sql,
    )
    return _resolve(walked, scope, sql)


def stack_origin(
    depth: int, scope: Scope | None, sql: str | None
) -> tuple[str | None, LazyLoad | None, int]:
    """Return ``query_origin()`` for the frame ``depth`` calls above the caller's.

    ``depth`` 0 is the calling function itself. Where the C stack walk is
    built (CPython 3.11), no frame object is made for the frames passed,
    and none at all for most queries; the result is the same.
    """
    if _walk_stack is None:
        return query_origin(caller_frame(depth + 1), scope, sql)
    walked = _walk_stack(
        depth + 1,
        _code_info,
        _classify,
        _QUERYSET,
        _ASYNC_BOUNDARY,
        _MAX_DEPTH,
        _lazy_memo,
        None if scope is None else scope.id,
        sql,
    )
    if walked[1] is None and walked[2] is None and walked[3] is None:
        # No frame to read (see walk_stack): the memo's lazy load, or none.
        return walked[0], walked[4], 0
    return _resolve(walked, scope, sql)


def _resolve(
    walked: WalkResult, scope: Scope | None, sql: str | None
) -> tuple[str | None, LazyLoad | None, int]:
    call_site, stop, queryset, telling, lazy = walked
    if lazy is not None:
        # The loop's later rows: the walk found this load in the memo.
        return call_site, lazy, 0
    user_frame: FrameType | None = None
    if stop is not None:
        if call_site is None:
            # Frames above the thread hop belong to whatever started this
            # thread, never to the code that awaits the call.
            call_site = asyncsite.awaiting_site(stop, scope, _user_site)
        else:
            user_frame = stop
    if telling is None:
        if queryset is None:
            return call_site, None, 0
        telling = []
    memo_key: tuple[int, str, int, int, int] | None = None
    if (
        len(telling) == 1
        and user_frame is not None
        and scope is not None
        and sql is not None
    ):
        # Only a single explicit frame's result is ever stored (below), so
        # a hit (which the walk looks for) cannot stand for a walk that saw
        # a prefetch or a bulk call.
        kind = telling[0][0]
        memo_key = (scope.id, sql, id(user_frame.f_code), user_frame.f_lasti, kind)
    tracker = lazyload.LazyLoadTracker()
    if queryset is not None:
        tracker.observe(lazyload.QUERYSET, queryset)
    tracker.observe_all(telling)
    lazy = tracker.result(user_frame)
    if memo_key is not None and lazy is not None and kind in lazyload.EXPLICIT_KINDS:
        if len(_lazy_memo) >= _MAX_LAZY_MEMO:
            _lazy_memo.clear()
        _lazy_memo[memo_key] = lazy
    return call_site, lazy, tracker.bulk_call()


def forget_scope_loads(scope_ids: Container[int]) -> None:
    """Drop the memo's lazy loads of the scopes ``scope_ids``, which have closed.

    A closed scope's id is never seen again, so its entries could only wait
    for the memo to fill (some thousand scopes), holding their lazy loads
    long enough for the cyclic collector to move them to its oldest
    generation. The memo is scanned once for all of them: a batch of
    request scopes closing together (``Collector.close_pending``) pays one
    scan, not one each.
    """
    memo = _lazy_memo
    if memo:
        # A copy of the keys: other threads' walks add entries meanwhile.
        for key in list(memo):
            if key[0] in scope_ids:
                memo.pop(key, None)


def _load_origin() -> Origin | None:
    if _walk_stack is None:
        return None
    try:
        from ._callsite import Walker
    except ImportError:  # pragma: no cover - built with walk_stack, always
        return None
    return Walker(
        _code_info,
        _classify,
        _QUERYSET,
        _ASYNC_BOUNDARY,
        _MAX_DEPTH,
        _lazy_memo,
        _resolve,
        _PLAIN,
    )


#: ``_origin(skip, scope, scope_id, sql, params)``, ``scope_id`` being
#: ``scope.id`` (``None`` for no scope): the recorder's common path in one
#: C call with the walk's settings bound (``_callsite.Walker``): what
#: ``stack_origin(skip, scope, sql)`` called from the same frame returns,
#: and ``params.flat_hash(params, _PLAIN)`` (``None`` where that is ``None``
#: or raises). ``_resolve`` is called only when the walk made frames, and
#: the lazy-load memo is read through a cache that needs no key tuple and
#: no hash of the SQL. ``None`` where ``_walk_stack`` is.
_origin = _load_origin()


def clear_cache() -> None:
    """Forget every classified code object and the display base directory."""
    global _base_dir, _generation
    # The base first: a classification that sees the new generation must
    # not find the old base still set.
    _base_dir = None
    with _cache_lock:
        _generation += 1
        _code_info.clear()
        _code_refs.clear()
    _forget_walk_cache()
    _lazy_memo.clear()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTINGS_NAME, "BASE_DIR"):
        clear_cache()


setting_changed.connect(_on_setting_changed, dispatch_uid="perfprobe.db.callsite")


def find_raise_site(exc: BaseException) -> str | None:
    """Return ``path:line`` of the innermost user-code frame that ``exc`` passed.

    That is where the user's code raised it, or called the library call
    that did; ``None`` when every frame is library code.
    """
    frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]
    lines = [line for _, line in traceback.walk_tb(exc.__traceback__)]
    for frame, line in zip(reversed(frames), reversed(lines), strict=True):
        path = frame.f_code.co_filename
        if not is_library_path(os.path.abspath(path)):
            return f"{display_path(os.path.abspath(path))}:{line}"
    return None

"""Tell whether a query's call site is a line of user code rendering a template.

The call site of a query is the first frame of user code; Django's template
engine is library code, so a lazy load inside ``{% for %}`` in a template is
recorded at the view's line that rendered it (``return render(...)``). The
query path records no template frames, so this is read from the source of
that line when the report is built: the statement there calls ``render()``,
``render_to_string()`` or a template's ``.render()``. A statement that also
holds a comprehension or a lambda is not taken for one, since its own loop
may have run the queries. Only a regular file of at most
``MAX_SOURCE_BYTES`` is read: a call site can name a pipe (a script run as
``python <(...)``), a device or generated code.
"""

from __future__ import annotations

import ast
import functools
import os
import stat

from django.conf import settings

__all__ = ["MAX_SOURCE_BYTES", "template_render_at"]

#: The largest source read, in bytes: a view module is far smaller.
MAX_SOURCE_BYTES = 1 << 19
# Opening a FIFO for reading waits for a writer unless non-blocking; a
# terminal would become the controlling one.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)

_RENDER_FUNCTIONS = frozenset({"render", "render_to_string", "render_to_response"})
_TEMPLATE_LOADERS = frozenset({"get_template", "select_template", "Template"})
_OWN_LOOPS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)
# Compound statements hold other statements; the line's own is the innermost.
_SIMPLE_STATEMENTS = (
    ast.Return,
    ast.Assign,
    ast.AnnAssign,
    ast.AugAssign,
    ast.Expr,
)


def template_render_at(call_site: str | None) -> str | None:
    """Return the call that renders a template at ``call_site``, or ``None``.

    ``call_site`` is ``path:line`` as a report shows it (relative to
    ``BASE_DIR`` or the working directory). The answer is the name of the
    rendering call (``"render"``, ``"render_to_string"``,
    ``"template.render"``); ``None`` when the source cannot be read or
    parsed, or the line's statement renders no template.
    """
    if not call_site:
        return None
    path, _, line_text = call_site.rpartition(":")
    # isdigit() would let "²" through, which int() refuses.
    if not path or not line_text.isdecimal():
        return None
    full_path = _absolute(path)
    try:
        found = os.stat(full_path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(found.st_mode) or found.st_size > MAX_SOURCE_BYTES:
        return None
    lines = _renders_at(full_path, found.st_mtime_ns, found.st_size)
    return lines.get(int(line_text))


def _absolute(path: str) -> str:
    if os.path.isabs(path):
        return path
    base = getattr(settings, "BASE_DIR", None) if settings.configured else None
    return os.path.join(str(base) if base else os.getcwd(), path)


# As many files as a report has N+1 findings by default (MAX_FINGERPRINTS),
# so that the live page, built again, reads none again: an LRU smaller than
# the files read in turn misses every time.
@functools.lru_cache(maxsize=512)
def _renders_at(path: str, mtime_ns: int, size: int) -> dict[int, str]:
    """Return, for each line of a rendering statement, the call it makes.

    Keyed by the file's modification time and size as well, so an edited
    file is read again.
    """
    source = _read_source(path)
    if source is None:
        return {}
    try:
        # Bytes, so that the parser honours a coding declaration.
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # Not Python, or nested beyond what the parser takes: no answer.
        return {}
    lines: dict[int, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, _SIMPLE_STATEMENTS) or node.end_lineno is None:
            continue
        name = _rendering_call(node)
        if name is not None:
            for line in range(node.lineno, node.end_lineno + 1):
                lines[line] = name
    return lines


def _read_source(path: str) -> bytes | None:
    """Return the bytes of the regular file at ``path``, or ``None``.

    ``None`` too when it holds more than ``MAX_SOURCE_BYTES``. Checked again
    once open: the path may have been replaced since it was looked at.
    """
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except (OSError, ValueError):
        return None
    with open(descriptor, "rb", closefd=True) as file:
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                return None
            source = file.read(MAX_SOURCE_BYTES + 1)
        except OSError:
            return None
    return source if len(source) <= MAX_SOURCE_BYTES else None


def _rendering_call(statement: ast.stmt) -> str | None:
    found = None
    for node in ast.walk(statement):
        if isinstance(node, _OWN_LOOPS):
            return None
        if found is None and isinstance(node, ast.Call):
            found = _call_name(node)
    return found


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name) and func.id in _RENDER_FUNCTIONS:
        return func.id
    if not isinstance(func, ast.Attribute):
        return None
    if func.attr in ("render_to_string", "render_to_response"):
        return func.attr
    if func.attr != "render":
        return None
    # A .render() is a template's when its receiver is named for one
    # (template.render(...)) or was just loaded (get_template(...).render()).
    receiver = func.value
    if isinstance(receiver, ast.Call):
        loader = receiver.func
        loader_name = (
            loader.id
            if isinstance(loader, ast.Name)
            else loader.attr
            if isinstance(loader, ast.Attribute)
            else ""
        )
        return f"{loader_name}().render" if loader_name in _TEMPLATE_LOADERS else None
    receiver_name = (
        receiver.id
        if isinstance(receiver, ast.Name)
        else receiver.attr
        if isinstance(receiver, ast.Attribute)
        else ""
    )
    if "template" in receiver_name.lower() or receiver_name == "shortcuts":
        return f"{receiver_name}.render"
    return None

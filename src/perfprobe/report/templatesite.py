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
``python <(...)``), a device or generated code. A statement sending a
request through a test client (``client.get(...)``) is told apart too: a
TemplateResponse's template, rendered after the view returned, has that line
as its call site under the test client.
"""

from __future__ import annotations

import ast
import functools
import os
import stat

from django.conf import settings

__all__ = [
    "MAX_SOURCE_BYTES",
    "client_request_at",
    "in_no_file",
    "template_render_at",
]

#: The largest source read, in bytes: a view module is far smaller.
MAX_SOURCE_BYTES = 1 << 19
# Opening a FIFO for reading waits for a writer unless non-blocking; a
# terminal would become the controlling one.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)

_RENDER_FUNCTIONS = frozenset({"render", "render_to_string", "render_to_response"})
_TEMPLATE_LOADERS = frozenset({"get_template", "select_template", "Template"})
# Django's test client (and its async one) sends requests by these methods.
_CLIENT_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "trace", "generic"}
)
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
    return _calls_at(call_site, "render")


def client_request_at(call_site: str | None) -> str | None:
    """Return the test-client request made at ``call_site``, or ``None``.

    Under Django's test client the first frame of user code above a
    TemplateResponse's rendering is the test's line that sent the request
    (``client.get("/books/")``): the answer is that call's name
    (``"client.get"``), ``None`` when the line's statement makes none.
    """
    return _calls_at(call_site, "client")


def in_no_file(call_site: str | None) -> bool:
    """Return whether ``call_site`` is a line of code that has no file.

    Code typed into ``manage.py shell`` (``<console>``), given to its ``-c``
    (``<string>``) or piped in (``<stdin>``) is named like this by Python.
    In a request, such a line is the one that sent it through a test
    client (a view is code in a file), as a test's ``client.get`` line is.
    """
    if not call_site:
        return False
    path = call_site.rpartition(":")[0]
    return path.startswith("<") and path.endswith(">")


def _calls_at(call_site: str | None, kind: str) -> str | None:
    source = source_at(call_site)
    if source is None:
        return None
    full_path, mtime_ns, size, line = source
    call = _renders_at(full_path, mtime_ns, size).get(line)
    return call[1] if call is not None and call[0] == kind else None


def source_at(call_site: str | None) -> tuple[str, int, int, int] | None:
    """Return the file a ``path:line`` call site names, if it may be read.

    ``(absolute path, mtime_ns, size, line)`` for a regular file of at most
    ``MAX_SOURCE_BYTES`` (the modification time and size key the caches of
    what was read from it), else ``None``: no line number, no such file, a
    FIFO or a device, which would block or never end.
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
    return full_path, found.st_mtime_ns, found.st_size, int(line_text)


def _absolute(path: str) -> str:
    if os.path.isabs(path):
        return path
    base = getattr(settings, "BASE_DIR", None) if settings.configured else None
    return os.path.join(str(base) if base else os.getcwd(), path)


# As many files as a report has N+1 findings by default (MAX_FINGERPRINTS),
# so that the live page, built again, reads none again: an LRU smaller than
# the files read in turn misses every time.
@functools.lru_cache(maxsize=512)
def _renders_at(path: str, mtime_ns: int, size: int) -> dict[int, tuple[str, str]]:
    """Return, for each line of a rendering statement, ``("render", call)``.

    And ``("client", call)`` for each line of a statement sending a request
    through a test client.

    Keyed by the file's modification time and size as well, so an edited
    file is read again.
    """
    tree = parsed_source(path)
    if tree is None:
        return {}
    lines: dict[int, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, _SIMPLE_STATEMENTS) or node.end_lineno is None:
            continue
        found = _rendering_call(node)
        if found is not None:
            for line in range(node.lineno, node.end_lineno + 1):
                lines[line] = found
    return lines


def parsed_source(path: str) -> ast.Module | None:
    """Return the syntax tree of the Python file at ``path``, or ``None``.

    ``None`` when it cannot be read (see ``_read_source``) or parsed: not
    Python, or nested beyond what the parser takes.
    """
    source = _read_source(path)
    if source is None:
        return None
    try:
        # Bytes, so that the parser honours a coding declaration.
        return ast.parse(source, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


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


def _rendering_call(statement: ast.stmt) -> tuple[str, str] | None:
    found = None
    for node in ast.walk(statement):
        if isinstance(node, _OWN_LOOPS):
            return None
        if found is None and isinstance(node, ast.Call):
            name = _call_name(node)
            client = _client_call(node) if name is None else None
            if name is not None:
                found = ("render", name)
            elif client is not None:
                found = ("client", client)
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
        loader_name = _simple_name(loader)
        return f"{loader_name}().render" if loader_name in _TEMPLATE_LOADERS else None
    receiver_name = _simple_name(receiver)
    if "template" in receiver_name.lower() or receiver_name == "shortcuts":
        return f"{receiver_name}.render"
    return None


def _client_call(call: ast.Call) -> str | None:
    """Return ``"client.get"`` for a request sent through a test client."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in _CLIENT_METHODS:
        return None
    receiver: ast.expr = func.value
    suffix = ""
    if isinstance(receiver, ast.Call):  # Client().get(...)
        receiver, suffix = receiver.func, "()"
    name = _simple_name(receiver)
    if "client" not in name.lower():
        return None
    return f"{name}{suffix}.{func.attr}"


def _simple_name(node: ast.expr) -> str:
    """Return ``x`` for ``x`` and ``a.x`` (a name or an attribute), else ``""``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""

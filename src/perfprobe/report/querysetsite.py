"""Find the line that built a queryset a loop read, from the loop's source.

An N+1's rows are loaded by the query of the queryset the loop reads, and
that query runs where the queryset is first read: the loop's own line when
it iterates a name (``books = Book.objects.all()`` on one line, ``for book
in books:`` on a later one). The fix (``select_related()``) belongs where
the queryset is built, so when the report is built the source of that line
is read: a ``for`` loop or a comprehension iterating a plain name that the
enclosing function (or module) binds exactly once, by an assignment on an
earlier line, gives that assignment's line. Anything else (a name bound
twice, in a branch, a parameter, a global) gives no answer, never a guess.
The same file rules as for a template's line apply (a regular file of at
most ``MAX_SOURCE_BYTES``).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator

from .templatesite import parsed_source, source_at

__all__ = ["queryset_built_at"]

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def queryset_built_at(call_site: str | None) -> str | None:
    """Return ``"name at path:line"``, the assignment of the name read there.

    ``call_site`` is ``path:line`` as a report shows it; the answer keeps its
    path as given (``"books at shop/views.py:9"``). ``None`` unless the line
    iterates (``for``, or a comprehension) a name its function binds once, by
    an assignment on an earlier line.
    """
    source = source_at(call_site)
    if call_site is None or source is None:
        return None
    full_path, mtime_ns, size, read_line = source
    built = _built_lines(full_path, mtime_ns, size).get(read_line)
    if built is None:
        return None
    name, line = built
    path = call_site.rpartition(":")[0]
    return f"{name} at {path}:{line}"


@functools.lru_cache(maxsize=512)
def _built_lines(path: str, mtime_ns: int, size: int) -> dict[int, tuple[str, int]]:
    """Return, for each line iterating a once-bound name, it and its assignment's."""
    tree = parsed_source(path)
    if tree is None:
        return {}
    lines: dict[int, tuple[str, int]] = {}
    ambiguous: set[int] = set()
    scopes: list[ast.AST] = [tree]
    scopes += [node for node in ast.walk(tree) if isinstance(node, _SCOPES)]
    for scope in scopes:
        for line, built in _loops_of(scope):
            if lines.get(line, built) != built:
                ambiguous.add(line)
            lines[line] = built
    for line in ambiguous:
        del lines[line]
    return lines


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """Yield the nodes of ``scope``, not those of functions or classes in it."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _loops_of(scope: ast.AST) -> Iterator[tuple[int, tuple[str, int]]]:
    nodes = list(_own_nodes(scope))
    # Every binding of each name in the scope; one bound from outside (a
    # parameter, a global) is entered twice, so that it is never taken for
    # the one assignment.
    bindings: dict[str, list[ast.AST]] = {}
    for node in nodes:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bindings.setdefault(node.id, []).append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bindings.setdefault(node.name, []).append(node)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                bindings.setdefault(name, []).extend([node, node])
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                bindings.setdefault(local, []).append(node)
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        arguments = scope.args
        for arg in [
            *arguments.posonlyargs,
            *arguments.args,
            *arguments.kwonlyargs,
            *(a for a in (arguments.vararg, arguments.kwarg) if a is not None),
        ]:
            bindings.setdefault(arg.arg, []).extend([arg, arg])
    assigned: dict[int, int] = {}
    for node in nodes:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target = node.target
        else:
            continue
        if isinstance(target, ast.Name):
            assigned[id(target)] = node.lineno
    for node in nodes:
        if isinstance(node, (ast.For, ast.AsyncFor)):
            lines = {node.lineno, node.iter.lineno}
            iterated = node.iter
        elif isinstance(node, ast.comprehension):
            lines = {node.iter.lineno}
            iterated = node.iter
        else:
            continue
        if not isinstance(iterated, ast.Name):
            continue
        bound = bindings.get(iterated.id, [])
        if len(bound) != 1:
            continue
        built = assigned.get(id(bound[0]))
        if built is None or built >= iterated.lineno:
            continue
        for line in lines:
            yield line, (iterated.id, built)

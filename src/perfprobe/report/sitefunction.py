"""Name the function a call site's line is in, read from its source file.

A comparison of two reports tells two N+1 findings of one file, query and
relation apart by the function their loops are in: a loop fixed in one view
while another view of the file gains one is not one finding that moved. The
query path records no function, so it is read from the source when the
report is built, as Python names it (``co_qualname``): ``BookList.get``,
``order_list``, ``report.<locals>.rows``, ``"<module>"`` outside any
function or class. Lambdas and comprehensions are part of the function they
are in, so turning a loop into a comprehension keeps the name. The same file
rules as for a template's line apply (``templatesite.source_at``); the source
as it is when the report is built is read, so a file edited after the run
may name another function, or none.
"""

from __future__ import annotations

import ast
import functools

from .templatesite import parsed_source, source_at

__all__ = ["MODULE_LEVEL", "function_at"]

#: The name of the code outside any function or class (Python's own).
MODULE_LEVEL = "<module>"

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

#: The lines of a definition's body, how deep it is nested and its qualified
#: name.
_Span = tuple[int, int, int, str]


def function_at(call_site: str | None) -> str | None:
    """Return the qualified name of the function ``call_site``'s line is in.

    ``call_site`` is ``path:line`` as a report shows it. ``MODULE_LEVEL``
    for a line outside any function or class; ``None`` when the source
    cannot be read or parsed, or ends before the line.
    """
    source = source_at(call_site)
    if source is None:
        return None
    full_path, mtime_ns, size, line = source
    parsed = _spans(full_path, mtime_ns, size)
    if parsed is None:
        return None
    last_line, spans = parsed
    if not 1 <= line <= last_line:
        return None
    # Spans nest: those holding the line are one chain, the innermost is the
    # deepest. Not the one starting last: a one-line body opening its class
    # or function starts on the line the enclosing body does.
    inside = [span for span in spans if span[0] <= line <= span[1]]
    return max(inside, key=lambda span: span[2])[3] if inside else MODULE_LEVEL


# As many files as templatesite's caches hold: a live page, built again,
# reads none again.
@functools.lru_cache(maxsize=512)
def _spans(path: str, mtime_ns: int, size: int) -> tuple[int, list[_Span]] | None:
    """Return the file's last line of code and its definitions' spans.

    Keyed by the file's modification time and size as well, so an edited
    file is read again. ``None`` when it cannot be read or parsed.
    """
    tree = parsed_source(path)
    if tree is None or not tree.body:
        return None
    spans: list[_Span] = []
    # A stack, not recursion: nesting deep enough for the parser is not
    # necessarily shallow enough for Python's recursion limit.
    stack: list[tuple[ast.AST, str, int]] = [(tree, "", 0)]
    while stack:
        node, prefix, depth = stack.pop()
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, _DEFINITIONS):
                stack.append((child, prefix, depth))
                continue
            name = f"{prefix}{child.name}"
            # From the body's first line: decorators, defaults and a base
            # class list run in the enclosing code.
            end = child.end_lineno or child.body[-1].lineno
            spans.append((_first_line(child.body[0]), end, depth + 1, name))
            inner = "." if isinstance(child, ast.ClassDef) else ".<locals>."
            stack.append((child, f"{name}{inner}", depth + 1))
    return tree.body[-1].end_lineno or tree.body[-1].lineno, spans


def _first_line(statement: ast.stmt) -> int:
    """Return the first line of ``statement``, a decorator's if it has one.

    A decorated definition's ``lineno`` is its ``def`` or ``class`` line;
    its decorators, above it, run in the code it is part of.
    """
    if isinstance(statement, _DEFINITIONS) and statement.decorator_list:
        return min(node.lineno for node in statement.decorator_list)
    return statement.lineno

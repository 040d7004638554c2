"""Keep an ended span from staying current, whatever order spans end in.

Each block span's context carries the chain of perfprobe block spans open
in it, outermost first. Spans can end out of order: a block inside a
generator is suspended, the block around it ends, the generator is closed
later. Restoring each span's own parent context then puts an ended span back
as current, for good in a reused thread. So an ending span does not just
restore its own parent: it restores the parent of the outermost ended block
in the current chain, which drops every block nested in it too (as perfprobe's
scopes do when left out of order).

A token is reset only in the ``Context`` it was made in, and at most once;
elsewhere the parent context is attached instead, which sets the same value.
"""

from __future__ import annotations

from contextvars import Token

from opentelemetry import context
from opentelemetry.context import Context

_OPEN_BLOCKS = context.create_key("perfprobe-open-blocks")


class OpenBlock:
    """One block span made current: its parent context and its token."""

    __slots__ = ("ended", "parent", "token")

    def __init__(self, parent: Context) -> None:
        self.parent = parent
        self.token: Token[Context] | None = None
        self.ended = False


def _chain(ctx: Context) -> tuple[OpenBlock, ...]:
    chain = context.get_value(_OPEN_BLOCKS, ctx)
    return chain if isinstance(chain, tuple) else ()


def _first_ended(ctx: Context) -> OpenBlock | None:
    for block in _chain(ctx):
        if block.ended:
            return block
    return None


def live_context() -> Context:
    """Return the current context without any ended block span in it.

    A context that holds an ended block (one left current in another task
    or thread, where it could not be undone) is replaced by the context
    that block was started in, so nothing new is made a child of it.
    """
    current = context.get_current()
    stale = _first_ended(current)
    return current if stale is None else stale.parent


def enter_block(block: OpenBlock, span_context: Context) -> None:
    """Make ``span_context`` current, with ``block`` added to its open chain."""
    chain = (*_chain(block.parent), block)
    block.token = context.attach(context.set_value(_OPEN_BLOCKS, chain, span_context))


def leave(token: Token[Context] | None, parent: Context) -> None:
    """Restore ``parent`` through ``token``, then drop any ended block left current.

    Never raises. ``token`` is reset only when it was made in this context
    and is unused; otherwise ``parent`` is attached.
    """
    _restore(token, parent)
    stale = _first_ended(context.get_current())
    if stale is not None:
        _restore_block(stale)


def leave_block(block: OpenBlock) -> None:
    """Mark ``block`` ended and stop it, or any ended block, being current here.

    Nothing changes when this context never had it current (a generator
    closed in another thread or task) and holds no other ended block.
    """
    block.ended = True
    stale = _first_ended(context.get_current())
    if stale is not None:
        _restore_block(stale)


def _restore_block(block: OpenBlock) -> None:
    token, block.token = block.token, None
    _restore(token, block.parent)


def _restore(token: Token[Context] | None, parent: Context) -> None:
    if token is not None:
        try:
            # Not context.detach(): it logs a foreign or used token as an
            # error and gives no way to tell that it failed.
            token.var.reset(token)
            return
        except (ValueError, RuntimeError):
            # Made in another Context (a generator entered in one task and
            # closed in another), or already used.
            pass
    context.attach(parent)

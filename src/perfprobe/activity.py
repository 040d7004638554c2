"""Tell which open memory blocks shared the process with other threads' work."""

from __future__ import annotations

from collections import Counter

from .events import MemoryRecord
from .threadlog import ThreadLogs


class ThreadActivity:
    """Count each thread's running timers and open blocks; mark blocks shared.

    tracemalloc and RSS are process-wide, so a block stops being attributable
    to its thread once another thread does monitored work while it is open;
    an open block is such work itself. Timers count themselves in their
    thread's log (``threads``) without the lock; everything else here is
    called by the collector with its lock held.
    """

    def __init__(self) -> None:
        self._busy: Counter[int] = Counter()
        #: Open memory blocks; callers test it before ``mark_others``. Only
        #: ever changed in place: every thread log holds this same list.
        self.open_blocks: list[MemoryRecord] = []
        self.threads = ThreadLogs(self.open_blocks)

    def mark_others(self, thread_id: int) -> None:
        """Mark the open blocks of every thread but ``thread_id`` process-wide."""
        for block in self.open_blocks:
            if block.thread_id != thread_id:
                block.process_wide = True

    def started(self, thread_id: int, count: int = 1) -> None:
        """Count ``count`` pieces of monitored work starting in ``thread_id``."""
        self._busy[thread_id] += count
        if self.open_blocks:
            self.mark_others(thread_id)

    def ended(self, thread_id: int, count: int = 1) -> None:
        """Count ``count`` pieces of work of ``thread_id`` ending, wherever."""
        remaining = self._busy[thread_id] - count
        if remaining > 0:
            self._busy[thread_id] = remaining
        else:
            del self._busy[thread_id]

    def others_busy(self, thread_id: int) -> bool:
        """Return whether a thread other than ``thread_id`` runs monitored work."""
        if any(n for t, n in self._busy.items() if t != thread_id):
            return True
        # A finished thread runs nothing, whatever timers it never exited
        # (entered by hand, or a generator never resumed) still count.
        return any(
            log.running > 0 and log.thread_alive
            for log in self.threads.logs
            if log.thread_id != thread_id
        )

    def block_opened(self, record: MemoryRecord) -> None:
        """Track ``record``; it is process-wide if another thread is busy now."""
        # Listed before the look at other threads: a timer starting now
        # either is seen busy here or sees this block (it counts itself
        # first, then looks at the list, without the lock).
        self.open_blocks.append(record)
        if self.others_busy(record.thread_id) or self._other_tasks_open(record):
            record.process_wide = True
        self.started(record.thread_id)

    def _other_tasks_open(self, record: MemoryRecord) -> bool:
        """Mark the open blocks of other tasks of ``record``'s thread shared.

        Tasks of one event loop run by turns in one thread (two async
        requests at once): each allocates into the blocks the other has
        open. Return whether there was any. A block opened outside a task
        (synchronous code, which a task cannot interleave) is left alone.
        """
        if record.task is None:
            return False
        task = record.task()
        shared = False
        for block in self.open_blocks:
            if (
                block.task is not None
                and block.thread_id == record.thread_id
                and block.task() is not task
            ):
                block.process_wide = True
                shared = True
        return shared

    def block_closed(self, record: MemoryRecord) -> bool:
        """Stop tracking ``record`` (by identity); return whether it was tracked.

        The count given back is the opening thread's, whichever thread closes.
        """
        if not any(block is record for block in self.open_blocks):
            return False
        self.open_blocks[:] = [b for b in self.open_blocks if b is not record]
        self.ended(record.thread_id)
        return True

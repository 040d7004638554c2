"""Record memory checkpoints and blocks, and track the blocks still open."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .reentry import deferred_if_reentered

if TYPE_CHECKING:
    from collections import deque

    from .activity import ThreadActivity
    from .events import Event, MemoryRecord
    from .reentry import GuardedLock
    from .threadlog import RecentItem


class MemoryRecords:
    """The collector's part in memory records: checkpoints, blocks, open blocks.

    Mixed into ``Collector``, which sets everything declared here; the same
    lock and the same rules hold (see ``Collector``).
    """

    _lock: GuardedLock
    _activity: ThreadActivity
    _memory: deque[MemoryRecord]
    _recent: deque[RecentItem]
    _pending: list[Any]

    if TYPE_CHECKING:

        def close_pending(self) -> None: ...

        def _notify(self, event: Event) -> None: ...

    @deferred_if_reentered
    def record_memory(self, record: MemoryRecord) -> None:
        """Add a checkpoint, or a block that has just closed."""
        if self._pending:
            self.close_pending()
        with self._lock:
            if record.open:
                return
            self._memory.append(record)
            self._recent.append(record)
        self._notify(record)

    @deferred_if_reentered
    def memory_block_opened(self, record: MemoryRecord) -> None:
        """Track an open block so other threads' work can mark it process-wide.

        An open block is itself monitored work of its thread: while it is
        open, blocks of other threads are process-wide, and so is this one if
        another thread already had a block or a timer running.
        """
        with self._lock:
            # The checkpoint taken when the probe was created becomes the
            # block's start, so it leaves the lists (compared by identity).
            for table in (self._memory, self._recent):
                if record in table:
                    table.remove(record)
            record.open = True
            self._activity.block_opened(record)

    @deferred_if_reentered
    def memory_block_closed(self, record: MemoryRecord) -> None:
        """Stop tracking ``record`` (by identity) and add it as a block."""
        if self._forget_block(record):
            self.record_memory(record)

    @deferred_if_reentered
    def memory_block_abandoned(self, record: MemoryRecord) -> None:
        """Stop tracking ``record`` (by identity) without keeping it."""
        self._forget_block(record)

    def _forget_block(self, record: MemoryRecord) -> bool:
        with self._lock:
            tracked = self._activity.block_closed(record)
            record.open = False
        return tracked

"""Share a table's columns out between as many tables as the width needs.

rich fits a table that is too wide by narrowing the columns that may wrap;
when that is not enough it narrows every column, and a number in a column
that may not wrap is then cut (``25…`` for 25.1 ms). So the columns are
planned before rich sees them: numbers are never wrapped and always get
their widest cell; a column kept whole for what it holds (a call site's
line number) is wrapped only when it cannot fit whole even beside the
first column; other text wraps, given at least ``TEXT_FLOOR`` characters,
or its longest word where that fits beside the first column. When all of
that does not fit, the columns are shared out between several tables, each
starting with the first column (the row's name); the room a table leaves
its text columns goes to the name first (``share_text_width``), and a
column of numbers too wide for the floor beside it narrows the name instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len

#: The fewest characters a wrapping text column is planned with.
TEXT_FLOOR = 10
#: A cell's padding (one space each side) and the border on its right.
PER_COLUMN = 3
#: The border on the left of the first column.
LEFT_EDGE = 1


def widest_glyph(text: str) -> int:
    """Return the cells of the widest character of ``text``: 2 or 1.

    A column narrower than that makes rich leave the character out.
    """
    # A variation selector makes some one-cell symbols two cells wide.
    wide = "\ufe0f" in text or any(cell_len(char) > 1 for char in text)
    return 2 if wide else 1


@dataclass(frozen=True)
class PlannedColumn:
    """One column of one table: its index in the section and whether it wraps."""

    index: int
    #: True: printed on one line at its widest cell (``no_wrap``).
    whole: bool


def _cost(need: int, whole: bool, word: int = 0) -> int:
    return (need if whole else min(need, max(TEXT_FLOOR, word))) + PER_COLUMN


def plan_columns(
    needs: Sequence[int],
    numeric: Sequence[bool],
    keep_whole: Sequence[bool],
    width: int,
    words: Sequence[int] | None = None,
) -> list[list[PlannedColumn]]:
    """Return the tables to print, each a list of columns, the first column first.

    ``needs`` is each column's widest cell or heading in terminal cells;
    ``numeric`` marks the columns of numbers, ``keep_whole`` those best not
    wrapped; ``width`` is the width a table may take, borders included.
    ``words``, each column's longest word, is room a wrapping column is
    planned with where it fits beside the first column, so that a word is
    not folded in two while a continuation table could hold it whole. A
    single column of numbers wider than ``width`` beside a first column
    as narrow as its widest character is the only way a table can end up
    too wide (rich then cuts it); beside a first column that has less than
    ``TEXT_FLOOR`` left, ``share_text_width`` narrows the first column.
    """
    count = len(needs)
    word = list(words) if words is not None else [0] * count
    whole = [numeric[i] or keep_whole[i] for i in range(count)]
    fits = LEFT_EDGE + sum(_cost(needs[i], whole[i], word[i]) for i in range(count))
    if fits <= width:
        return [[PlannedColumn(i, whole[i]) for i in range(count)]]

    # Too wide: the first column wraps in the budget, the others are packed
    # in order, and the first is kept whole in a table with room for it.
    base = LEFT_EDGE + _cost(needs[0], numeric[0], word[0])
    if base + _cost(min(needs[1:], default=0), True) > width:
        base = LEFT_EDGE + _cost(needs[0], numeric[0])
    tables: list[list[PlannedColumn]] = []
    current: list[PlannedColumn] = []
    used = base
    for i in range(1, count):
        cost = _cost(needs[i], whole[i], word[i])
        if base + cost > width and not whole[i]:
            # Its longest word does not fit beside the first column: it is
            # folded anyway, so it is planned at the floor.
            cost = _cost(needs[i], False)
        if used + cost > width and current:
            tables.append(current)
            current, used = [], base
        if used + cost > width and not numeric[i]:
            # Even beside the first column alone it does not fit whole.
            current.append(PlannedColumn(i, False))
            used += _cost(needs[i], False)
        else:
            current.append(PlannedColumn(i, whole[i]))
            used += cost
    tables.append(current)
    return [_with_first(table, needs, numeric, keep_whole, width) for table in tables]


def _with_first(
    table: list[PlannedColumn],
    needs: Sequence[int],
    numeric: Sequence[bool],
    keep_whole: Sequence[bool],
    width: int,
) -> list[PlannedColumn]:
    used = LEFT_EDGE + sum(_cost(needs[c.index], c.whole) for c in table)
    whole = numeric[0] or (keep_whole[0] and used + _cost(needs[0], True) <= width)
    return [PlannedColumn(0, whole), *table]


def share_text_width(
    needs: Sequence[int],
    words: Sequence[int],
    planned: Sequence[PlannedColumn],
    width: int,
    glyphs: Sequence[int] | None = None,
) -> dict[int, int]:
    """Return the width of each wrapping column of ``planned``, by index.

    Empty when the table fits with every column at its widest cell. Else
    the room the whole columns leave is shared out: every wrapping column
    first gets ``TEXT_FLOOR`` (or less, its need); then the row's name as
    much as its longest word (``words``) takes, so that
    "concurrent.worker_task" is not folded in the middle to leave room for
    a column of tags; then each other column its longest word where all of
    it fits; what is left goes to the columns still short of their widest
    cell, leftmost first. rich would instead narrow the widest columns
    alike, names included. When the floors do not fit (a wide number beside
    the name), the text columns are narrowed below them, to each column's
    widest character in ``glyphs`` (one cell when not given).
    """
    used = LEFT_EDGE + sum(_cost(needs[c.index], True) for c in planned)
    if used <= width:
        return {}
    wrapping = [c.index for c in planned if not c.whole]
    whole = LEFT_EDGE + sum(_cost(needs[c.index], True) for c in planned if c.whole)
    room = width - whole - PER_COLUMN * len(wrapping)
    shares = {i: min(needs[i], TEXT_FLOOR) for i in wrapping}
    room -= sum(shares.values())
    # A column of numbers beside the first column may leave less than the
    # floor: the text is narrowed (widest first, to its widest character:
    # rich leaves a wide one out of a narrower column), else rich would
    # narrow the table past the console and the number be cut.
    least = {i: min(shares[i], glyphs[i] if glyphs else 1) for i in wrapping}
    while room < 0 and any(shares[i] > least[i] for i in wrapping):
        widest = max(wrapping, key=lambda i: shares[i] - least[i])
        less = min(shares[widest] - least[widest], -room)
        shares[widest] -= less
        room += less

    def give(index: int, up_to: int) -> None:
        nonlocal room
        more = max(0, min(up_to, needs[index], shares[index] + room) - shares[index])
        shares[index] += more
        room -= more

    if wrapping and wrapping[0] == 0:
        give(0, words[0])
    for i in wrapping:
        # Another column's word is only worth room when it then fits whole.
        if i != 0 and words[i] - shares[i] <= room:
            give(i, words[i])
    for i in wrapping:
        give(i, needs[i])
    return shares

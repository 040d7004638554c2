"""Format seconds, bytes and recorded text for people to read."""

from __future__ import annotations

import math
import re
from typing import Any

BYTES_PER_MB = 1024 * 1024


def format_ms(seconds: float | None) -> str:
    """Return ``seconds`` as milliseconds for display, or ``-`` when missing."""
    if seconds is None:
        return "-"
    ms = seconds * 1000
    if ms == 0:
        return "0 ms"
    shown = f"{ms:,.{_ms_digits(ms)}f} ms"
    if not shown.strip("-0. ms"):
        # Under half a femtosecond the digits are all zeros (and "-0.0…"
        # below zero): a bound, not a value that reads as none.
        return f"< {_LEAST_MS}" if ms > 0 else f"> -{_LEAST_MS}"
    return shown


#: The most decimals ``format_ms`` shows: a femtosecond.
_MOST_DIGITS = 12
_LEAST_MS = f"{10.0**-_MOST_DIGITS:.{_MOST_DIGITS}f} ms"


def _ms_digits(ms: float) -> int:
    """Return the decimals ``format_ms`` shows ``ms`` milliseconds with.

    Under a microsecond (a threshold set that low, a scaled-down demo) three
    decimals would print "0.000 ms": there the first digit that is not zero
    is shown instead, down to a femtosecond (``format_ms`` shows less than
    half of one as the bound "< 0.000000000001 ms").
    """
    size = abs(ms)
    if size >= 100:
        return 0
    if size >= 1:
        return 1
    if size >= 0.001 or size == 0 or not math.isfinite(size):
        return 3
    return min(_MOST_DIGITS, -math.floor(math.log10(size)))


def format_duration(seconds: float | None) -> str:
    """Return ``seconds`` in ms below one second and in seconds above."""
    if seconds is None:
        return "-"
    if abs(seconds) >= 1:
        return f"{seconds:.2f} s"
    return format_ms(seconds)


def format_against(seconds: float, limit_s: float) -> str:
    """Return ``seconds`` shown precisely enough to differ from ``limit_s``.

    "took 500 ms (limit 500 ms)" reads as a mistake when the query took
    500.3 ms; digits are added until the two no longer print the same.
    """
    shown = format_duration(seconds)
    if seconds == limit_s or shown != format_duration(limit_s):
        return shown
    # The same text: more digits than it has, in its unit, compared with the
    # limit's at as many. Fewer would differ from the limit's text without
    # differing in value: 0.5001 ms printed "0.5 ms" against "0.500 ms".
    if abs(seconds) >= 1:
        scale, unit, digits = 1.0, "s", 2
    else:
        scale, unit, digits = 1000.0, "ms", _ms_digits(seconds * 1000)
    for more in range(digits + 1, digits + 10):
        shown = f"{seconds * scale:,.{more}f} {unit}"
        if shown != f"{limit_s * scale:,.{more}f} {unit}":
            break
    return shown


def format_operations(calls: int, names: Any = None) -> str:
    """Return ``"6 operations (10 calls)"``: names counted as a table lists them.

    ``calls`` alone when ``names`` is unknown (an older report) or equal.
    """
    if isinstance(names, int) and not isinstance(names, bool) and names != calls:
        return f"{plural(names, 'operation')} ({plural(calls, 'call')})"
    return plural(calls, "operation")


def format_bytes(size_bytes: int | float | None) -> str:
    """Return a size in bytes as MB (mebibytes) or KB, or ``-`` when missing."""
    if size_bytes is None:
        return "-"
    if abs(size_bytes) >= BYTES_PER_MB:
        return f"{size_bytes / BYTES_PER_MB:,.1f} MB"
    if abs(size_bytes) >= 1024:
        return f"{size_bytes / 1024:,.1f} KB"
    return f"{size_bytes:,.0f} B"


def plural(count: int, word: str) -> str:
    """Return ``"1 query"`` or ``"3 queries"``: the count and the word it needs."""
    if count == 1:
        return f"{count} {word}"
    if word.endswith("y"):
        return f"{count} {word[:-1]}ies"
    return f"{count} {word}s"


def format_counts(counts: dict[str, int]) -> str:
    """Return ``{"200": 9, "500": 1}`` as ``200: 9, 500: 1``, or ``-`` if empty."""
    return ", ".join(f"{key}: {count}" for key, count in counts.items()) or "-"


# C0 and C1 control characters (escape, bell, backspace...) from recorded
# names would drive the reader's terminal; they are shown escaped instead.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Return ``text`` with control characters shown as ``\\xNN`` escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def printable_text(value: Any) -> str:
    """Return ``str(value)`` as ``printable`` does, or ``""`` for ``None``."""
    return "" if value is None else printable(str(value))


def shorten(text: str | None, width: int | None = 80) -> str:
    """Return ``text`` on one line, cut to ``width`` characters with an ellipsis.

    A ``width`` of ``None`` keeps the whole text.
    """
    if not text:
        return ""
    flat = " ".join(text.split())
    if width is None or len(flat) <= width:
        return flat
    return flat[: width - 1] + "…"


#: A SELECT list longer than this is shown as "…" by ``shorten_sql``.
SELECT_LIST_CHARS = 40


def shorten_sql(text: str | None, width: int | None = 80) -> str:
    """Return a query's text like ``shorten``, its long column list elided first.

    A fingerprint cut at ``width`` loses its end, and the end (the table,
    the WHERE clause) is what tells two shapes apart; the columns an ORM
    query lists come first and rarely do. So when the text does not fit,
    a top-level ``SELECT`` list of several columns, or of one longer than
    ``SELECT_LIST_CHARS`` characters, becomes ``…``: ``SELECT … FROM
    "shop_book" WHERE ...``.
    """
    flat = shorten(text, None)
    if width is None or len(flat) <= width:
        return flat
    head = "SELECT DISTINCT " if flat[:16].upper() == "SELECT DISTINCT " else "SELECT "
    if flat[: len(head)].upper() == head:
        end = _top_level_from(flat, len(head))
        if end is not None and (
            end - len(head) > SELECT_LIST_CHARS or "," in flat[len(head) : end]
        ):
            flat = f"{flat[: len(head)]}…{flat[end:]}"
    return shorten(flat, width)


def _top_level_from(text: str, start: int) -> int | None:
    # The index of the first " FROM " outside parentheses and quotes.
    depth = 0
    quote = ""
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and char == " " and text[index : index + 6].upper() == " FROM ":
            # The slice, not the whole text, is upper-cased: "ß".upper() is
            # "SS", so an upper-cased copy's indexes drift from the text's.
            return index
    return None


def format_number(value: int | float) -> str:
    """Return a count or measurement compactly: ``12``, ``0.375``, ``14,833,100``."""
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def format_mean_count(value: float) -> str:
    """Return a mean count: whole when it is (``21``), else one decimal (``2.5``)."""
    value = float(value)
    return f"{int(value)}" if value.is_integer() else f"{value:.1f}"


# Evidence times a title sets against the limit (with format_against): shown
# alike, "500.3 ms" in both, never "500 ms" beside "(limit 500 ms)".
_AGAINST_LIMIT = frozenset({"max_s", "p95_s", "duration_s"})


def format_evidence_value(
    key: str, value: Any, width: int = 120, *, limit_s: Any = None
) -> str:
    """Return one evidence value for display, converting units named by its key.

    Keys ending in ``_s`` are seconds and ``_bytes`` are bytes; long text is
    cut to ``width`` characters. A maximum or p95 time (``max_s``,
    ``p95_s``, ``duration_s``) is shown against ``limit_s`` (the finding's
    ``threshold_s``, seconds) as a title shows it.
    """
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float):
        if (
            key in _AGAINST_LIMIT
            and isinstance(limit_s, int | float)
            and not isinstance(limit_s, bool)
        ):
            return format_against(float(value), float(limit_s))
        if key.endswith("_s"):
            return format_duration(float(value))
        if key.endswith("_bytes"):
            return format_bytes(value)
        return format_number(value)
    if isinstance(value, dict):
        return format_counts(value)
    if isinstance(value, list | tuple):
        return shorten(", ".join(str(v) for v in value), width)
    return shorten(str(value), width)


def format_details(details: dict[str, Any], width: int | None = 96) -> str:
    """Return a scenario's scalar details as ``key=value, ...`` cut to ``width``.

    A ``width`` of ``None`` keeps them all.
    """
    scalars = [
        (key, value)
        for key, value in details.items()
        if value is None or isinstance(value, str | int | float | bool)
    ]
    shown = ", ".join(f"{k}={format_evidence_value(k, v)}" for k, v in scalars)
    return shorten(shown, width) or "-"

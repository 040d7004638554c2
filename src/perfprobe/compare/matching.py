"""Match the N+1 findings of two reports by what stays put when lines move.

A finding is named by its call site and SQL fingerprint
(``shop/views.py:12: SELECT ...``), but a comment added above the loop
moves its line without changing the finding. Findings therefore match by
file, the function their call site is in (``BookList.get``), fingerprint
and lazy-loaded relation (``Book.author``); the function or the relation
is left out when some run record does not keep it (one written before it
was). When that identifies one finding on each side, they match whatever
their lines. When several share it, their lines decide: as many as the
smaller side has are matched in line order (an edit moves code, it does
not reorder it), choosing those whose lines moved least in all. A matched
finding whose line moved is named with both lines (``views.py:11 -> 13``).

What no rule can tell from the reports: without the functions, a finding
fixed while another of the same query and relation appears in the same
file reads as one that moved; with them, so does one of the same function.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .figures import N_PLUS_ONE, CountKey, FindingId, RunFigures

#: Findings of one group beyond which pairs are taken in line order alone.
MAX_ALIGN_CELLS = 100_000

Runs = tuple[RunFigures, ...]
_Entry = tuple[CountKey, FindingId]
#: File, function, fingerprint and relation: what a finding keeps when its
#: line moves.
_Group = tuple[str | None, str | None, str, str | None]


def match_findings(
    old_runs: Runs, new_runs: Runs
) -> tuple[Runs, Runs, list[tuple[FindingId, FindingId]]]:
    """Return both reports' runs with each matched pair of findings renamed alike.

    A pair on the same line keeps its name; a pair whose line moved is
    named ``file:old -> new: fingerprint`` in both, and listed (old, new)
    last. Nothing else changes.
    """
    use_relation = all(run.relations_known for run in (*old_runs, *new_runs))
    use_function = all(run.functions_known for run in (*old_runs, *new_runs))
    groups: dict[_Group, tuple[list[_Entry], list[_Entry]]] = {}
    sides: list[dict[CountKey, FindingId]] = []
    for runs in (old_runs, new_runs):
        found: dict[CountKey, FindingId] = {}
        sides.append(found)
        for run in runs:
            for key, fid in run.findings.items():
                # As within one run: the relation any run saw, not the
                # last run's, which may have seen no lazy load; likewise the
                # function, which a run that could not read the file lacks.
                earlier = found.get(key)
                if earlier is None:
                    found[key] = fid
                elif earlier.relation is None or earlier.function is None:
                    found[key] = earlier._replace(
                        relation=earlier.relation or fid.relation,
                        function=earlier.function or fid.function,
                    )
    # A report built where a file could not be read names no function for
    # its findings: the file's findings of that query and relation are then
    # matched by line alone, on both sides, rather than read as one fixed and
    # one new.
    unknown = {
        (fid.file, fid.fingerprint, fid.relation if use_relation else None)
        for found in sides
        for fid in found.values()
        if fid.function is None
    }
    for side, found in enumerate(sides):
        for key, fid in found.items():
            relation = fid.relation if use_relation else None
            known = (
                use_function and (fid.file, fid.fingerprint, relation) not in unknown
            )
            group = (
                fid.file,
                fid.function if known else None,
                fid.fingerprint,
                relation,
            )
            groups.setdefault(group, ([], []))[side].append((key, fid))
    # Per side: one report's line 20 may pair with 30, the other's with 10.
    old_names: dict[CountKey, CountKey] = {}
    new_names: dict[CountKey, CountKey] = {}
    moved = []
    unmatched: list[dict[CountKey, FindingId]] = [{}, {}]
    for olds, news in groups.values():
        pairs = pair_in_line_order(olds, news)
        for (old_key, old_id), (new_key, new_id) in pairs:
            if old_key != new_key:
                name = CountKey(N_PLUS_ONE, moved_name(old_id, new_id))
                old_names[old_key] = new_names[new_key] = name
                moved.append((old_id, new_id))
        paired = {key for pair in pairs for key, _ in pair}
        for side, entries in enumerate((olds, news)):
            unmatched[side].update((k, f) for k, f in entries if k not in paired)
    # The same site and query under another relation or in another function
    # is another finding: named with what differs, so the two do not read
    # as one.
    for key in unmatched[0].keys() & unmatched[1].keys():
        pair = (unmatched[0][key], unmatched[1][key])
        for names, fid in zip((old_names, new_names), pair, strict=True):
            site = key.name.removesuffix(f": {fid.fingerprint}")
            names[key] = CountKey(
                N_PLUS_ONE, f"{site} ({_told_apart(fid, *pair)}): {fid.fingerprint}"
            )
    return _renamed(old_runs, old_names), _renamed(new_runs, new_names), moved


def _told_apart(fid: FindingId, old: FindingId, new: FindingId) -> str:
    """Return what names ``fid`` apart from the other of ``old`` and ``new``.

    Its relation (``Book.author``), as before functions were kept, unless
    only the function differs (``in view_a``).
    """
    if old.relation == new.relation and old.function != new.function:
        return f"in {fid.function or 'an unknown function'}"
    return fid.relation or "no lazy load"


def moved_name(old: FindingId, new: FindingId) -> str:
    """Return the name of a finding whose line moved from ``old`` to ``new``."""
    return f"{old.file}:{old.line} -> {new.line}: {old.fingerprint}"


def pair_in_line_order(
    olds: Sequence[_Entry], news: Sequence[_Entry]
) -> list[tuple[_Entry, _Entry]]:
    """Return min(len) pairs, in line order, whose lines moved least in all.

    Ties go to pairing the earlier findings.
    """
    old_sorted = sorted(olds, key=_line_order)
    new_sorted = sorted(news, key=_line_order)
    if len(old_sorted) <= len(new_sorted):
        return _align(old_sorted, new_sorted)
    return [(old, new) for new, old in _align(new_sorted, old_sorted)]


def _line_order(entry: _Entry) -> tuple[int, str]:
    key, fid = entry
    return (-1 if fid.line is None else fid.line), key.name


def _align(fewer: list[_Entry], more: list[_Entry]) -> list[tuple[_Entry, _Entry]]:
    """Pair every entry of ``fewer`` with one of ``more``, keeping order."""
    m, n = len(fewer), len(more)
    if m == n or m * n > MAX_ALIGN_CELLS:
        # As many on each side: line order alone pairs them. Beyond the
        # limit (no real file has so many findings of one query) likewise.
        return list(zip(fewer, more, strict=False))
    a = [_line_order(entry)[0] for entry in fewer]
    b = [_line_order(entry)[0] for entry in more]
    # cost[i][j]: the least total shift pairing fewer[i:] within more[j:],
    # defined where n - j >= m - i.
    inf = float("inf")
    cost = [[inf] * (n + 1) for _ in range(m + 1)]
    for j in range(n + 1):
        cost[m][j] = 0
    for i in range(m - 1, -1, -1):
        for j in range(n - (m - i), -1, -1):
            paired = abs(a[i] - b[j]) + cost[i + 1][j + 1]
            skipped = cost[i][j + 1] if n - j > m - i else inf
            cost[i][j] = min(paired, skipped)
    pairs, j = [], 0
    for i in range(m):
        # Pair as early as the least cost allows.
        while abs(a[i] - b[j]) + cost[i + 1][j + 1] != cost[i][j]:
            j += 1
        pairs.append((fewer[i], more[j]))
        j += 1
    return pairs


def _renamed(runs: Runs, renamed: dict[CountKey, CountKey]) -> Runs:
    if not renamed:
        return runs
    return tuple(
        dataclasses.replace(
            run,
            counts={renamed.get(k, k): v for k, v in run.counts.items()},
            per_unit={renamed.get(k, k): v for k, v in run.per_unit.items()},
            findings={renamed.get(k, k): v for k, v in run.findings.items()},
        )
        for run in runs
    )

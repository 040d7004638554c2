"""Read a saved report from disk and check it is one this perfprobe compares."""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from ..report.fmt import printable, shorten
from ..report.jsonio import finite_json
from .figures import RunFigures, read_run, split_call_site
from .runs import ReportFormatError, field, items, run_record, text

# Reports of schema 1.x share the fields the comparison reads; a 2.x report
# may not, and is refused rather than misread.
SUPPORTED_MAJOR = "1"


class ReportLoadError(ValueError):
    """A file cannot be read as a perfprobe report; the message says why."""


#: An N+1 finding as its recommendation names it: fingerprint, file, line.
FixKey = tuple[str, str | None, int | None]


@dataclass(frozen=True)
class LoadedReport:
    """The figures of every run of one report, with what else a comparison uses.

    ``runs`` comes from the report's ``runs`` list when it has one (a
    ``--repeat`` report), else from the report itself as a single run.
    ``critical_titles`` are the titles of the critical recommendations in the
    report's own list (its last run); ``n_plus_one_fixes`` the suggestion of
    each N+1 recommendation there, by its fingerprint and call site's file
    and line.
    """

    source: str
    runs: tuple[RunFigures, ...]
    time_scale: float | None
    #: The demo's ``--seed``; ``None`` for reports of other runs (and older ones).
    seed: int | None
    database_vendor: str | None
    critical_titles: tuple[str, ...]
    n_plus_one_fixes: Mapping[FixKey, str] = dataclass_field(default_factory=dict)

    @property
    def critical_count(self) -> int:
        """Return the most critical recommendations any one run had."""
        return max(run.recommendations["critical"] for run in self.runs)


def load_report(path: str | os.PathLike[str]) -> LoadedReport:
    """Read the report at ``path``; raise ``ReportLoadError`` saying what is wrong."""
    return report_from_data(read_json_file(path), str(path))


def read_json_file(path: str | os.PathLike[str]) -> Any:
    """Return the JSON document in the file at ``path``, as Python data.

    Raise ``ReportLoadError`` when it is not a regular file, cannot be read,
    is not UTF-8 text or is not strict JSON (``NaN`` and ``Infinity`` are
    refused, and so is a number beyond the range of a float, which the
    comparison and the renderers cannot work with); lone surrogates in its
    text are written out (``finite_json``).
    """
    try:
        # Opening a FIFO would wait for a writer forever; a device could
        # stream without end.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ReportLoadError("is not a regular file")
        with open(path, encoding="utf-8") as handle:
            raw = handle.read()
    except ReportLoadError:
        # Already worded; ValueError below would call it unreadable.
        raise
    except OSError as exc:
        raise ReportLoadError(f"cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ReportLoadError("is not JSON: it is not UTF-8 text") from None
    except ValueError as exc:
        # A name no file can have (a NUL byte) is refused by os.stat itself.
        raise ReportLoadError(f"cannot be read: {exc}") from None
    try:
        data = json.loads(
            raw,
            parse_constant=_refuse_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
        # An escaped lone surrogate ("\\ud800") is valid JSON syntax but no
        # text: written out, it would stop the comparison being printed.
        data = finite_json(data)
    except _OutOfRange as exc:
        # Valid JSON: only what a float can hold is not.
        raise ReportLoadError(f"holds a number beyond a float's range: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise ReportLoadError(f"is not JSON: {exc}") from None
    return data


class _OutOfRange(ValueError):
    """A number in the file that a float cannot hold (1e400)."""


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are accepted by Python's json module but are not JSON,
    # and perfprobe never writes them.
    raise ValueError(f"{name} is not a JSON value")


def _parse_int(digits: str) -> int:
    # int() itself refuses more than sys.get_int_max_str_digits() digits.
    value = int(digits)
    if abs(value) > sys.float_info.max:
        raise _OutOfRange(f"{digits[:12]}... ({len(digits.lstrip('-'))} digits)")
    return value


def _parse_float(text: str) -> float:
    # json would read 1e400 as infinity, which it refuses to be written as.
    value = float(text)
    if not math.isfinite(value):
        raise _OutOfRange(text)
    return value


def check_schema_version(data: Any) -> str:
    """Return the report's ``schema_version`` if this perfprobe reads it.

    The one rule of ``perfprobe_compare`` and ``perfprobe_report``: any
    ``1.x``. A later 1.x writer only adds fields, which the readers leave
    alone. Raise ``ReportLoadError`` for data with no ``schema_version``
    and for any other version.
    """
    if not isinstance(data, Mapping) or "schema_version" not in data:
        raise ReportLoadError("is not a perfprobe report: no schema_version")
    version = data["schema_version"]
    if not isinstance(version, str) or version.split(".")[0] != SUPPORTED_MAJOR:
        # Shortened: a hostile file can hold a long value there.
        shown = repr(
            printable(shorten(version, 40)) if isinstance(version, str) else version
        )
        raise ReportLoadError(
            f"has schema_version {printable(shorten(shown, 60))}; this perfprobe reads "
            f"{SUPPORTED_MAJOR}.x reports"
        )
    return version


def report_from_data(data: Any, source: str) -> LoadedReport:
    """Return the figures of report data; raise ``ReportLoadError``."""
    check_schema_version(data)
    try:
        return LoadedReport(
            source=source,
            runs=_runs(data),
            time_scale=_time_scale(data),
            seed=_seed(data),
            database_vendor=_vendor(data),
            critical_titles=_critical_titles(data),
            n_plus_one_fixes=_n_plus_one_fixes(data),
        )
    except ReportFormatError as exc:
        raise ReportLoadError(f"is not a perfprobe report: {exc}") from None


def _runs(data: Mapping[str, Any]) -> tuple[RunFigures, ...]:
    runs = data.get("runs")
    if runs is None:
        return (read_run(run_record(data), "report"),)
    records = items(runs, "runs")
    if not records:
        raise ReportFormatError("runs is empty")
    return tuple(read_run(record, f"runs[{i}]") for i, record in enumerate(records))


def _time_scale(data: Mapping[str, Any]) -> float | None:
    settings = data.get("settings")
    scale = settings.get("time_scale") if isinstance(settings, Mapping) else None
    if isinstance(scale, bool) or not isinstance(scale, int | float):
        return None
    return float(scale)


def _seed(data: Mapping[str, Any]) -> int | None:
    settings = data.get("settings")
    seed = settings.get("seed") if isinstance(settings, Mapping) else None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _vendor(data: Mapping[str, Any]) -> str | None:
    environment = data.get("environment")
    vendor = (
        environment.get("database_vendor") if isinstance(environment, Mapping) else None
    )
    return vendor if isinstance(vendor, str) else None


def _critical_titles(data: Mapping[str, Any]) -> tuple[str, ...]:
    titles = []
    for index, rec in enumerate(
        items(field(data, "recommendations", ""), "recommendations")
    ):
        where = f"recommendations[{index}]"
        if field(rec, "severity", where) == "critical":
            titles.append(text(field(rec, "title", where), f"{where}.title"))
    return tuple(titles)


def _n_plus_one_fixes(data: Mapping[str, Any]) -> dict[FixKey, str]:
    # Only read to be shown beside a regression: a recommendation without
    # the fields (a hand-made or older report) just has no fix shown.
    fixes: dict[FixKey, str] = {}
    for rec in items(field(data, "recommendations", ""), "recommendations"):
        if not isinstance(rec, Mapping) or rec.get("rule_id") != "n-plus-one":
            continue
        evidence, suggestion = rec.get("evidence"), rec.get("suggestion")
        if not isinstance(evidence, Mapping) or not isinstance(suggestion, str):
            continue
        fingerprint, site = evidence.get("fingerprint"), evidence.get("call_site")
        if isinstance(fingerprint, str) and (site is None or isinstance(site, str)):
            fixes.setdefault((fingerprint, *split_call_site(site)), suggestion)
    return fixes

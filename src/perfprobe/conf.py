"""Read and validate the ``PERFPROBE`` settings dict, merged over defaults."""

from __future__ import annotations

import difflib
import math
import reprlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

SETTINGS_NAME = "PERFPROBE"


@dataclass(frozen=True)
class PerfprobeSettings:
    """Hold every perfprobe setting; times in seconds, sizes in megabytes."""

    ENABLED: bool = True
    SLOW_OPERATION_SECONDS: float = 1.0
    SLOW_QUERY_SECONDS: float = 0.5
    HIGH_MEMORY_MB: float = 100.0
    N_PLUS_ONE_MIN_QUERIES: int = 5
    DUPLICATE_MIN_QUERIES: int = 2
    RECENT_EVENTS_SIZE: int = 1000
    EXACT_PERCENTILE_LIMIT: int = 2048
    MAX_METRICS: int = 500
    MAX_FINGERPRINTS: int = 500
    MAX_SLOW_QUERIES: int = 50
    MAX_SCOPE_HISTORY: int = 200
    MAX_QUERY_GROUPS_PER_SCOPE: int = 1000
    MAX_CALL_SITES: int = 20
    MAX_TAG_KEYS: int = 10
    MAX_TAG_VALUES: int = 20
    MAX_ERROR_TYPES: int = 50
    STORE_SQL_PARAMETERS: bool = False
    STORE_QUERY_STRINGS: bool = False
    CALL_SITE_EXCLUDE: tuple[str, ...] = ()
    INSTRUMENT_DATABASE: bool = True
    MONITOR_REQUESTS: bool = True
    MEASURE_TIMING: bool = True
    TRACK_MEMORY: bool = True
    SAMPLE_RATE: float = 1.0
    EXCLUDE_PATHS: tuple[str, ...] = ()
    REPORT_TOKEN: str | None = None
    METRICS_TOKEN: str | None = None
    PROMETHEUS: bool = False
    OPENTELEMETRY: bool = True
    #: Log each N+1 finding of a closed scope to ``perfprobe.findings``;
    #: ``None`` follows ``settings.DEBUG`` (see ``perfprobe.findinglog``).
    LOG_N_PLUS_ONE: bool | None = None


_BOOL_KEYS = {
    "ENABLED",
    "STORE_SQL_PARAMETERS",
    "STORE_QUERY_STRINGS",
    "INSTRUMENT_DATABASE",
    "MONITOR_REQUESTS",
    "MEASURE_TIMING",
    "TRACK_MEMORY",
    "PROMETHEUS",
    "OPENTELEMETRY",
}
_TOKEN_KEYS = {"REPORT_TOKEN", "METRICS_TOKEN"}
# A bearer token is the only secret between the internet and the report.
MIN_TOKEN_LENGTH = 16
_POSITIVE_NUMBER_KEYS = {
    "SLOW_OPERATION_SECONDS",
    "SLOW_QUERY_SECONDS",
    "HIGH_MEMORY_MB",
}
_POSITIVE_INT_KEYS = {
    "N_PLUS_ONE_MIN_QUERIES",
    "DUPLICATE_MIN_QUERIES",
    "RECENT_EVENTS_SIZE",
    "EXACT_PERCENTILE_LIMIT",
    "MAX_METRICS",
    "MAX_FINGERPRINTS",
    "MAX_SLOW_QUERIES",
    "MAX_SCOPE_HISTORY",
    "MAX_QUERY_GROUPS_PER_SCOPE",
    "MAX_CALL_SITES",
    "MAX_TAG_KEYS",
    "MAX_TAG_VALUES",
    "MAX_ERROR_TYPES",
}
_MIN_INT = {"N_PLUS_ONE_MIN_QUERIES": 2, "DUPLICATE_MIN_QUERIES": 2}
# Every integer setting is a count or a bound on memory; past ten million it is
# a typo, and Python's deques and arrays refuse sizes far beyond that anyway.
_MAX_INT = 10_000_000


def _shown(value: Any) -> str:
    try:
        # Shortened (a long int's middle, a long text's or list's end
        # elided) to keep one short line.
        return reprlib.repr(value)
    except ValueError:
        # An int past sys.get_int_max_str_digits() has no repr.
        return f"a {type(value).__name__} too long to show"


def _fail(
    key: str, value: Any, expected: str, detail: str = ""
) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"{SETTINGS_NAME}[{key!r}] is {_shown(value)}; expected {expected}{detail}."
    )


def _check_entries(
    key: str, value: Any, fits: Callable[[Any], bool], expected: str
) -> tuple[str, ...]:
    """Return list or tuple ``value`` as a tuple if every entry ``fits``."""
    if not isinstance(value, list | tuple):
        raise _fail(key, value, expected)
    for index, entry in enumerate(value):
        if not fits(entry):
            # Named by its place: the list itself is shown shortened.
            raise _fail(key, value, expected, f" (item {index} is {_shown(entry)})")
    return tuple(value)


def _validate(key: str, value: Any) -> Any:
    """Return ``value`` for ``key`` or raise ``ImproperlyConfigured``."""
    if key in _BOOL_KEYS:
        if not isinstance(value, bool):
            raise _fail(key, value, "True or False")
        return value
    if key in _POSITIVE_NUMBER_KEYS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(key, value, "a finite number greater than 0")
        try:
            number = float(value)
        except OverflowError:
            # An int too big for a float (10**400).
            number = math.inf
        if not math.isfinite(number) or number <= 0:
            raise _fail(key, value, "a finite number greater than 0")
        return number
    if key in _POSITIVE_INT_KEYS:
        low = _MIN_INT.get(key, 1)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not low <= value <= _MAX_INT
        ):
            raise _fail(key, value, f"an integer from {low} to {_MAX_INT:,}")
        return value
    if key == "CALL_SITE_EXCLUDE":
        # An empty fragment would match every path and hide every call site.
        return _check_entries(
            key,
            value,
            lambda v: isinstance(v, str) and bool(v),
            "a list of non-empty path fragments (strings)",
        )
    if key == "SAMPLE_RATE":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value <= 1
        ):
            raise _fail(key, value, "a fraction from 0.0 to 1.0")
        return float(value)
    if key == "EXCLUDE_PATHS":
        return _check_entries(
            key,
            value,
            lambda v: isinstance(v, str) and v.startswith("/"),
            'a list of path prefixes starting with "/"',
        )
    if key == "LOG_N_PLUS_ONE":
        if value is not None and not isinstance(value, bool):
            raise _fail(key, value, "True, False or None (follow DEBUG)")
        return value
    if key in _TOKEN_KEYS:
        if value is None:
            return None
        if (
            not isinstance(value, str)
            or len(value) < MIN_TOKEN_LENGTH
            or not value.isascii()
            or not value.isprintable()
            or " " in value
        ):
            # The value itself is a secret: the message must not show it.
            raise ImproperlyConfigured(
                f"{SETTINGS_NAME}[{key!r}] is not a usable bearer token; expected "
                f"None or at least {MIN_TOKEN_LENGTH} printable ASCII characters "
                "without spaces."
            )
        return value
    raise AssertionError(key)  # pragma: no cover - every field is listed above


class SettingsError(ImproperlyConfigured):
    """``PERFPROBE`` is invalid; ``problems`` holds one sentence per fault.

    Every fault is found in one pass, so that a user fixing the settings
    sees them all at once instead of one per start-up. ``str()`` joins them.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(" ".join(self.problems))


def _read(raw: Any) -> tuple[dict[str, Any], list[str]]:
    """Return the valid values of the user dict ``raw`` and each fault found."""
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        return {}, [f"{SETTINGS_NAME} must be a dict, not {type(raw).__name__}."]
    values: dict[str, Any] = {}
    problems = []
    known = {f.name for f in fields(PerfprobeSettings)}
    unknown = sorted(str(k) for k in raw if k not in known)
    unmatched = []
    for key in unknown:
        close = difflib.get_close_matches(key.upper(), known, n=1)
        if close:
            problems.append(
                f"{SETTINGS_NAME} has unknown key {key} (did you mean {close[0]}?)."
            )
        else:
            unmatched.append(key)
    if unmatched:
        # Only a key like none of the known ones needs the whole list.
        problems.append(
            f"{SETTINGS_NAME} has unknown key(s) {', '.join(unmatched)}; "
            f"known keys are {', '.join(sorted(known))}."
        )
    for key, value in raw.items():
        if key not in known:
            continue
        try:
            values[key] = _validate(key, value)
        except ImproperlyConfigured as exc:
            problems.append(str(exc))
    return values, problems


def settings_problems(raw: Any) -> list[str]:
    """Return one sentence per fault in the user dict ``raw``; empty if valid."""
    return _read(raw)[1]


def load_settings(raw: Any) -> PerfprobeSettings:
    """Build settings from a user dict; raise ``SettingsError`` naming every fault."""
    values, problems = _read(raw)
    if problems:
        raise SettingsError(problems)
    return PerfprobeSettings(**values)


#: The settings ``get_settings`` returns until they change, or ``None``
#: before the first read and after a change. A hot path may compare it by
#: identity with the settings it last saw, without the call.
loaded: PerfprobeSettings | None = None


def get_settings() -> PerfprobeSettings:
    """Return the validated settings, read once and cached until they change."""
    global loaded
    if loaded is None:
        raw = getattr(django_settings, SETTINGS_NAME, None)
        loaded = load_settings(raw)
    return loaded


def settings_or_none() -> PerfprobeSettings | None:
    """Return ``get_settings()``, or ``None`` if the settings are invalid."""
    try:
        return get_settings()
    except Exception:
        return None  # the caller's other path reads them again, and logs


@receiver(setting_changed)
def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    global loaded
    if setting == SETTINGS_NAME:
        loaded = None


def n_plus_one_log_wanted() -> bool:
    """Return whether N+1 findings are to be logged now.

    ``LOG_N_PLUS_ONE`` decides; ``None`` (the default) follows
    ``settings.DEBUG``. Never with perfprobe off or its settings invalid.
    """
    conf = settings_or_none()
    if conf is None or not conf.ENABLED:
        return False
    if conf.LOG_N_PLUS_ONE is None:
        return bool(getattr(django_settings, "DEBUG", False))
    return conf.LOG_N_PLUS_ONE

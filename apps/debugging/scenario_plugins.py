"""Register the scenarios that installed distributions declare as entry points."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

from .scenarios import Scenario, registry
from .setup import DemoSetupError

#: The entry point group a distribution lists its scenarios under.
ENTRY_POINT_GROUP = "perfprobe.scenarios"


def describe_entry_point(entry_point: EntryPoint) -> str:
    """Return ``entry point NAME = VALUE`` with its group and distribution."""
    dist = entry_point.dist
    source = f", distribution {dist.name}" if dist is not None else ""
    return (
        f"entry point {entry_point.name} = {entry_point.value} "
        f"(group {ENTRY_POINT_GROUP}{source})"
    )


def load_entry_point_scenarios() -> None:
    """Load every ``perfprobe.scenarios`` entry point and register what it names.

    An entry point names either a module, whose import registers its
    scenarios with ``@register_scenario``, or a ``Scenario`` subclass, which
    is registered here. Raise ``DemoSetupError`` naming the entry point and
    the real error when one cannot be loaded or registered.
    """
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        where = describe_entry_point(entry_point)
        try:
            target = entry_point.load()
        except Exception as exc:
            raise DemoSetupError(
                f"{where} could not be loaded: {type(exc).__name__}: {_one_line(exc)}"
            ) from exc
        if isinstance(target, ModuleType):
            continue
        if not (isinstance(target, type) and issubclass(target, Scenario)):
            raise DemoSetupError(f"{where} is neither a module nor a Scenario subclass")
        try:
            registry.register(target)
        except ValueError as exc:
            raise DemoSetupError(
                f"{where} cannot be registered: {_one_line(exc)}"
            ) from exc


def _one_line(exc: BaseException) -> str:
    # A SyntaxError's text spans lines; the command's error is one line.
    return " ".join(str(exc).split())

"""Define the scenario contract and the registry that the demo runs from."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from perfprobe import PerformanceMonitor

S = TypeVar("S", bound=type["Scenario"])


@dataclass
class DemoContext:
    """What every scenario may use: the monitor, the time scale and a seeded RNG.

    A scenario draws on the seed through ``rng`` or ``use_seed()``, which
    set ``seed_used``: the report states the seed only when something used it.
    """

    monitor: PerformanceMonitor
    time_scale: float = 1.0
    seed: int = 42
    #: Called with one line of text for each step when ``--verbose`` is on.
    say: Callable[[str], None] = field(default=lambda text: None)
    #: Settings for this scenario alone, from ``PerformanceDemo``'s
    #: ``scenario_options`` (the command fills the ``load`` scenario's).
    options: dict[str, Any] = field(default_factory=dict)

    seed_used: bool = field(default=False, init=False)
    _rng: random.Random | None = field(default=None, init=False, repr=False)

    @property
    def rng(self) -> random.Random:
        """Return the random generator seeded with ``seed`` (one per context)."""
        self.seed_used = True
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    def use_seed(self) -> int:
        """Return ``seed`` for a scenario that derives its data from it."""
        self.seed_used = True
        return self.seed

    def scaled(self, nominal_s: float) -> float:
        """Return a nominal latency in seconds multiplied by the time scale."""
        return nominal_s * self.time_scale


class Scenario:
    """One unit of the demo: subclass, set ``name``, and implement ``run()``.

    ``run()`` does real work through the monitor and returns JSON-ready
    details for the report. An exception from ``run()`` marks the scenario
    failed without stopping the others.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: Scenarios run in ascending ``order``, then in registration order.
    order: ClassVar[int] = 100
    #: The documented latency of each step at time scale 1.0, in seconds.
    nominal_latencies_s: ClassVar[dict[str, float]] = {}
    #: False keeps the scenario out of a run that names no scenarios; it
    #: then runs only when asked for by name.
    run_by_default: ClassVar[bool] = True

    def __init__(self, context: DemoContext) -> None:
        self.context = context
        self.monitor = context.monitor

    def run(self) -> dict[str, Any]:
        """Do the scenario's work and return its details."""
        raise NotImplementedError


class ScenarioRegistry:
    """Map scenario names to classes, in registration order."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Scenario]] = {}

    def register(self, cls: S) -> S:
        """Add ``cls`` under ``cls.name``; usable as a class decorator.

        Raise ``ValueError`` if the name is missing or already taken by
        another class.
        """
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{cls.__qualname__} needs a `name` that is an identifier")
        existing = self._classes.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"a scenario named {name!r} is already registered")
        self._classes[name] = cls
        return cls

    def unregister(self, name: str) -> None:
        """Remove the scenario called ``name``; unknown names are ignored."""
        self._classes.pop(name, None)

    def get(self, name: str) -> type[Scenario]:
        """Return the class for ``name``; raise ``KeyError`` if unknown."""
        return self._classes[name]

    def names(self) -> list[str]:
        """Return every registered name in running order."""
        position = {name: i for i, name in enumerate(self._classes)}
        return sorted(
            self._classes, key=lambda n: (self._classes[n].order, position[n])
        )

    def default_names(self) -> list[str]:
        """Return the names a run without a selection runs, in running order."""
        return [n for n in self.names() if self._classes[n].run_by_default]

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[type[Scenario]]:
        return iter([self._classes[name] for name in self.names()])


registry = ScenarioRegistry()
register_scenario = registry.register

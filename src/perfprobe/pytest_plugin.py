"""Offer perfprobe to pytest: the ``perfprobe`` fixture and ``--perfprobe-report``.

Registered through the ``pytest11`` entry point, so it is loaded in every
pytest session of an environment where django-perfprobe is installed
(``-p no:perfprobe`` turns it off). It therefore imports the rest of
perfprobe only when a test or the option asks for it, and needs Django only
then.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing.fixture import PerfprobeFixture

REPORT_OPTION = "--perfprobe-report"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--perfprobe-report PATH``."""
    group = parser.getgroup("perfprobe", "perfprobe performance report")
    group.addoption(
        REPORT_OPTION,
        metavar="PATH",
        dest="perfprobe_report",
        default=None,
        help=(
            "write the perfprobe report of the whole session to PATH as JSON; "
            "every test is then a perfprobe scope of its own"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    """Check the report path and, when one is given, start the session report."""
    raw = config.getoption("perfprobe_report")
    if raw is None:
        return
    from .pytest_report import SessionReport, refuse_distribution, report_target

    # pytest-xdist's option and the attribute it gives its workers' configs.
    refuse_distribution(
        getattr(config.option, "numprocesses", None), hasattr(config, "workerinput")
    )
    target = report_target(raw, config.invocation_params.dir)
    config.pluginmanager.register(SessionReport(target), SessionReport.NAME)


@pytest.fixture
def perfprobe(request: pytest.FixtureRequest) -> Iterator[PerfprobeFixture]:
    """Run the test in a perfprobe scope named by its node id; give the budgets.

    Queries, operations, N+1 patterns and duplicates of the test are
    attributed to that scope. The test errors at set-up, with the reason,
    when perfprobe records no query (Django not set up, ``perfprobe`` not in
    ``INSTALLED_APPS``, or switched off): its budgets would pass unchecked.
    """
    from . import monitoring
    from .testing.fixture import PerfprobeFixture
    from .testing.readiness import recording_problem

    problem = recording_problem()
    if problem is not None:
        pytest.fail(
            f"the perfprobe fixture cannot record queries: {problem}", pytrace=False
        )
    monitor = monitoring.monitor
    with monitor.scope(request.node.nodeid, kind="test") as scope:
        yield PerfprobeFixture(monitor, scope)

"""First imports of perfprobe's packages from several threads at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Django set up in a fresh interpreter, so that nothing of perfprobe's
# packages but what the app imports at start is imported yet.
_SETUP = """
import importlib
import sys
import threading

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["perfprobe"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    PERFPROBE={"LOG_N_PLUS_ONE": False},
)
django.setup()
"""

# A fresh interpreter, so that nothing of perfprobe.report is imported yet.
# The threads meet at a barrier and then each take one public road into the
# report package; every failure is printed.
_RACE_SCRIPT = (
    _SETUP
    + """
from perfprobe import monitor

assert not [m for m in sys.modules if m.startswith("perfprobe.report")]
ROADS = {
    "generate_report": monitor.generate_report,
    "testing": lambda: importlib.import_module("perfprobe.testing.assertions"),
    "views": lambda: importlib.import_module("perfprobe.views"),
    "compare": lambda: importlib.import_module("perfprobe.compare.render"),
}
taken = sys.argv[1].split(",")
barrier = threading.Barrier(len(taken))
failures = []


def take(road):
    barrier.wait()
    try:
        ROADS[road]()
    except BaseException as exc:
        failures.append(f"{road}: {type(exc).__name__}: {exc}")


threads = [threading.Thread(target=take, args=(road,)) for road in taken]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(failures)
"""
)


@pytest.mark.parametrize(
    "roads",
    [
        "generate_report,testing",
        "generate_report,testing,views,compare",
        "testing,generate_report,generate_report,testing",
    ],
)
def test_first_imports_from_several_threads_at_once(roads: str) -> None:
    """Each thread gets the whole report package, whichever road it took.

    A report built in one thread while another imported perfprobe.testing
    failed in one of them nearly every time: each held one module's import
    lock and waited for the other's, and Python broke the deadlock by
    handing one a module still half initialised ("cannot import name
    'NearbyQuery' from partially initialized module").
    """
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", _RACE_SCRIPT, roads],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]"


# A fresh interpreter, so that nothing of perfprobe.prometheus is imported
# yet. The runtime module is made slow to run (a finder wraps its loader),
# so that the exporter's thread is inside the package's __init__ when the
# views' thread starts: Python takes a module's lock before its package's,
# so the views' thread holds the views' lock and waits for the package, and
# a package whose __init__ then imports the views deadlocks with it.
_SLOW_RUNTIME_SCRIPT = (
    _SETUP
    + """
import importlib.abc
import time

assert "perfprobe.prometheus" not in sys.modules


class SlowRuntime(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "perfprobe.prometheus.runtime":
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                run = spec.loader.exec_module

                def slow(module):
                    time.sleep(0.4)
                    run(module)

                spec.loader.exec_module = slow
                return spec
        return None


sys.meta_path.insert(0, SlowRuntime())
failures = []


def take(name):
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failures.append(f"{name}: {type(exc).__name__}: {exc}")


first = threading.Thread(target=take, args=("perfprobe.prometheus.exporter",))
first.start()
time.sleep(0.1)
second = threading.Thread(target=take, args=("perfprobe.prometheus.views",))
second.start()
first.join()
second.join()
print(failures)
"""
)


def test_the_exporter_and_the_views_imported_from_two_threads_at_once() -> None:
    """Both threads get their module whole.

    The package imported its runtime and views with itself, so a thread
    importing the exporter (which imports the package first) while another
    imported the views was handed a half-initialised module ("cannot import
    name 'metrics_view' from partially initialized module").
    """
    done = subprocess.run(
        [sys.executable, "-c", _SLOW_RUNTIME_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

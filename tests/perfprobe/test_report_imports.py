"""First imports of the report package from several threads at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

# A fresh interpreter, so that nothing of perfprobe.report is imported yet.
# The threads meet at a barrier and then each take one public road into the
# report package; every failure is printed.
_RACE_SCRIPT = """
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

"""First imports of perfprobe.prometheus's modules from two threads at once."""

from __future__ import annotations

import subprocess
import sys

# A fresh interpreter, so that nothing of perfprobe.prometheus is imported
# yet. The runtime module is made slow to run (a finder wraps its loader),
# so that the exporter's thread is inside the package's __init__ when the
# views' thread starts: Python takes a module's lock before its package's,
# so the views' thread holds the views' lock and waits for the package, and
# a package whose __init__ then imports the views deadlocks with it.
_RACE_SCRIPT = """
import importlib
import importlib.abc
import sys
import threading
import time

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["perfprobe"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    PERFPROBE={"LOG_N_PLUS_ONE": False},
)
django.setup()
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


def test_the_exporter_and_the_views_imported_from_two_threads_at_once() -> None:
    """Both threads get their module whole.

    The package imported its runtime and views with itself, so a thread
    importing the exporter (which imports the package first) while another
    imported the views was handed a half-initialised module ("cannot import
    name 'metrics_view' from partially initialized module").
    """
    done = subprocess.run(
        [sys.executable, "-c", _RACE_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

"""Tests for perfprobe.db.callsite: the user-code line behind a query."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import threading
from collections.abc import Callable
from typing import Any

import django
import pytest
from django.conf import settings
from django.test import override_settings

import perfprobe
import tests
from perfprobe.db import callsite, framewalk
from perfprobe.db.callsite import (
    QueryOrigin,
    display_path,
    find_query_origin,
    is_library_path,
)

THIS_FILE = os.path.relpath(os.path.abspath(__file__), settings.BASE_DIR)


def caller_line() -> int:
    """Return the line number the caller is on."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def load_fake_module(path: str) -> dict[str, Any]:
    """Run a tiny module as if it lived at ``path`` and return its globals.

    Its ``call`` runs a callable from "inside" that file, two lines down.
    """
    source = "def call(fn):\n    return fn()\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, path, "exec"), namespace)
    return namespace


def test_call_site_is_the_calling_line() -> None:
    """Called from a test, the call site is this file and line, relative."""
    origin, line = find_query_origin(), caller_line()
    assert origin == QueryOrigin(f"{THIS_FILE}:{line}", None)


def test_site_packages_frames_are_skipped() -> None:
    """A frame in site-packages is library code: the walk goes past it."""
    fake = load_fake_module("/opt/env/lib/python3.11/site-packages/lib/mod.py")
    call: Callable[[Callable[[], QueryOrigin]], QueryOrigin] = fake["call"]
    origin, line = call(find_query_origin), caller_line()
    assert origin.call_site == f"{THIS_FILE}:{line}"


def test_console_scripts_are_library_code() -> None:
    """A console script of the environment (.venv/bin/pytest) is skipped.

    With the virtualenv inside the project, pytest-django's set-up queries
    were placed at ".venv/bin/pytest:8", the script that started pytest.
    """
    scripts = sysconfig.get_paths()["scripts"]
    fake = load_fake_module(os.path.join(scripts, "pytest"))
    origin, line = fake["call"](find_query_origin), caller_line()
    assert origin.call_site == f"{THIS_FILE}:{line}"
    assert is_library_path(os.path.join(os.path.abspath(scripts), "gunicorn"))


def test_code_outside_the_base_dir_is_shown_absolute() -> None:
    """User code outside BASE_DIR is the call site, with its absolute path."""
    fake = load_fake_module("/opt/vendor/helper.py")
    assert fake["call"](find_query_origin).call_site == "/opt/vendor/helper.py:2"


def test_call_site_exclude_skips_matching_paths() -> None:
    """A path fragment in CALL_SITE_EXCLUDE makes matching files library code."""
    fake = load_fake_module("/opt/vendor/helper.py")
    with override_settings(PERFPROBE={"CALL_SITE_EXCLUDE": ["/opt/vendor/"]}):
        origin, line = fake["call"](find_query_origin), caller_line()
    assert origin.call_site == f"{THIS_FILE}:{line}"


def test_base_dir_setting_moves_the_relative_root() -> None:
    """Paths are relative to settings.BASE_DIR, re-read when it changes."""
    with override_settings(BASE_DIR=os.path.dirname(os.path.abspath(__file__))):
        origin, line = find_query_origin(), caller_line()
    assert origin.call_site == f"{os.path.basename(__file__)}:{line}"


def test_a_stack_of_only_library_code_has_no_call_site() -> None:
    """When no frame is user code, the call site is None rather than a guess."""
    source = "def gen():\n    yield 1\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, "/usr/lib/python3/dist-packages/x.py", "exec"), namespace)
    generator = namespace["gen"]()
    next(generator)
    # A suspended generator's frame has no caller, so the walk ends inside it.
    assert find_query_origin(generator.gi_frame) == QueryOrigin(None, None)


def test_library_paths() -> None:
    """Django, perfprobe, the standard library and installed packages are library."""
    assert is_library_path(os.path.abspath(django.__file__))
    assert is_library_path(os.path.abspath(perfprobe.__file__))
    assert is_library_path(os.path.abspath(json.__file__))
    assert is_library_path("/srv/app/.venv/lib/python3.11/site-packages/x.py")
    assert is_library_path("<frozen importlib._bootstrap>")
    # The project's own tests live under a directory named perfprobe too.
    assert not is_library_path(os.path.abspath(__file__))
    assert not is_library_path(os.path.abspath(tests.__file__))


def test_display_path_is_relative_only_inside_the_base() -> None:
    """A path inside BASE_DIR is relative; a sibling sharing its prefix is not."""
    base = os.path.abspath(str(settings.BASE_DIR))
    assert display_path(os.path.join(base, "apps", "views.py")) == os.path.join(
        "apps", "views.py"
    )
    assert display_path(base + "-other/x.py") == base + "-other/x.py"


# Run in a child process: a deadlock would otherwise hold the cache lock for
# the rest of the test session.
_REENTRANT_SCRIPT = """
import sys, threading, weakref
import django
import pytest
django.setup()
from perfprobe.db import callsite

callsite._MAX_CACHED_CODES = 3
sites = []

def on_death(_ref):
    # A finaliser that runs a query: its walk meets code not yet classified.
    namespace = {"callsite": callsite}
    exec(compile("def late():\\n    return callsite.find_query_origin()\\n",
                 "late_callback.py", "exec"), namespace)
    sites.append(namespace["late"]().call_site)

def run():
    # A code object that only the cache holds: dropping it runs on_death.
    code = compile("x = 1", "victim.py", "exec")
    ref = weakref.ref(code, on_death)
    callsite._classify(code)
    del code
    if sys.argv[1] == "clear_cache":
        callsite.clear_cache()
    else:
        for i in range(callsite._MAX_CACHED_CODES):
            callsite._classify(compile("x = 1", f"filler{i}.py", "exec"))

thread = threading.Thread(target=run, daemon=True)
thread.start()
thread.join(20)
print("deadlocked" if thread.is_alive() else sites)
"""


@pytest.mark.parametrize("release", ["clear_cache", "cache_overflow"])
def test_deadlock_when_a_finaliser_queries_while_the_cache_drops_code(
    release: str,
) -> None:
    """A query from a weakref callback run as the code cache lets go must not hang."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([".", "src"])}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_REENTRANT_SCRIPT), release],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['late_callback.py:2']"


@pytest.mark.parametrize("walk", ["c", "python"])
def test_race_a_classification_begun_before_a_settings_change_is_not_kept(
    monkeypatch: pytest.MonkeyPatch, walk: str
) -> None:
    """Code classified in one thread as the settings change obeys the new settings."""
    if walk == "python":
        monkeypatch.setattr(callsite, "_walk", framewalk.walk_frames)
    callsite.clear_cache()
    namespace: dict[str, Any] = {"callsite": callsite}
    source = "def probe():\n    return callsite.find_query_origin().call_site\n"
    exec(compile(source, "/srv/app/vendored_lib/x.py", "exec"), namespace)
    probe = namespace["probe"]
    classifying, changed = threading.Event(), threading.Event()
    real_display_path = callsite.display_path

    def slow_display_path(path: str) -> str:
        # The other thread classifies probe's code under the old settings
        # and is held there until the settings have changed.
        shown = real_display_path(path)
        if path.startswith("/srv/app/vendored_lib"):
            classifying.set()
            changed.wait(10)
        return shown

    monkeypatch.setattr(callsite, "display_path", slow_display_path)
    thread = threading.Thread(target=probe)
    thread.start()
    assert classifying.wait(10)
    try:
        with override_settings(PERFPROBE={"CALL_SITE_EXCLUDE": ["vendored_lib"]}):
            changed.set()
            thread.join(10)
            monkeypatch.setattr(callsite, "display_path", real_display_path)
            line = caller_line() + 1
            site = probe()
    finally:
        changed.set()
        callsite.clear_cache()
    # probe's file is excluded now: the call site is the line that called it.
    assert site == f"{THIS_FILE}:{line}"

#!/usr/bin/env python
"""Run administrative tasks for the perfprobe demo project."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The library lives under src/; putting it first lets a clean checkout run the
# demo without installing the distribution.
sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))


def main() -> None:
    """Run the Django command line with the demo settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
    try:
        import django  # noqa: F401
    except ImportError:
        sys.exit(
            f"Error: Django is not installed for {sys.executable}. Run `make venv` "
            "and then `source .venv/bin/activate` (or call .venv/bin/python "
            "manage.py ...)."
        )
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    # Load the settings first: a bad environment variable (DATABASE_URL) is
    # then one line, where Django would list only its own commands or print
    # a traceback ending deep in its settings loader.
    try:
        settings.INSTALLED_APPS  # noqa: B018
    except ImproperlyConfigured as exc:
        sys.exit(f"Error: {exc}")

    try:
        execute_from_command_line(sys.argv)
    except KeyboardInterrupt:
        # A command that handles Ctrl-C itself (run_performance_demo) exits
        # with 130 before this; this catches one that lands between its
        # handler and the end of the process, or in any other command.
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)


if __name__ == "__main__":
    main()

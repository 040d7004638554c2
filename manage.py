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
    from django.core.management.base import (
        CommandError,
        CommandParser,
        handle_default_options,
    )

    # --settings and --pythonpath first, as Django's own command line takes
    # them before it loads the settings, so that the settings loaded below
    # are the ones asked for.
    early = CommandParser(add_help=False, allow_abbrev=False)
    early.add_argument("--settings")
    early.add_argument("--pythonpath")
    try:
        options, _ = early.parse_known_args(sys.argv[2:])
    except CommandError:
        pass  # a malformed option: the command's own parser names it
    else:
        handle_default_options(options)
    # Load the settings first: a bad environment variable (DATABASE_URL) or
    # settings module is then one line, where Django would list only its own
    # commands or print a traceback ending deep in its settings loader.
    try:
        settings.INSTALLED_APPS  # noqa: B018
    except ImproperlyConfigured as exc:
        sys.exit(f"Error: {exc}")
    except ImportError as exc:
        sys.exit(
            "Error: the settings module "
            f"{os.environ['DJANGO_SETTINGS_MODULE']!r} cannot be imported: {exc}"
        )

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

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
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

"""Run the request benchmark: ``python -m bench.requests``."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())

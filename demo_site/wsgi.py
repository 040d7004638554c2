"""Expose the demo project as a WSGI callable named ``application``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Servers import this module directly, so manage.py's path setup has not run.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from django.core.wsgi import get_wsgi_application

from demo_site.tracing import configure_from_env

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
configure_from_env()

application = get_wsgi_application()

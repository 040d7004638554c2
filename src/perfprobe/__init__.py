"""Measure where a Django application spends its time, memory and queries."""

from __future__ import annotations

from .monitoring import PerformanceMonitor, monitor
from .scope import Scope, get_current_scope

__all__ = ["PerformanceMonitor", "Scope", "get_current_scope", "monitor"]
__version__ = "0.1.0"

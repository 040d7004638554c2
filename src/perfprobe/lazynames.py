"""Give a package its public names when first asked for, not at its import.

A package whose ``__init__`` imports its modules in turn can deadlock with a
thread that imports one of those modules directly: Python takes a module's
import lock before its package's, each thread holds one lock and waits for
the other's, and Python breaks the deadlock by handing one thread a module
still half initialised ("cannot import name ... from partially initialized
module"). A package that imports a module only when one of its names is
first read (PEP 562) holds no lock of its modules while another thread
imports them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(package: str, module_of: dict[str, str]) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` for ``package``'s names.

    ``module_of`` maps each public name to the module (relative to
    ``package``) that defines it; any other name raises ``AttributeError``.
    """

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__

"""Skip a test of C code where the extension is not built, unless CI requires it."""

from __future__ import annotations

import os

import pytest

#: CI sets this, so that a build that silently lost an extension fails the
#: tests of its C code instead of skipping them.
REQUIRE_ENV = "PERFPROBE_REQUIRE_EXTENSION"


def required() -> bool:
    """Return whether the extensions must be built (``REQUIRE_ENV`` set)."""
    return bool(os.environ.get(REQUIRE_ENV))


def needs_extension(found: object, what: str) -> pytest.MarkDecorator:
    """Skip when ``found`` (the imported C function) is ``None``, unless required.

    ``what`` names the missing build in the skip reason.
    """
    return pytest.mark.skipif(
        found is None and not required(), reason=f"{what} is not built"
    )

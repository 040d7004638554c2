"""Fixtures shared by perfprobe's own tests."""

from __future__ import annotations

import pytest

from perfprobe import middleware
from perfprobe.middleware import PerformanceMiddleware


@pytest.fixture(params=["c", "python"])
def request_path(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Serve requests through the middleware's C path, then its Python code.

    The C path (``perfprobe._reqpath``) is skipped where it is not built or
    ``PERFPROBE_PURE_PYTHON`` is set; the Python code is the type's own
    ``__call__`` put back over the C slot.
    """
    if request.param == "python":
        monkeypatch.setattr(PerformanceMiddleware, "__call__", middleware.python_call)
    elif middleware._c_path is None:
        pytest.skip("the C request path is not built or is turned off")
    return str(request.param)

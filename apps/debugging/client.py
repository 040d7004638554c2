"""Send JSON requests to the demo's loopback server with the standard library."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HttpResult:
    """One response as the client saw it; ``duration_s`` is the round trip."""

    method: str
    path: str
    status: int
    duration_s: float
    body: Any


def request_json(
    base_url: str,
    method: str,
    path: str,
    payload: Any = None,
    timeout_s: float = 30.0,
) -> HttpResult:
    """Send one request and decode the JSON answer (``None`` if not JSON).

    ``http.client`` talks to the address directly, so no proxy settings from
    the environment can send loopback traffic anywhere else.
    """
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s
    )
    body = None if payload is None else json.dumps(payload).encode()
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    started = time.perf_counter_ns()
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    duration_s = (time.perf_counter_ns() - started) / 1e9
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = None
    return HttpResult(method, path, response.status, duration_s, decoded)

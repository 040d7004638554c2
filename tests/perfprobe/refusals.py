"""Compare a refused perfprobe page with an unknown URL, as a client sees both."""

from __future__ import annotations

from django.http import HttpResponseBase


def unknown_of(page: str) -> str:
    """Return an unknown URL as long as ``page`` (the demo's 404 echoes the path)."""
    return page[:-2] + "X" + page[-1]


def fingerprint(response: HttpResponseBase) -> tuple[object, ...]:
    """Return what a client sees of ``response``: status, headers, body length."""
    headers = {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower() not in {"date", "content-length"}
    }
    return (response.status_code, sorted(headers.items()), len(response.content))

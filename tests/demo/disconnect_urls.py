"""Serve a view whose monitored block a client disconnect cancels."""

from __future__ import annotations

import asyncio

from django.http import HttpRequest, HttpResponse
from django.urls import path

from perfprobe import monitor

BLOCK = "waiting-block"


async def blocked(request: HttpRequest) -> HttpResponse:
    """Wait 3 s inside a monitored block, longer than any test client waits."""
    async with monitor.measure_execution_time(BLOCK):
        await asyncio.sleep(3)
    return HttpResponse("late")


urlpatterns = [path("blocked/", blocked)]

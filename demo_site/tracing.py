"""Give the demo a tracer provider when asked, to show perfprobe's spans.

``PERFPROBE_DEMO_TRACES=console`` prints every finished span to stderr.
Unset, nothing is imported: the demo then shows that perfprobe makes no
spans without a provider of the application's own.
"""

from __future__ import annotations

import os
import sys

ENV = "PERFPROBE_DEMO_TRACES"


def configure_from_env() -> None:
    """Install a console-exporting tracer provider if ``PERFPROBE_DEMO_TRACES`` says.

    Raise ``SystemExit`` with one line for a value other than ``console``.
    """
    choice = os.environ.get(ENV, "")
    if not choice:
        return
    if choice != "console":
        raise SystemExit(f"{ENV}={choice!r}: expected 'console' or nothing")
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": "perfprobe-demo"})
    )
    provider.add_span_processor(
        SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr))
    )
    trace.set_tracer_provider(provider)

"""Measure what monitoring costs a real Django request, against the alternatives.

``python -m bench.requests [--quick] [--json OUT] [--markdown OUT]`` from the
repository root; see ``bench/requests/README.md``.
"""

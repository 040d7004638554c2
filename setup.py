"""Declare the optional C extensions; everything else is in pyproject.toml.

The call-site walk in C (``src/perfprobe/db/_callsite.c``), the query
recorder's common path (``src/perfprobe/db/_recorder.c``), the loops that
fold timer and query records in C (``src/perfprobe/_fold.c``) and the request
middleware's common path (``src/perfprobe/_reqpath.c``) are optional:
where they do not build (no compiler, no Python headers) the install goes
on without them and perfprobe uses the same code written in Python.
Declared here rather than in pyproject.toml, where setuptools still calls
``ext-modules`` experimental.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "perfprobe.db._callsite",
            sources=["src/perfprobe/db/_callsite.c"],
            depends=["src/perfprobe/db/_walkerapi.h"],
            optional=True,
        ),
        Extension(
            "perfprobe.db._recorder",
            sources=["src/perfprobe/db/_recorder.c"],
            depends=["src/perfprobe/_timebuiltin.h", "src/perfprobe/db/_walkerapi.h"],
            optional=True,
        ),
        Extension(
            "perfprobe._fold",
            sources=["src/perfprobe/_fold.c"],
            optional=True,
        ),
        Extension(
            "perfprobe._reqpath",
            sources=["src/perfprobe/_reqpath.c"],
            depends=["src/perfprobe/_attrcache.h", "src/perfprobe/_timebuiltin.h"],
            optional=True,
        ),
    ]
)

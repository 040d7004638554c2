"""Declare the optional C extension; everything else is in pyproject.toml.

The call-site walk in C (``src/perfprobe/db/_callsite.c``) is optional:
where it does not build (no compiler, no Python headers) the install goes
on without it and perfprobe uses the same walk written in Python. Declared
here rather than in pyproject.toml, where setuptools still calls
``ext-modules`` experimental.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "perfprobe.db._callsite",
            sources=["src/perfprobe/db/_callsite.c"],
            optional=True,
        )
    ]
)

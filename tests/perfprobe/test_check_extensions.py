"""The check run after `make venv`: a C extension older than any of its inputs."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    path = ROOT / ".ci" / "check-extensions"
    loader = importlib.machinery.SourceFileLoader("check_extensions", str(path))
    spec = importlib.util.spec_from_loader("check_extensions", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


check = _load()

_SETUP = """
from setuptools import Extension, setup
setup(ext_modules=[
    Extension("pkg.a", sources=["pkg/a.c"], depends=["pkg/a.h"], optional=True),
    Extension("pkg.b", sources=["pkg/b.c"], optional=True),
])
"""


def test_inputs_of_this_repository_match_the_includes() -> None:
    """The headers each extension's source includes are among its inputs."""
    inputs = check.extension_inputs((ROOT / "setup.py").read_text(encoding="utf-8"))

    assert set(inputs) == {
        "src/perfprobe/db/_callsite.c",
        "src/perfprobe/db/_recorder.c",
        "src/perfprobe/_fold.c",
        "src/perfprobe/_reqpath.c",
    }
    # From the #include lines of each source file.
    assert set(inputs["src/perfprobe/_reqpath.c"]) >= {
        "src/perfprobe/_attrcache.h",
        "src/perfprobe/_timebuiltin.h",
    }
    assert set(inputs["src/perfprobe/db/_recorder.c"]) >= {
        "src/perfprobe/_timebuiltin.h",
        "src/perfprobe/db/_walkerapi.h",
    }
    assert "src/perfprobe/db/_walkerapi.h" in inputs["src/perfprobe/db/_callsite.c"]


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "setup.py").write_text(_SETUP, encoding="utf-8")
    (tmp_path / "pkg").mkdir()
    for name in ("a.c", "a.h", "b.c", "a.cpython-311-x86_64-linux-gnu.so"):
        (tmp_path / "pkg" / name).write_text("", encoding="utf-8")
    return tmp_path


def _age(path: Path, seconds_ago: float) -> None:
    stamp = path.stat().st_mtime - seconds_ago
    os.utime(path, (stamp, stamp))


def test_a_build_newer_than_its_inputs_passes_and_a_missing_one_is_named(
    tmp_path: Path,
) -> None:
    root = _tree(tmp_path)
    _age(root / "pkg" / "a.c", 100)
    _age(root / "pkg" / "a.h", 100)

    assert check.problems(root) == [
        ("pkg/b.c", "was not built; perfprobe will use its Python code")
    ]


def test_a_header_changed_after_the_build_makes_it_stale(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    _age(root / "pkg" / "a.c", 100)
    _age(root / "pkg" / "a.cpython-311-x86_64-linux-gnu.so", 50)

    assert ("pkg/a.c", "is older than its source, which failed to build") in (
        check.problems(root)
    )

"""Create the benchmark's own virtualenv, bench/.venv, from bench/requirements.txt."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[1]
VENV_DIR = BENCH_DIR / ".venv"
REQUIREMENTS = BENCH_DIR / "requirements.txt"
_STAMP = VENV_DIR / ".requirements-sha256"


def _requirements() -> list[str]:
    lines = REQUIREMENTS.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and line[0] != "#"]


def ensure_env() -> tuple[str, list[str]]:
    """Return the venv's python and the requirements that failed to install.

    The venv is made, or updated, when requirements.txt changed since the
    last install. One failing requirement does not stop the others: they
    are then installed one by one and the failures returned. pip's output
    goes to bench/.venv/pip.log.
    """
    python = VENV_DIR / "bin" / "python"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and _STAMP.exists() and _STAMP.read_text() == digest:
        return str(python), []

    log = VENV_DIR / "pip.log"
    print(f"  setting up {VENV_DIR} (pip output: {log})", file=sys.stderr, flush=True)
    if not python.exists():
        venv.create(VENV_DIR, with_pip=True)
    pip = [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    failed: list[str] = []
    with log.open("ab") as out:
        done = subprocess.run(
            [*pip, "-r", str(REQUIREMENTS)], stdout=out, stderr=out, check=False
        )
        if done.returncode != 0:
            for requirement in _requirements():
                one = subprocess.run(
                    [*pip, requirement], stdout=out, stderr=out, check=False
                )
                if one.returncode != 0:
                    failed.append(requirement)
    if not failed:
        _STAMP.write_text(digest)
    return str(python), failed


#: The distributions whose versions the results name.
TOOLS = (
    "django-prometheus",
    "opentelemetry-instrumentation-django",
    "django-silk",
    "django-debug-toolbar",
    "nplusone",
)


def tool_versions(python: str) -> dict[str, str]:
    """Return the installed version of each of ``TOOLS`` in the venv of ``python``.

    A tool that is not installed is left out.
    """
    script = (
        "import importlib.metadata as m, json, sys\n"
        "found = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        found[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        pass\n"
        "print(json.dumps(found))\n"
    )
    done = subprocess.run(
        [python, "-c", script, *TOOLS], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return {}
    import json

    return {str(k): str(v) for k, v in json.loads(done.stdout).items()}

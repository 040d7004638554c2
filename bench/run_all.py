"""Run every perfprobe benchmark side by side; exit 1 if a target is missed.

Usage, from the repository root: ``.venv/bin/python bench/run_all.py
[--quick]``. The benchmarks run against a throwaway SQLite database in a
temporary directory, removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


def _set_import_path() -> None:
    # Run as a script, this directory comes first on sys.path, where its
    # modules could shadow top-level ones; import them as the bench package.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
    sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "src")]


def _setup_django(db_path: Path) -> None:
    # The database must be named before django.setup() reads the settings;
    # DATABASE_URL is dropped so the run never touches a real server.
    os.environ["PERFPROBE_DEMO_DB"] = str(db_path)
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo_site.settings"

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the table and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer rounds: about 20 s instead of 1-2 minutes",
    )
    args = parser.parse_args(argv)
    _set_import_path()
    started_ns = time.perf_counter_ns()

    tmp_dir = Path(tempfile.mkdtemp(prefix="perfprobe-bench-"))
    try:
        _setup_django(tmp_dir / "bench.sqlite3")
        import django
        from django.db import connections

        from bench import (
            collector_memory,
            fingerprint_cache,
            query_overhead,
            timing_overhead,
        )
        from bench.harness import format_table

        print(
            f"perfprobe benchmarks ({'quick' if args.quick else 'full'}): "
            f"Python {platform.python_version()}, Django {django.get_version()}, "
            f"{os.cpu_count()} CPUs",
            flush=True,
        )
        rows = []
        try:
            for module in (
                timing_overhead,
                query_overhead,
                collector_memory,
                fingerprint_cache,
            ):
                rows.extend(module.run(args.quick))
        finally:
            connections.close_all()
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)

    elapsed_s = (time.perf_counter_ns() - started_ns) / 1e9
    failed = [row.benchmark for row in rows if row.passed is False]
    print(format_table(rows))
    print(
        f"{len(rows)} results, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
        + f"; {elapsed_s:.1f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

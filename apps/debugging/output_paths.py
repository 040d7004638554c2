"""Check that the demo command's report files can be written, before any run."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import CommandError

from perfprobe.report.jsonio import check_regular_target, probe_folder


def check_output_path(value: str | None, option: str = "--output-file") -> Path | None:
    """Fail early, before any scenario runs, if ``value`` cannot be written."""
    if value is None:
        return None
    if not value.strip():
        raise CommandError(f"{option} is empty; give a file path.")
    try:
        return _checked_output_path(value, option)
    except (OSError, ValueError) as exc:
        # A name too long, a parent folder that cannot be searched, a NUL
        # byte: the probes below raise instead of answering.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise CommandError(f"{option} {value!r} cannot be written: {reason}.") from None


def _checked_output_path(value: str, option: str) -> Path:
    path = Path(value).expanduser()
    if path.is_dir():
        raise CommandError(f"{option} {value!r} is a directory; give a file path.")
    folder = path.parent
    if not folder.is_dir():
        raise CommandError(
            f"{option} {value!r}: folder {str(folder)!r} does not exist."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(
            f"{option} {value!r}: folder {str(folder)!r} is not writable."
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise CommandError(f"{option} {value!r} exists and is not writable.")
    try:
        check_regular_target(path)
    except OSError:
        raise CommandError(
            f"{option} {value!r} is not a regular file (a device, FIFO or "
            "socket); give a file path."
        ) from None
    # The report is written to a temporary file in the folder of the file
    # the path leads to (through a symlink), then renamed over it.
    target_folder = Path(os.path.realpath(path)).parent
    try:
        probe_folder(target_folder)
    except OSError as exc:
        raise CommandError(
            f"{option} {value!r} cannot be written: folder "
            f"{str(target_folder)!r} takes no new file "
            f"({exc.strerror or exc})."
        ) from None
    return path


def check_charts_available(option: str) -> None:
    """Raise ``CommandError`` naming ``option`` if matplotlib cannot be imported."""
    # Imported here: only an HTML report needs the chart module, and every
    # run's start-up pays for what the command imports at the top.
    from perfprobe.report.charts import INSTALL_HINT, charts_available

    if not charts_available():
        raise CommandError(
            f"{option} draws charts with matplotlib, which is not "
            f"installed; install the 'report' extra: {INSTALL_HINT}"
        )

"""Turn report data into strict JSON and write it to disk atomically."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# mkstemp creates its file readable by the owner only; a report replacing
# nothing gets the mode a plain open() gives under the usual umask instead.
_NEW_FILE_MODE = 0o644
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """Return ``value`` with each lone surrogate written as ``\\udXXX`` text.

    A ``str`` may hold lone surrogates (a file name decoded with
    ``surrogateescape``, a label built from bytes); they are not Unicode
    text, and JSON carries them as escapes that strict readers refuse and
    that no UTF-8 stream can write.
    """
    if value.isascii() or not _SURROGATE.search(value):
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def finite_json(value: Any) -> Any:
    """Return a JSON-ready copy of ``value`` with non-finite floats as ``None``.

    Mappings become dicts with string keys, tuples and lists become lists;
    lone surrogates in keys and strings are written out (``clean_text``).
    Anything that JSON cannot represent (a ``Decimal``, an arbitrary object)
    raises ``TypeError`` naming its type.
    """
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {clean_text(str(key)): finite_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(item) for item in value]
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON data")


def dumps_strict(data: Any, *, indent: int | None = 2) -> str:
    """Return ``data`` as JSON text, raising ``ValueError`` if it is not JSON.

    ``allow_nan=False`` stays on after sanitising, as a guard: a non-finite
    number that slipped through fails loudly instead of producing ``NaN``,
    which is not JSON.
    """
    try:
        return json.dumps(finite_json(data), allow_nan=False, indent=indent)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the report cannot be written as JSON: {exc}") from exc


def _fsync_directory(folder: Path) -> None:
    # Persists the rename itself; some platforms cannot open a directory, and
    # the file's own data is already safe, so failure here is not an error.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_error(target: Path, exc: OSError) -> OSError:
    message = f"cannot write the report to {target}: {exc.strerror or exc}"
    if exc.errno is None:
        return OSError(message)
    # OSError(errno, ...) picks the matching subclass (FileNotFoundError, ...).
    return OSError(exc.errno, message)


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` so readers see the old or new file.

    Raise ``ValueError`` when ``data`` is not JSON data (including NaN or
    infinity that ``finite_json`` was bypassed for) and ``OSError`` naming the
    target when the file cannot be written; see ``write_text_atomic``.
    """
    payload = finite_json_or_raise(data)
    try:
        text = json.dumps(payload, allow_nan=False, indent=2) + "\n"
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the report cannot be written as JSON: {exc}") from exc
    return write_text_atomic(path, text)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` so that readers see the old or the new file.

    The text goes to a temporary file in the target's folder, is flushed and
    fsynced, and then replaces the target in one rename. On any failure the
    temporary file is removed and an existing target is left untouched.
    Raise ``OSError`` naming the target when the file cannot be written.
    Return the target path.
    """
    if not os.fspath(path):
        # Path("") is the working directory, which is no file to name.
        raise OSError(errno.ENOENT, "cannot write the report to '': the path is empty")
    # Through a symlink, the file it points to is the one replaced; the link
    # itself stays.
    target = Path(os.path.realpath(path))
    check_regular_target(target)
    folder = target.parent
    try:
        # A short fixed prefix, so a target name near the file system's
        # limit still leaves room for the temporary name.
        fd, temp_name = tempfile.mkstemp(prefix=".pp-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _write_error(target, exc) from exc

    try:
        # backslashreplace: a label holding a lone surrogate (a file name
        # from os.listdir, say) is written escaped instead of failing.
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        mode = target.stat().st_mode & 0o7777 if target.exists() else _NEW_FILE_MODE
        os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(exc, OSError):
            raise _write_error(target, exc) from exc
        raise

    _fsync_directory(folder)
    return target


def check_regular_target(path: str | os.PathLike[str]) -> None:
    """Raise ``OSError`` unless ``path`` is missing or a regular file.

    Renaming a report over a device, a FIFO or a socket would replace it
    with a plain file (as root, even /dev/null), so such targets are refused.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _write_error(Path(path), exc) from exc
    if not stat.S_ISREG(mode):
        raise OSError(
            errno.EINVAL,
            f"cannot write the report to {path}: it is not a regular file",
        )


def probe_folder(folder: str | os.PathLike[str]) -> None:
    """Create and remove a temporary file in ``folder``, as a report write does.

    Raise the ``OSError`` of the creation when ``folder`` takes no new file.
    Permission bits do not tell: root passes ``os.access`` on /proc and /sys,
    which still refuse new files. The report's own file is neither created
    nor touched.
    """
    fd, temp_name = tempfile.mkstemp(prefix=".pp-", suffix=".tmp", dir=folder)
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(temp_name)


def finite_json_or_raise(data: Any) -> Any:
    """Return ``finite_json(data)``, turning its ``TypeError`` into ``ValueError``."""
    try:
        return finite_json(data)
    except TypeError as exc:
        raise ValueError(f"the report cannot be written as JSON: {exc}") from exc

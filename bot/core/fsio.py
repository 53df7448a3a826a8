"""Writing files so that a crash, a kill or a full disk never leaves a half-written one: the one atomic write."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path, mode: int | None = None) -> Iterator[Path]:
    """A temporary path beside `path` to write to; on success it is fsynced and renamed over `path` (with `mode`,
    else the mode `path` had, else 0644), on failure removed. Readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, mode)  # before any byte is written: a secret is never readable by others, even briefly
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: Path, data: str | bytes, mode: int | None = None, in_place_ok: bool = False) -> Path:
    """Write `data` (text as UTF-8) to `path` atomically and durably; see atomic_path for `mode`.

    `in_place_ok`: for a file the user owns that may be a single bind-mounted file (a container's topics.yaml) or
    sit in a folder this process cannot write: when no file can be created or renamed beside it, the existing
    file is rewritten in place (truncate, write, fsync) instead of failing."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with atomic_path(path, mode) as tmp:
            tmp.write_bytes(raw)
    except OSError as exc:
        if not (in_place_ok and Path(path).is_file() and exc.errno in _CANNOT_REPLACE):
            raise
        with open(path, "r+b") as fh:
            fh.truncate(0)
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


# EACCES/EPERM: no temp file in a folder we may not write; EBUSY: renaming over a mount point; EXDEV: other device
_CANNOT_REPLACE = {errno.EACCES, errno.EPERM, errno.EBUSY, errno.EXDEV}


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
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

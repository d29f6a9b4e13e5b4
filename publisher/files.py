"""The one atomic file writer: a reader sees the old bytes or the new, never a mix."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

_OPEN_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class TooLarge(Exception):
    """A file over the size its reader takes: found by its size before a byte is read,
    or, if it grew meanwhile, one byte past the limit."""


def read_regular(path: Path, limit: int) -> bytes | None:
    """The bytes of the regular file at `path`, at most `limit` of them (TooLarge past
    that, read no further); None when there is none there: absent, a directory, a FIFO
    (which would block), a device (which may never end), a socket or a symbolic link.
    Other errors (permissions, I/O) are raised."""
    try:
        fd = os.open(path, _OPEN_READ)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EMLINK):  # a link; a socket
            return None
        raise
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            return None
        if found.st_size > limit:
            raise TooLarge(path)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise TooLarge(path)
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_atomic(path: Path, body: bytes, *, tmp_dir: Path | None = None) -> None:
    """Write `body` to a temp file, then rename it over `path`.

    The temp file goes to `tmp_dir` (same filesystem; a directory target keeps it
    under `_publisher/tmp`, never served) or beside `path`. The file keeps its
    permissions if it exists, else gets 0644.
    """
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    where = tmp_dir if tmp_dir is not None else path.parent
    if tmp_dir is not None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
    # The temp name never holds the file's name: that may be an API key.
    fd, tmp = tempfile.mkstemp(dir=where, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

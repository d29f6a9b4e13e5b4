"""The one atomic file writer: a reader sees the old bytes or the new, never a mix."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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

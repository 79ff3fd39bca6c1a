"""Crash-safe file writes.

Every artifact genlab writes (checkpoints, snapshots, grids, JSON configs, downloaded data) goes through
`atomic_path`: the bytes land in a temporary file in the destination directory, are fsync'ed, and only then
renamed over the destination. A crash or exception mid-write leaves the old file intact and no temp file
behind. Rename is atomic on POSIX and on Windows (``os.replace``) when source and target share a filesystem,
which is why the temp file lives next to the target rather than in /tmp.

`append_jsonl` is the one non-atomic writer: a training log grows one line at a time and is flushed per line,
so a crash loses at most the line being written.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["append_jsonl", "atomic_path", "atomic_write_bytes", "atomic_write_text", "write_json"]

_TMP_PREFIX = ".tmp-"


def _read_umask() -> int:
    """The process umask (read once at import, while it is safe to set and restore it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; a renamed temp file would keep that, so results get the usual 0666 & ~umask.
_FILE_MODE = 0o666 & ~_read_umask()


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself (the directory entry); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    """Flush a file's data to disk before it is renamed into place."""
    with open(path, "rb+") as fh:
        fh.flush()
        os.fsync(fh.fileno())


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on normal exit it is fsync'ed and renamed over `path`.

    Use it for writers that want a filename rather than a file object (``Image.save``, ``savefig``,
    ``safetensors.save_file``). If the block raises, the temp file is removed and `path` is untouched.
    The temp name keeps `path`'s suffix by default so libraries that infer the format from it still work.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=_TMP_PREFIX + target.name + ".",
        suffix=target.suffix if suffix is None else suffix,
        dir=target.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, _FILE_MODE)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (UTF-8 by default); returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def write_json(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> Path:
    """Write `obj` as indented JSON (keys in insertion order, trailing newline) atomically; returns the path.

    Serialisation happens before anything touches the disk, so an unserialisable object leaves `path` as it was.
    """
    text = json.dumps(obj, indent=indent, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text)


def append_jsonl(path: str | os.PathLike[str], obj: Any) -> None:
    """Append `obj` as one compact JSON line to `path` (created if missing) and flush it."""
    # Compact separators never emit a newline (newlines inside strings are escaped), so this is one line.
    line = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()

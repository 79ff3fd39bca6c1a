"""Crash-safe file writes.

Every artifact genlab writes (checkpoints, snapshots, grids, JSON configs, downloaded data) goes through
`atomic_path`: the bytes land in a temporary file in the destination directory, are fsync'ed, and only then
renamed over the destination. A crash or exception mid-write leaves the old file intact and no temp file
behind. Rename is atomic on POSIX and on Windows (``os.replace``) when source and target share a filesystem,
which is why the temp file lives next to the target rather than in /tmp.

`append_jsonl` is the one non-atomic writer: a training log grows one line at a time and is flushed per line,
so a crash loses at most the line being written (`drop_jsonl_rows` rewrites it on resume).

A process killed with SIGKILL cannot remove its temp file. Temp names say whose they are —
``.tmp-<pid>-<target name>.<random><suffix>`` — so `remove_stale_temps` can delete those whose writer is gone
(training does it for its run directory on start and resume) without touching a live writer's. Finished files get
the permissions a plain ``open()`` would give them (0666 minus the process's current umask), whatever the writing
library did to the temp file (mkstemp and safetensors both leave 0600).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["append_jsonl", "atomic_path", "atomic_write_bytes", "atomic_write_text", "drop_jsonl_rows",
           "file_mode", "remove_stale_temps", "write_json"]

_TMP_PREFIX = ".tmp-"
_TMP_NAME = re.compile(r"^\.tmp-(\d+)-")  # .tmp-<pid>-<target name>.<random><suffix>


def _read_umask() -> int:
    """The process's current umask: from /proc (Linux ≥ 4.7, no side effect), else by setting and restoring it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permissions of a file created now with ``open()``: 0666 & ~umask (e.g. 0644)."""
    return 0o666 & ~_read_umask()


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
        prefix=f"{_TMP_PREFIX}{os.getpid()}-{target.name}.",
        suffix=target.suffix if suffix is None else suffix,
        dir=target.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.chmod(tmp, file_mode())  # after the writer: some (safetensors) recreate the file 0600
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


def drop_jsonl_rows(path: str | os.PathLike[str], keep: Callable[[dict[str, Any]], bool]) -> int:
    """Rewrite a JSON-lines file atomically keeping the rows `keep` accepts (and dropping a line cut short by a
    crash); returns the number of rows dropped. A missing file drops nothing."""
    target = Path(path)
    if not target.is_file():
        return 0
    kept, dropped = [], 0
    for line in target.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict) and keep(row):
            kept.append(line)
        elif line.strip():
            dropped += 1
    if dropped:
        atomic_write_text(target, "".join(f"{line}\n" for line in kept))
    return dropped


def _writer_alive(name: str) -> bool:
    match = _TMP_NAME.match(name)
    if match is None:  # an older genlab's temp name (no pid): nothing can still be writing it
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temps(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete the ``.tmp-*`` files under `directory` (recursively) whose writing process is gone — what a killed
    atomic write leaves (one can be a whole snapshot). Returns the removed paths."""
    root = Path(directory)
    if not root.is_dir():
        return []
    removed = []
    for tmp in root.rglob(f"{_TMP_PREFIX}*"):
        if tmp.is_file() and not tmp.is_symlink() and not _writer_alive(tmp.name):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed

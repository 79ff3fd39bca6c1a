"""Atomic writes: content lands, temp files vanish, and a failed write never clobbers the old file."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from genlab.utils.io import append_jsonl, atomic_path, atomic_write_bytes, atomic_write_text, write_json


def _only(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_atomic_write_bytes_creates_parents_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "blob.bin"
    atomic_write_bytes(target, b"\x00\x01\x02")
    assert target.read_bytes() == b"\x00\x01\x02"
    assert _only(target.parent) == ["blob.bin"]


def test_atomic_write_text_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "note.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second ✓")
    assert target.read_text(encoding="utf-8") == "second ✓"
    assert _only(tmp_path) == ["note.txt"]


def test_atomic_path_exception_keeps_old_file_and_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "state.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half-written")
        assert tmp.parent == tmp_path and tmp != target
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert _only(tmp_path) == ["state.bin"]


def test_atomic_path_keeps_suffix_for_format_sniffing_writers(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "grid.png") as tmp:
        assert tmp.suffix == ".png"
        tmp.write_bytes(b"png")
    assert (tmp_path / "grid.png").read_bytes() == b"png"


def test_write_json_roundtrip_and_unserialisable_leaves_file(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    obj = {"lr": 2e-4, "name": "ddpm", "channels": [64, 128]}
    write_json(target, obj)
    text = target.read_text()
    assert json.loads(text) == obj and "\n  " in text and text.endswith("\n")
    with pytest.raises(TypeError):
        write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == obj
    assert _only(tmp_path) == ["config.json"]


def test_append_jsonl_one_line_per_record(tmp_path: Path) -> None:
    target = tmp_path / "logs" / "train.jsonl"
    append_jsonl(target, {"step": 1, "loss": 0.5, "note": "two\nlines"})
    append_jsonl(target, {"step": 2, "loss": 0.25})
    lines = target.read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["note"] == "two\nlines"
    assert json.loads(lines[1]) == {"step": 2, "loss": 0.25}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_written_files_get_umask_permissions_not_mkstemp_0600(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    target = atomic_write_text(tmp_path / "shared.txt", "x")
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask

"""Training survives kill -9: a resumed run has each step's scalar row once, temp files of killed writes are
removed (live writers' are kept), and every output — snapshots included — gets the umask's permissions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genlab.utils.io import atomic_path, drop_jsonl_rows, file_mode, remove_stale_temps

SCRIPT = """
import sys, torch
torch.set_num_threads(1)
from genlab.config import resolve
from genlab.training.loop import Trainer
data_dir, run_dir, max_steps = sys.argv[1], sys.argv[2], sys.argv[3]
overrides = [f"data.data_dir={data_dir}", f"run_dir={run_dir}", "data.download=false", "train.batch_size=16",
             f"train.max_steps={max_steps}", "train.epoch_images=48", "train.log_every=1", "train.warmup_steps=2",
             "train.precision=fp32", "train.threads=1", "train.checkpoint_every_min=60", "sample.num_images=4",
             "sample.steps=2", "model.base_channels=8", "model.channel_mults=[1,2]",
             "model.attention_resolutions=[14]", "model.num_heads=1"]
Trainer(resolve("mnist-diffusion-quick", overrides), progress=False).run()
"""


def steps_logged(run: Path) -> list[int]:
    path = run / "scalars.jsonl"
    return [json.loads(line)["step"] for line in path.read_text().splitlines()] if path.is_file() else []


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_kill_9_then_resume_logs_each_step_once_and_cleans_temps(tiny_data_dir, tmp_path):
    script, run = tmp_path / "train.py", tmp_path / "run"
    script.write_text(SCRIPT)
    cmd = [sys.executable, str(script), str(tiny_data_dir), str(run)]
    # an epoch is 3 steps and a state is saved at each epoch end: kill at step ≥ 7 and ≠ 3k, rows past the state
    proc = subprocess.Popen([*cmd, "1000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            logged = steps_logged(run)
            if len(logged) >= 7 and logged[-1] % 3:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    killed_at = steps_logged(run)[-1]
    assert killed_at >= 7 and killed_at % 3, killed_at
    # what kill -9 during a save leaves: a temp of a dead writer (new and old naming); a live writer's stays
    stale = run / "snapshots" / f".tmp-{dead_pid()}-epoch-0009.safetensors.x1y2.safetensors"
    legacy = run / ".tmp-state-000009.safetensors.abcd.safetensors"
    live = run / f".tmp-{os.getpid()}-config.json.zz.json"
    for path in (stale, legacy, live):
        path.write_bytes(b"partial")

    subprocess.run([*cmd, str(killed_at + 3)], check=True, stdout=subprocess.DEVNULL, timeout=300)
    logged = steps_logged(run)
    assert logged == list(range(1, killed_at + 4)), logged  # each step once, in order
    assert not stale.exists() and not legacy.exists() and live.exists()
    assert not [p for p in run.rglob(".tmp-*") if p != live]


def test_outputs_follow_the_umask_snapshots_included(tiny_data_dir, tmp_path):
    script, run = tmp_path / "train.py", tmp_path / "run"
    script.write_text(SCRIPT)
    old = os.umask(0o027)
    try:
        subprocess.run([sys.executable, str(script), str(tiny_data_dir), str(run), "3"], check=True,
                       stdout=subprocess.DEVNULL, timeout=300)
    finally:
        os.umask(old)
    files = [p for p in run.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"snapshot.safetensors", "config.json", "scalars.jsonl", "final.png"} <= names
    assert any(n.startswith("state-") for n in names)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {oct(0o640)}, modes


def test_atomic_path_applies_the_current_umask_after_the_writer(tmp_path):
    old = os.umask(0o002)
    try:
        assert file_mode() == 0o664
        with atomic_path(tmp_path / "w.bin") as tmp:
            assert tmp.name.startswith(f".tmp-{os.getpid()}-w.bin.")
            tmp.write_bytes(b"x")
            tmp.chmod(0o600)  # as safetensors leaves its file
        assert (tmp_path / "w.bin").stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(old)


def test_drop_jsonl_rows_and_a_line_cut_by_the_kill(tmp_path):
    path = tmp_path / "scalars.jsonl"
    path.write_text('{"step":1}\n{"step":2}\n{"step":3}\n{"ste')
    assert drop_jsonl_rows(path, lambda row: row["step"] <= 2) == 2
    assert path.read_text() == '{"step":1}\n{"step":2}\n'
    assert drop_jsonl_rows(tmp_path / "missing.jsonl", lambda row: True) == 0
    assert remove_stale_temps(tmp_path / "missing") == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may signal any process")
def test_another_users_live_writer_is_kept(tmp_path):
    tmp = tmp_path / ".tmp-1-x.bin.a.bin"  # pid 1 exists and is not ours
    tmp.write_bytes(b"x")
    assert remove_stale_temps(tmp_path) == [] and tmp.exists()

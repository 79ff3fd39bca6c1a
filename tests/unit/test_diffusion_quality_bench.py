"""benchmarks/diffusion_quality.py: NFE budgets, the ablation table's rows, and results merged by parallel writers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests_helpers import load_script

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # the script imports benchmarks/common.py
    return load_script(BENCH / "diffusion_quality.py")


def test_nfe_budget_counts_every_network_call(bench):
    assert bench.sampler_nfe("ddim", 10) == 10
    assert bench.steps_for_nfe("ddim", 10, guided=False) == (10, 10)
    assert bench.steps_for_nfe("ddim", 10, guided=True) == (5, 10)  # guidance doubles every call
    steps, nfe = bench.steps_for_nfe("heun", 10, guided=False)
    assert nfe <= 10 and bench.sampler_nfe("heun", steps) == nfe > steps  # Heun calls twice on most steps
    assert bench.steps_for_nfe("heun", 1, guided=True) is None


def test_ablation_rows_change_one_thing_each(bench):
    for name, (parent, change, own) in bench.ABLATION.items():
        assert change and (parent is None or parent in bench.ABLATION)
        if parent is not None:  # a row is its parent's overrides plus its own one change
            assert bench.ablation_overrides(name) == [*bench.ablation_overrides(parent), *own] and len(own) == 1
    assert bench.ablation_overrides("eps") == ["model.base_channels=32", "train.lr_schedule=cosine",
                                               "model.prediction=eps"]
    assert list(bench.ABLATION).index("quick") == 0


def test_ablation_markdown_names_budget_sampler_and_floor(bench):
    row = {"builds_on": None, "change": "the preset", "sampler": "unipc", "steps": 10, "guidance": 1.0, "nfe": 10,
           "n": 2000, "fid": 3.0, "floor_fid": 0.6, "fid_over_floor": 5.0,
           "training": {"command": "genlab train mnist-diffusion-quick train.max_steps=600 x=1", "cpu_minutes": 9.1}}
    md = bench.markdown({"ablation": {"quick": row}})
    assert "600 steps at batch 64; unipc 10 steps, w = 1.0, NFE 10, n = 2000" in md
    assert "| quick | the preset | — | 9.1 | 3 | 0.6 | 5.00× |" in md


def test_parallel_writers_keep_every_result(tmp_path):
    out = tmp_path / "r.json"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import diffusion_quality as d\n"
            "for i in range(15): d.store(d.Path(sys.argv[2]), 'training', f'{sys.argv[3]}{i}', "
            "{'cpu_minutes': i, 'wall_minutes': i, 'command': 'c'})")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(BENCH), str(out), tag]) for tag in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert set(json.loads(out.read_text())["training"]) == {f"{t}{i}" for t in "ab" for i in range(15)}
    assert out.with_suffix(".md").exists()

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
    # guidance limited to sigma/alpha in (0.3, 5]: of the 10 ddim levels of the cosine schedule (sigma/alpha 2e4,
    # 6.4, 3.1, ..., 0.34, 0.17) the first two and the last cost one call, the other seven two
    assert bench.sampler_nfe("ddim", 10, guided=True, interval=(0.3, 5.0)) == 17
    steps, nfe = bench.steps_for_nfe("ddim", 10, guided=True, interval=(0.3, 5.0))
    assert steps > 5 and nfe <= 10


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


def test_manifest_metrics_take_the_headline_and_the_named_sweeps(bench):
    row = {"fid": 0.8, "floor_fid": 0.6, "floor_n": 2000, "fid_over_floor": 0.8 / 0.6, "n": 2000, "sampler": "unipc",
           "steps": 6, "guidance": 1.3, "guidance_interval": [0.3, 5.0], "nfe": 10.0, "wall_s": 60.0, "step": 2157,
           "label_accuracy": 0.98, "precision": 0.8, "recall": 0.8}
    sweep = [{**row, "n": 1000, "guidance": w, "fid": f} for w, f in ((1.1, 1.0), (1.5, 1.4))]
    data = {"headline": {"m": row}, "guidance": {"m-g": {"rows": sweep}}, "interval": {"m-i": {"rows": [row]}}}
    out = bench.manifest_metrics(data, "m", ["m-g", "m-i"])
    assert out["samples"] == 2000 and out["guidance_interval"] == [0.3, 5.0] and "wall_s" not in out
    assert [r["guidance"] for r in out["guidance_sweep"]["rows"]] == [1.1, 1.5, 1.3]
    assert out["guidance_sweep"]["rows"][0]["n"] == 1000  # each row keeps its own n
    with pytest.raises(KeyError, match="nope"):
        bench.manifest_metrics(data, "m", ["nope"])
    md = bench.markdown(data)
    assert "## FID vs guidance interval — m-i" in md and "| (0.3, 5.0] | unipc | 6 | 1.3 | 10.0 |" in md
    assert "guidance 1.3 in sigma/alpha (0.3, 5.0], NFE 10.0" in md

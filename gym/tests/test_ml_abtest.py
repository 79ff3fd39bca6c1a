"""A/B testing and drift statistics, without servers: deterministic and balanced assignment, the readout by hand,
a simulated experiment recovers a known effect and keeps its false-positive rate; PSI/KS on known shifts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from gymchain.ml import abtest, drift

EXP = abtest.EXPERIMENTS["rec-strategy"]


def test_assignment_is_deterministic_balanced_and_salted():
    ids = range(1, 20_001)
    first = [abtest.assign(EXP, m) for m in ids]
    assert first == [abtest.assign(EXP, m) for m in ids] == abtest.assign_many(EXP, ids).tolist()
    counts = [first.count(arm) for arm in EXP.arms]
    assert chisquare(counts).pvalue > 0.001 and abs(counts[0] / 20_000 - 0.5) < 0.02
    other = abtest.Experiment(EXP.name, EXP.arms, EXP.weights, "another-salt", EXP.outcome, 14, "")
    moved = np.mean([a != b for a, b in zip(first, (abtest.assign(other, m) for m in ids), strict=True)])
    assert 0.45 < moved < 0.55  # a new salt reshuffles about half the members
    skewed = abtest.Experiment("x", ("a", "b"), (0.9, 0.1), "s", "o", 14, "")
    share_b = np.mean([abtest.assign(skewed, m) == "b" for m in ids])
    assert 0.09 < share_b < 0.11


def test_readout_by_hand():
    out = abtest.readout_counts({"popularity": 1000, "model": 1000}, {"popularity": 100, "model": 130},
                                ("popularity", "model"))
    assert out["difference"] == pytest.approx(0.03)
    se = np.sqrt(0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000)
    assert out["ci95"] == pytest.approx([0.03 - 1.959964 * se, 0.03 + 1.959964 * se], rel=1e-5)
    pooled = 0.115
    z = 0.03 / np.sqrt(pooled * (1 - pooled) * 2 / 1000)
    assert out["z"] == pytest.approx(z) and out["p_value"] == pytest.approx(0.0355, abs=1e-4)
    assert out["significant"] and out["relative_lift"] == pytest.approx(0.3) and out["sample_ratio_p"] == 1.0
    assert out["power_note"]["n_per_arm_for_observed_difference"] > 1000
    empty = abtest.readout_counts({"popularity": 10}, {}, ("popularity", "model"))
    assert empty["verdict"] == "no data in one arm yet"


def test_simulated_experiment_recovers_a_known_effect_and_keeps_alpha():
    found = abtest.simulate_experiment(40_000, 0.10, 0.12, seed=1)
    assert found["significant"] and found["ci95"][0] < 0.02 < found["ci95"][1]
    assert abs(found["difference"] - 0.02) < 0.01
    # no true effect: about 5 % of experiments come out significant (200 experiments of 4,000 members)
    false_positives = np.mean([abtest.simulate_experiment(4000, 0.1, 0.1, seed=s)["significant"]
                               for s in range(200)])
    assert false_positives < 0.1
    intervals = [abtest.simulate_experiment(4000, 0.10, 0.12, seed=s)["ci95"] for s in range(100)]
    covered = np.mean([low <= 0.02 <= high for low, high in intervals])
    assert covered > 0.88


def test_psi_and_ks_on_known_shifts():
    rng = np.random.default_rng(0)
    ref = drift.profile(rng.normal(0, 1, 20_000))
    same = rng.normal(0, 1, 20_000)
    shifted = rng.normal(0.5, 1, 20_000)
    assert drift.psi(ref, same) < 0.01 and drift.ks(ref, same)[0] < 0.02
    assert drift.psi(ref, shifted) > 0.2 and drift.ks(ref, shifted)[0] == pytest.approx(0.197, abs=0.02)
    binary = drift.profile((rng.random(10_000) < 0.3).astype(float))
    assert drift.psi(binary, (rng.random(10_000) < 0.3).astype(float)) < 0.01
    ks_binary = drift.ks(binary, (rng.random(10_000) < 0.6).astype(float))[0]
    assert ks_binary == pytest.approx(0.3, abs=0.03)  # the share moved from 0.3 to 0.6


@pytest.mark.parametrize(("args", "expected"), [
    (["--at", "2026-99-01"], "drift: --at '2026-99-01': expected YYYY-MM-DD"),
    (["--csv", "/nonexistent/export"], "drift: source csv: path '/nonexistent/export' is not a folder"),
])
def test_drift_cli_bad_input_is_one_line(args, expected):
    import subprocess
    import sys

    answer = subprocess.run([sys.executable, "-m", "gymchain.ml.drift", *args], capture_output=True, text=True,
                            timeout=120, check=False)
    assert answer.returncode == 2 and answer.stderr.strip() == expected

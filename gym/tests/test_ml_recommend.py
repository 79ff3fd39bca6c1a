"""Recommender: beats popularity where there is structure to find, time-based held-out split, metrics by hand,
save/load through safetensors + JSON only (a pickle or a tampered file is refused in one line)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from gymchain.ml import recommend as rec
from gymchain.ml.simulator import SimConfig, simulate


def planted(members: int = 400, seed: int = 0) -> pd.DataFrame:
    """Two tastes: 'mind' members take yoga + pilates, then (after the split) meditation; 'power' members take
    functional + boxing, then personal training. Everyone has had a massage; spinning is the most popular item not yet taken."""
    rng = np.random.default_rng(seed)
    rows = []
    t0, split = pd.Timestamp("2026-01-05"), pd.Timestamp("2026-03-02")
    for m in range(1, members + 1):
        mind = m % 2 == 0
        before = ["class:yoga", "class:pilates"] if mind else ["class:functional", "service:boxing"]
        after = "service:meditation" if mind else "service:personal_training"
        for item in before:
            rows += [(m, 1, item, t0 + pd.Timedelta(days=int(d))) for d in rng.integers(0, 50, 3)]
        if rng.random() < 0.3:  # some members already took the follow-up before the split: the signal to learn
            rows.append((m, 1, after, t0 + pd.Timedelta(days=int(rng.integers(0, 50)))))
        elif rng.random() < 0.8:
            rows.append((m, 1, after, split + pd.Timedelta(days=int(rng.integers(0, 50)))))
        rows.append((m, 1, "service:massage", t0 + pd.Timedelta(days=3)))
    for m in range(1, members + 1):  # the massage crowd makes massage the most popular item overall
        rows.append((m + members, 1, "service:massage", t0 + pd.Timedelta(days=5)))
        rows.append((m + members, 1, "class:spinning", t0 + pd.Timedelta(days=6)))
    return pd.DataFrame(rows, columns=["member_id", "unit_id", "item", "at"])


def test_split_is_by_time_and_keeps_only_new_items():
    inter = planted(60)
    train, truth = rec.split(inter, pd.Timestamp("2026-03-02"), 56)
    assert train["at"].max() < pd.Timestamp("2026-03-02")
    seen = train.groupby("member_id").item.agg(set)
    for member, items in truth.items():
        assert not items & seen[member] and not any(i.startswith("plan:") for i in items)


def test_item_models_beat_popularity_on_planted_structure():
    train, truth = rec.split(planted(), pd.Timestamp("2026-03-02"), 56)
    results = {kind: rec.evaluate(rec.fit(train, kind), train, truth, k=1) for kind in rec.KINDS}
    assert results["ease"]["members"] == results["popularity"]["members"] > 150
    assert results["ease"]["recall@1"] > 0.9
    assert results["popularity"]["recall@1"] < 0.6
    assert results["itemknn"]["recall@1"] > results["popularity"]["recall@1"] + 0.2
    model = rec.fit(train, "ease")
    row = model.matrix(train, np.array([2]))  # a 'mind' member
    top = model.recommend(row, k=1)[0][0]
    assert top["item"] == "service:meditation" and top["reason"].startswith("members who take")


def test_metrics_by_hand():
    model = rec.Recommender("popularity", ["class:a", "class:b", "class:c"], np.array([0.9, 0.5, 0.1]))
    train = pd.DataFrame({"member_id": [1, 2], "unit_id": 1, "item": ["class:a", "class:c"],
                          "at": pd.Timestamp("2026-01-01")})
    truth = {1: {"class:c"}, 2: {"class:b"}}  # member 1 ranks [b, c] (a seen): c at 2; member 2 ranks [a, b]
    got = rec.evaluate(model, train, truth, k=2)
    assert got["recall@2"] == 1.0 and got["members"] == 2
    assert got["ndcg@2"] == pytest.approx(1 / np.log2(3))
    assert rec.evaluate(model, train, truth, k=1)["recall@1"] == 0.0


def test_simulated_chain_ease_not_below_popularity():
    tables = simulate(SimConfig(members=4000, seed=5))
    assert {"service_purchases"} <= tables.keys() and len(tables["service_purchases"]) > 4000
    model, metrics = rec.train_and_compare(tables, "2026-04-06")
    assert metrics["ease"]["members"] > 500
    assert metrics["ease"]["recall@5"] >= metrics["popularity"]["recall@5"]
    assert metrics["ease"]["ndcg@5"] >= metrics["popularity"]["ndcg@5"]
    assert model.params["split_date"] == "2026-04-06" and model.kind == "ease"


def test_save_load_roundtrip_and_refusals(tmp_path):
    train, _ = rec.split(planted(80), pd.Timestamp("2026-03-02"))
    model = rec.fit(train, "ease")
    folder = rec.save_recommender(model, tmp_path / "m")
    back = rec.load_recommender(folder)
    assert back.items == model.items and np.array_equal(back.weights, model.weights)
    (folder / "weights.safetensors").write_bytes(pickle.dumps({"weights": model.weights}))
    with pytest.raises(rec.RecommenderFileError, match="not a safetensors file") as err:
        rec.load_recommender(folder)
    assert "\n" not in str(err.value)
    rec.save_recommender(model, folder)
    (folder / "model.json").write_text('{"kind": "ease", "items": ["os.system"]}')
    with pytest.raises(rec.RecommenderFileError, match="'items' must be"):
        rec.load_recommender(folder)
    (folder / "model.json").write_text("{not json")
    with pytest.raises(rec.RecommenderFileError, match="not valid JSON"):
        rec.load_recommender(folder)
    with pytest.raises(rec.RecommenderFileError, match="missing"):
        rec.load_recommender(tmp_path / "nowhere")


@pytest.mark.parametrize(("args", "expected"), [
    (["--window-days", "3"], "--window-days 3: expected 7..365"),
    (["--csv", "/nonexistent/export", "--no-register"], "source csv: path '/nonexistent/export' is not a folder"),
    (["--split-date", "2026-13-01", "--no-register"], "--split-date '2026-13-01': expected YYYY-MM-DD"),
])
def test_train_recommender_bad_input_is_one_line(args, expected):
    import subprocess
    import sys

    answer = subprocess.run([sys.executable, "-m", "gymchain.cli", "train-recommender", *args], capture_output=True,
                            text=True, timeout=120, check=False)
    assert answer.returncode == 2 and answer.stderr.strip() == f"train-recommender: {expected}"


def test_train_recommender_simulated_saves_and_reports(tmp_path):
    from gymchain.ml.train_recommender import main

    assert main(["--simulate", "2000", "--seed", "4", "--no-register", "--out", str(tmp_path / "rec")]) == 0
    model = rec.load_recommender(tmp_path / "rec")
    assert model.kind == "ease" and set(model.metrics) == set(rec.KINDS)

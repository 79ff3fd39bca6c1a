"""Training logs the same rows to scalars.jsonl, scalars.csv and TensorBoard, and prints/logs its seed."""

from __future__ import annotations

import csv
import json
import logging

from genlab.config import resolve
from genlab.training.loop import Trainer
from genlab.training.scalars import ScalarLog, read_rows


def tiny(data_dir, run_dir, *extra):
    return resolve("mnist-diffusion-quick", [
        f"data.data_dir={data_dir}", f"run_dir={run_dir}", "data.download=false", "train.batch_size=16",
        "train.max_steps=4", "train.epoch_images=48", "train.log_every=2", "train.warmup_steps=2",
        "train.precision=fp32", "train.threads=1", "sample.num_images=4", "sample.steps=2", "train.seed=1234",
        "model.base_channels=8", "model.channel_mults=[1,2]", "model.attention_resolutions=[14]",
        "model.num_heads=1", *extra])


def tensorboard_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_jsonl_csv_and_tensorboard_hold_the_same_rows(tiny_data_dir, tmp_path, capsys, caplog):
    run = tmp_path / "run"
    events = []
    with caplog.at_level(logging.INFO, logger="genlab.training"):
        Trainer(tiny(tiny_data_dir, run), progress=True, callback=events.append).run()
    rows = read_rows(run / "scalars.jsonl")
    assert [r["step"] for r in rows] == [2, 4]
    with (run / "scalars.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in table] == [2, 4]
    assert [float(r["loss"]) for r in table] == [r["loss"] for r in rows]
    tb = tensorboard_scalars(run / "tensorboard")
    assert [s for s, _ in tb["loss"]] == [2, 4]
    assert [round(v, 5) for _, v in tb["loss"]] == [round(r["loss"], 5) for r in rows]
    assert set(tb) == set(rows[0]) - {"step"}
    # the seed: printed, logged, and sent to the callback
    assert "seed 1234" in capsys.readouterr().out
    assert any("seed 1234" in r.getMessage() for r in caplog.records)
    assert {"type": "start", "seed": 1234, "sample_seed": 0, "step": 0} in events


def test_a_late_key_adds_a_csv_column_and_resume_drops_later_rows(tmp_path):
    log = ScalarLog(tmp_path)
    log.add({"step": 1, "loss": 0.5})
    log.add({"step": 2, "loss": 0.4, "grad_norm/g": 3.0})
    log.add({"step": 3, "loss": 0.3})
    log.close()
    with (tmp_path / "scalars.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["step", "loss", "grad_norm/g"]
    assert [r["grad_norm/g"] for r in table] == ["", "3.0", ""]
    ScalarLog(tmp_path, resume_step=2).close()  # a state at step 2: step 3 will run again
    assert [json.loads(x)["step"] for x in (tmp_path / "scalars.jsonl").read_text().splitlines()] == [1, 2]
    with (tmp_path / "scalars.csv").open() as fh:
        assert [r["step"] for r in csv.DictReader(fh)] == ["1", "2"]

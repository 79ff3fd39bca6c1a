"""Training time is recorded twice, labelled: wall-clock (train_seconds) and process CPU time (train_cpu_seconds)."""

from __future__ import annotations

import time

from genlab import api
from genlab.utils.cputime import cpu_seconds

TINY = ["model.base_channels=8", "model.channel_mults=[1,2]", "model.attention_resolutions=[14]", "model.num_heads=1"]


def test_cpu_seconds_counts_work_not_sleep():
    c0, w0 = cpu_seconds(), time.perf_counter()
    time.sleep(0.3)
    slept_cpu, slept_wall = cpu_seconds() - c0, time.perf_counter() - w0
    assert slept_wall >= 0.3 and slept_cpu < 0.15  # sleeping is wall time, not CPU time
    c1 = cpu_seconds()
    sum(i * i for i in range(300_000))
    assert cpu_seconds() > c1


def test_training_summary_has_wall_and_cpu_time_labelled(tiny_data_dir, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    overrides = [
        f"data.data_dir={tiny_data_dir}", f"run_dir={run}", "data.download=false", "train.batch_size=8",
        "train.max_steps=3", "train.epoch_images=1000", "train.log_every=3", "train.warmup_steps=1",
        "train.time_limit_min=0", "train.precision=fp32", "sample.num_images=4", "sample.steps=2",
        "sample.sampler=ddim", *TINY]
    result = api.train("mnist-diffusion-quick", overrides, progress=False)
    assert result.train_seconds > 0 and result.train_cpu_seconds > 0
    header = api.load(run).header
    assert header["train_seconds"] == round(result.train_seconds, 1)
    assert header["train_cpu_seconds"] == round(result.train_cpu_seconds, 1)
    card = (run / "snapshot.md").read_text()  # the model card beside the snapshot says which is which
    assert "wall-clock training time:" in card and "process CPU time:" in card

    # the CLI's closing line (here: the finished run, resumed from its state) names both figures
    from genlab.cli.main import main

    monkeypatch.setenv("GENLAB_MALLOC", "default")  # no re-exec of the test process
    main(["train", "mnist-diffusion-quick", *overrides, "-q"])
    out = capsys.readouterr().out
    assert f"{result.train_seconds / 60:.1f} min wall-clock and {result.train_cpu_seconds / 60:.1f} min process CPU" in out

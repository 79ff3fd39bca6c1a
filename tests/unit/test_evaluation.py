"""genlab.evaluation on tiny runs of two families (diffusion, DCGAN) with a tiny random feature net: every metric
with counts and the floor, one metrics.jsonl line per epoch (resumable), FID vs steps, and one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab import api, evaluation
from genlab.errors import GenlabError
from genlab.inference import SnapshotHeader, parse_header
from genlab.metrics import features
from genlab.metrics.features import FeatureNet, save_feature_net
from genlab.metrics.image import FLOOR_DRAWS

TINY_UNET = ["model.base_channels=8", "model.channel_mults=[1,2]", "model.attention_resolutions=[14]",
             "model.num_heads=1"]
TINY_GAN = ["model.base_channels=8", "model.latent_dim=8"]
N = 16


def tiny_overrides(data_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return [f"data.data_dir={data_dir}", f"run_dir={run_dir}", "data.download=false", "train.batch_size=16",
            "train.max_steps=6", "train.epoch_images=48", "train.log_every=2", "train.warmup_steps=2",
            "train.time_limit_min=0", "train.precision=fp32", "sample.num_images=10", "sample.steps=2",
            "sample.sampler=ddim", *extra]


@pytest.fixture(scope="module")
def runs(tiny_data_dir, tmp_path_factory) -> dict[str, Path]:
    """Two-epoch tiny runs: a conditional diffusion U-Net and an unconditional DCGAN."""
    root = tmp_path_factory.mktemp("runs")
    api.train("mnist-diffusion-quick", tiny_overrides(tiny_data_dir, root / "diff", *TINY_UNET), progress=False)
    api.train("mnist-dcgan", tiny_overrides(tiny_data_dir, root / "gan", *TINY_GAN), progress=False)
    return {"diffusion": root / "diff", "dcgan": root / "gan"}


@pytest.fixture(scope="module")
def net_path(tmp_path_factory) -> Path:
    """A tiny randomly initialised FeatureNet saved with its sidecar (plumbing, not meaningful numbers)."""
    torch.manual_seed(0)
    net = FeatureNet(feature_dim=16, widths=(4, 8, 8))
    return save_feature_net(net, tmp_path_factory.mktemp("nets") / "mnist", info={"dataset": "mnist"})


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


@pytest.mark.parametrize("family", ["diffusion", "dcgan"])
def test_evaluate_reports_every_metric_with_counts_and_floor(runs, net_path, family):
    steps = {"steps": 2} if family == "diffusion" else {}  # a GAN takes no sampler steps (refused if given)
    result = evaluation.evaluate(runs[family], n=N, feature_net=net_path, device="cpu", **steps)
    m = result["metrics"]
    for key in ("fid", "kid_mean", "kid_std", "is_mean", "precision", "recall", "class_kl_uniform"):
        assert _finite(m[key]), key
        assert _finite(m["floor"][key]), f"floor {key}"
    assert m["num_fake"] == N and m["num_real"] == 64 and m["floor"]["num_fake"] == N
    assert 1.0 <= m["is_mean"] <= 10.0 + 1e-6 and 0 <= m["precision"] <= 1 and m["fid"] >= -1e-9
    assert set(m["memorisation"]) >= {"median_ratio", "fake_to_train_median"}
    assert result["family"] == family and result["dataset"] == "mnist" and result["step"] == 6
    assert result["feature_net"]["sha256"] == features.file_sha256(net_path)
    json.dumps(result)  # the CLI writes it as JSON
    if family == "diffusion":
        # guidance defaults to the run's sample.guidance (1.5 in the MNIST preset): two network calls per step
        assert (result["sampler"], result["steps"], result["guidance"], result["nfe"]) == ("dpmpp-2m", 2, 1.5, 4)
        # one floor definition (issue 15): n random training images, for conditional models too; its FID the
        # median of FLOOR_DRAWS (25) draws by default
        assert m["floor"]["sampling"] == "random" and m["floor"]["n"] == N
        assert m["floor"]["draws"] == len(m["floor"]["fid_draws"]) == FLOOR_DRAWS == 25
        assert m["floor"]["fid"] == pytest.approx(float(np.median(m["floor"]["fid_draws"])), rel=1e-12)
    else:
        assert result["sampler"] is None and result["nfe"] is None and m["floor"]["sampling"] == "random"


def test_evaluate_is_deterministic_and_split_train_drops_memorisation(runs, net_path):
    a = evaluation.evaluate(runs["dcgan"], n=N, feature_net=net_path, device="cpu")
    b = evaluation.evaluate(runs["dcgan"], n=N, feature_net=net_path, device="cpu")
    assert a["metrics"]["fid"] == b["metrics"]["fid"]
    train_ref = evaluation.evaluate(runs["dcgan"], n=N, split="train", feature_net=net_path, device="cpu")
    assert train_ref["metrics"]["num_real"] == 256 and "memorisation" not in train_ref["metrics"]


def test_evaluate_run_writes_one_line_per_epoch_and_resumes(runs, net_path):
    run = runs["dcgan"]
    rows = evaluation.evaluate_run(run, n=N, feature_net=net_path, device="cpu")
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [r["epoch"] for r in rows] == [1, 2] and len(lines) == 2
    assert all(_finite(r["fid"]) and _finite(r["floor_fid"]) and r["num_fake"] == N for r in rows)
    again = evaluation.evaluate_run(run, n=N, feature_net=net_path, device="cpu")
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2  # same settings: nothing recomputed
    assert [r["fid"] for r in again] == [r["fid"] for r in rows]
    evaluation.evaluate_run(run, n=N + 4, every_epoch=False, feature_net=net_path, device="cpu")
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["epoch"] is None and last["num_samples"] == N + 4
    assert rows[0]["floor_draws"] == FLOOR_DRAWS and rows[0]["floor_fid_q25"] <= rows[0]["floor_fid"] <= rows[0]["floor_fid_q75"]
    three = evaluation.evaluate_run(run, n=N, feature_net=net_path, device="cpu", floor_draws=3)  # another floor
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 5 and [r["floor_draws"] for r in three] == [3, 3]
    assert [r["fid"] for r in three] == [r["fid"] for r in rows]  # the fakes are the same


def test_fid_vs_steps_for_each_sampler_and_step_count(runs, net_path):
    out = evaluation.fid_vs_steps(runs["diffusion"], ("ddim", "dpmpp-2m"), (1, 2), n=N, feature_net=net_path,
                                  device="cpu")
    assert [(r["sampler"], r["steps"]) for r in out["rows"]] == [("ddim", 1), ("ddim", 2), ("dpmpp-2m", 1),
                                                                 ("dpmpp-2m", 2)]
    assert all(_finite(r["fid"]) for r in out["rows"]) and _finite(out["floor"]["fid"])
    saved = json.loads((runs["diffusion"] / evaluation.FID_VS_STEPS_FILE).read_text())
    assert saved["rows"] == out["rows"]
    with pytest.raises(GenlabError, match="needs a diffusion snapshot"):
        evaluation.fid_vs_steps(runs["dcgan"], n=N, feature_net=net_path, device="cpu")


def test_too_few_samples_and_bad_split(runs, net_path):
    with pytest.raises(GenlabError, match="n=5: too few samples"):
        evaluation.evaluate(runs["dcgan"], n=5, feature_net=net_path)
    with pytest.raises(GenlabError, match="split='val'"):
        evaluation.evaluate(runs["dcgan"], n=N, split="val", feature_net=net_path)
    for call in (evaluation.evaluate, evaluation.evaluate_run, evaluation.fid_vs_steps):
        with pytest.raises(GenlabError, match=r"floor draws=0: expected an integer number .* in 1\.\.1000"):
            call(runs["dcgan"], n=N, feature_net=net_path, floor_draws=0)


def test_missing_feature_net_names_the_command(runs, tmp_path, monkeypatch):
    monkeypatch.setattr(features, "ASSET_DIR", tmp_path)
    with pytest.raises(GenlabError, match="train_feature_nets.py --dataset mnist"):
        evaluation.evaluate(runs["dcgan"], n=N, device="cpu")


def test_shipped_location_is_used_by_default(runs, net_path, monkeypatch):
    monkeypatch.setattr(features, "ASSET_DIR", net_path.parent)
    result = evaluation.evaluate(runs["dcgan"], n=N, device="cpu")
    assert result["feature_net"]["source"] == "mnist" and _finite(result["metrics"]["fid"])


def _header(codec: dict, **extra) -> SnapshotHeader:
    kwargs = {"image_shape": [1, 28, 28], "num_classes": 0}
    return parse_header({"schema_version": 1, "family": "vae", "kwargs": kwargs, "codec": codec, **extra})


def test_domains_from_the_header():
    image = {"kind": "image", "channels": 1, "height": 28, "width": 28}
    assert evaluation._domain(_header({**image, "levels": 256}), Path("s")) == "image"
    assert evaluation._domain(_header({**image, "levels": 2}), Path("s")) == "facies"
    with pytest.raises(GenlabError, match="covers image and facies datasets.*audio"):
        evaluation._domain(_header({"kind": "musdb-waveform"}), Path("s"))
    with pytest.raises(GenlabError, match="no 'dataset'"):
        evaluation._data_settings(_header(image), None)


def test_facies_snapshots_go_to_compare_facies(tmp_path):
    run = tmp_path / "facies"
    api.train("channels-vae-dense", [f"run_dir={run}", "data.options={n: 64, size: 16}", "train.batch_size=16",
                                     "train.max_steps=2", "train.epoch_images=32", "train.time_limit_min=0",
                                     "model.base_channels=4", "model.latent_dim=4", "sample.num_images=4"],
              progress=False)
    result = evaluation.evaluate(run, n=N, device="cpu")
    assert result["domain"] == "facies" and result["metrics"]["counts"]["fake"] <= N
    assert "floor" in result["metrics"] and "nearest_train_hamming" in result["metrics"]
    row = evaluation.metrics_row(result, None)
    assert any(k.startswith("floor_") for k in row)


def test_a_sampler_option_a_family_does_not_take_is_refused(runs, net_path):
    with pytest.raises(GenlabError, match="family 'dcgan' does not take sampling option 'steps'"):
        evaluation.evaluate(runs["dcgan"], n=N, steps=2, feature_net=net_path, device="cpu")


def test_evaluate_reports_progress_per_sampler_step_then_the_metrics(runs, net_path):
    calls = []
    evaluation.evaluate(runs["diffusion"], n=N, steps=2, batch_size=N, feature_net=net_path, device="cpu",
                        progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]  # two sampler steps of the one batch, then the metrics


def test_a_new_metric_is_one_line_in_the_measures_table(runs, net_path, monkeypatch):
    monkeypatch.setitem(evaluation.MEASURES["image"], "mean_grey",
                        lambda fake, labels, real, split, seed, batch_size: float(fake.float().mean()))
    metrics = evaluation.evaluate(runs["dcgan"], n=N, feature_net=net_path, device="cpu")["metrics"]
    assert 0.0 <= metrics["mean_grey"] <= 255.0 and _finite(metrics["fid"])


@pytest.mark.parametrize("sampler", ["ddim", "heun", "dpmpp-2s"])
def test_nfe_counts_every_network_call_of_the_sampler(runs, net_path, sampler):
    """NFE is measured, not assumed from the step count: a 2nd-order sampler's extra calls count (issue 15)."""
    from genlab.models.diffusion.samplers import SAMPLERS
    from genlab.models.diffusion.schedules import make_alphas_cumprod, sampling_timesteps

    calls = [0]

    def zero(x, t):
        calls[0] += 1
        return torch.zeros_like(x)

    SAMPLERS[sampler](zero, torch.randn(1, 1, 1, 1), sampling_timesteps(3, 1000), make_alphas_cumprod("cosine", 1000),
                      generators=[torch.Generator().manual_seed(0)])
    result = evaluation.evaluate(runs["diffusion"], n=N, feature_net=net_path, device="cpu", sampler=sampler, steps=3,
                                 guidance=1.0)
    assert result["nfe"] == calls[0] and result["nfe_nominal"] == 3
    guided = evaluation.evaluate(runs["diffusion"], n=N, feature_net=net_path, device="cpu", sampler=sampler, steps=3,
                                 guidance=2.0)
    assert guided["nfe"] == 2 * calls[0]  # classifier-free guidance: conditional and unconditional calls

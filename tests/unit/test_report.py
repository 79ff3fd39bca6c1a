"""genlab report: one self-contained HTML page with the epoch grids as data URIs, loss and metric curves, FID vs
steps and the config; and the `genlab evaluate` / `genlab report` commands end to end, errors as one line."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from genlab import api, evaluation
from genlab.cli.main import main
from genlab.errors import GenlabError
from genlab.metrics.features import FeatureNet, save_feature_net
from genlab.report.html import pick_evenly, render_report, report

TINY = ["data.download=false", "train.batch_size=16", "train.max_steps=6", "train.epoch_images=32",
        "train.log_every=1", "train.warmup_steps=2", "train.time_limit_min=0", "train.precision=fp32",
        "sample.num_images=10", "sample.steps=2", "sample.sampler=ddim", "model.base_channels=8",
        "model.channel_mults=[1,2]", "model.attention_resolutions=[14]", "model.num_heads=1"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tiny_data_dir, tmp_path_factory) -> Path:
    """A tiny three-epoch diffusion run."""
    run_dir = tmp_path_factory.mktemp("report") / "run"
    api.train("mnist-diffusion-quick", [f"data.data_dir={tiny_data_dir}", f"run_dir={run_dir}", *TINY],
              progress=False)
    return run_dir


@pytest.fixture(scope="module")
def net_path(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_feature_net(FeatureNet(feature_dim=16, widths=(4, 8, 8)), tmp_path_factory.mktemp("net") / "mnist")


def data_uris(page: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_embeds_epoch_grids_and_curves(run):
    page = render_report(run)
    images = data_uris(page)
    grids = [(run / "samples" / f"epoch-{e:04d}.png").read_bytes() for e in (1, 2, 3)]
    assert all(g in images for g in grids) and (run / "samples" / "final.png").read_bytes() in images
    assert all(img.startswith(PNG_MAGIC) for img in images)
    assert 'alt="Training loss"' in page and "No metrics.jsonl" in page
    assert "<img" in page and 'src="http' not in page and "mnist-diffusion-quick" in page  # self-contained, config


def _fake_row(epoch: int) -> dict:
    """A metrics.jsonl line as `evaluate_run` writes it (computing real ones is tested in test_evaluation.py)."""
    return {"epoch": epoch, "num_samples": 12, "seed": 0, "split": "test", "sampler": "ddim", "steps": 2,
            "requested": {"sampler": "ddim", "steps": 2, "guidance": 1.0}, "step": 2 * epoch, "fid": 50.0 / epoch,
            "floor_fid": 1.5, "kid_mean": 0.1 / epoch, "floor_kid_mean": 0.001, "is_mean": 1.0 + epoch,
            "floor_is_mean": 9.0, "precision": 0.2 * epoch, "recall": 0.1 * epoch}


def test_report_draws_metric_and_step_curves_when_present(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "metrics.jsonl").write_text("".join(json.dumps(_fake_row(e)) + "\n" for e in (1, 2, 3)))
    steps = [{"sampler": s, "steps": k, "nfe": k, "fid": 10.0 / k, "generate_seconds": 0.1}
             for s in ("ddim", "dpmpp-2m") for k in (5, 10)]
    (copy / evaluation.FID_VS_STEPS_FILE).write_text(json.dumps({"num_samples": 12, "rows": steps,
                                                                  "floor": {"fid": 1.5}}))
    path = report(copy)
    page = path.read_text()
    assert path == copy / "report.html"
    assert 'alt="FID vs epoch (classifier features)"' in page and 'alt="Precision and recall vs epoch"' in page
    assert "FID vs sampler steps" in page and "<td>real-vs-real floor</td>" in page
    assert "<td>16.67</td>" in page and "<td>dpmpp-2m</td><td>10</td>" in page  # epoch-3 FID; a steps row


def test_pick_evenly_keeps_first_and_last():
    assert pick_evenly(list(range(10)), 4) == [0, 3, 6, 9]
    assert pick_evenly([1, 2], 5) == [1, 2]


def test_report_of_a_non_run_directory(tmp_path):
    with pytest.raises(GenlabError, match="not a genlab run directory"):
        render_report(tmp_path)
    with pytest.raises(GenlabError, match="not a run directory"):
        render_report(tmp_path / "missing")


def test_cli_evaluate_and_report(run, net_path, tmp_path, capsys):
    out = tmp_path / "eval.json"
    main(["evaluate", str(run), "-n", "12", "--steps", "2", "--feature-net", str(net_path), "--device", "cpu",
          "--json", str(out), "--floor-draws", "3"])
    result = json.loads(out.read_text())
    floor = result["metrics"]["floor"]
    assert result["metrics"]["num_fake"] == 12 and floor["draws"] == 3 and len(floor["fid_draws"]) == 3
    printed = capsys.readouterr().out
    assert "real-vs-real floor" in printed and "median of 3 draws" in printed
    assert (f"floor {floor['fid']:.3g} (median of 3 draws of n = 12 training images; IQR {floor['fid_q25']:.3g}–"
            f"{floor['fid_q75']:.3g})") in printed
    html_path = tmp_path / "r.html"
    main(["report", str(run), "-o", str(html_path), "--max-grids", "2"])
    assert html_path.is_file() and "2 of 3 epochs shown" in html_path.read_text()


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "RUN", "-n", "5"], "n=5: too few samples"),
    (["evaluate", "RUN", "-n", "12", "--fid-vs-steps", "5,x"], "--fid-vs-steps '5,x'"),
    (["report", "NOWHERE"], "not a snapshot file, a run directory or a pretrained name"),
    (["evaluate", "RUN", "--features", "inception"], "needs --inception-weights"),
    (["evaluate", "RUN", "--floor-draws", "0"], "--floor-draws"),
    (["evaluate", "RUN", "--floor-draws", "1001"], "--floor-draws"),
    (["evaluate", "RUN", "--features", "inception", "--inception-weights", "NOWHERE"], "Inception weights not found"),
])
def test_cli_errors_are_one_line(run, tmp_path, capsys, argv, message):
    argv = [str(run) if a == "RUN" else str(tmp_path / "nowhere") if a == "NOWHERE" else a for a in argv]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exc.value.code != 0 and message in err and "\n" not in err


def test_the_cli_floor_draw_bounds_are_the_librarys():
    from genlab.cli import evaluate as cli_evaluate
    from genlab.metrics import image

    assert (cli_evaluate.FLOOR_DRAWS, cli_evaluate.MAX_FLOOR_DRAWS) == (image.FLOOR_DRAWS, image.MAX_FLOOR_DRAWS)


def test_report_of_a_pretrained_name_or_snapshot_file(tmp_path):
    """A name means the pretrained snapshot everywhere, report included: facts, measured metrics, a sample grid."""
    import genlab.api as gl

    name = "mnist-vae"
    if name not in gl.pretrained_names():
        pytest.skip("mnist-vae is not shipped in this installation")
    page = gl.report(name, tmp_path / "vae.html").read_text()
    assert "vae on mnist" in page and "training command" in page and "data:image/png;base64," in page
    assert "Model card" in page
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(gl.find_snapshot(name).read_bytes())
    assert gl.report(copy) == tmp_path / "copy.report.html" and "Samples (seeds 0..31)" in (tmp_path / "copy.report.html").read_text()

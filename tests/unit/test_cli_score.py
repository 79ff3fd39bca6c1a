"""The score-based view from the command line: train a tiny score-sde model from its preset, sample it with the
score samplers, measure its likelihood (`genlab likelihood`), train a noisy classifier for it (`genlab
train-classifier`) and sample with classifier guidance; mistakes are one line."""

from __future__ import annotations

import json

import pytest

from tests_helpers import TINY, run_cli


@pytest.fixture(scope="module")
def tiny_vp(tiny_data_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("score") / "vp"
    args = ["train", "mnist-sde-vp", f"data.data_dir={tiny_data_dir}", f"run_dir={run}", "data.download=false",
            "train.batch_size=16", "train.max_steps=3", "train.epoch_images=48", "sample.num_images=4",
            "sample.steps=3", "model.num_scales=100", *TINY, "--quiet"]
    from genlab.cli.main import main

    main(args)
    return run


def test_sample_with_every_score_sampler_and_grid(tiny_vp, tmp_path, capsys):
    for sampler, extra in (("langevin", []), ("pc-ve", ["--grid", "karras"]), ("pc-vp", []),
                           ("unipc", ["--order", "3"]), ("euler-ancestral", ["--eta", "0.5"])):
        out_png = tmp_path / f"{sampler}.png"
        code, _, err = run_cli(["sample", str(tiny_vp), "-n", "2", "--sampler", sampler, "--steps", "3", *extra,
                                "-o", str(out_png), "-q"], capsys)
        assert code == 0, (sampler, err)
        assert out_png.is_file()


def test_likelihood_and_classifier_guidance(tiny_vp, tiny_data_dir, tmp_path, capsys):
    code, out, err = run_cli(["likelihood", str(tiny_vp), "-n", "4", "--steps", "3", "--batch-size", "2",
                              "--data-dir", str(tiny_data_dir), "-q", "-o", str(tmp_path / "ll.json")], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["n"] == 4 and 0 < result["bits_per_dim"] < 100 and result["split"] == "test"
    assert json.loads((tmp_path / "ll.json").read_text()) == result
    clf = tmp_path / "clf.safetensors"
    code, out, err = run_cli(["train-classifier", str(tiny_vp), "-o", str(clf), "--steps", "3", "--batch-size", "8",
                              "--base-channels", "8", "--data-dir", str(tiny_data_dir), "-q"], capsys)
    assert code == 0, err
    assert clf.is_file() and json.loads(out)["steps"] == 3
    code, out, err = run_cli(["sample", str(tiny_vp), "-n", "2", "--steps", "3", "--classifier", str(clf),
                              "--classifier-scale", "2", "--classifier-class", "3", "-o", str(tmp_path / "g.png"),
                              "-q"], capsys)
    assert code == 0, err


@pytest.mark.parametrize("args,message", [
    (["--sampler", "pc-vp", "--eta", "0.5"], "does not take eta"),
    (["--grid", "log"], "sampling grid 'log'"),
    (["--classifier-scale", "2"], "need a classifier"),
    (["--classifier", "nope.safetensors"], "classifier file not found"),
])
def test_sampling_mistakes_are_one_line(tiny_vp, tmp_path, capsys, args, message):
    code, _, err = run_cli(["sample", str(tiny_vp), "-n", "1", "--steps", "2", *args, "-o", str(tmp_path / "x.png"),
                            "-q"], capsys)
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1, err

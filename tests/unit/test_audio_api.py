"""genlab.audio.api and `genlab audio`: regenerate and evaluate on a synthetic MUSDB18-HQ-layout folder."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from genlab.audio.api import evaluate_audio, load_audio_model, regenerate
from genlab.audio.dataset import SpectrogramPatchCodec, WaveformCodec
from genlab.audio.io import read_wav, write_wav
from genlab.checkpoints.snapshot import save_snapshot
from genlab.errors import GenlabError
from genlab.models.registry import get_family

SR = 44100
N = 8192  # 0.19-s tracks keep every test well under a second of audio work


def _stem(seed: int, hz: float) -> np.ndarray:
    t = np.arange(N) / SR
    rng = np.random.default_rng(seed)
    return np.stack([0.3 * np.sin(2 * np.pi * hz * t) + 0.02 * rng.standard_normal(N)] * 2).astype(np.float32)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """<dir>/musdb/MUSDB18-7/test/<track>/{mixture,drums,bass,other,vocals}.wav, two tracks."""
    root = tmp_path_factory.mktemp("data")
    for k, name in enumerate(["Artist A - Song", "Artist B - Tune"]):
        folder = root / "musdb" / "MUSDB18-7" / "test" / name
        stems = {s: _stem(10 * k + i, 200 + 150 * i) for i, s in enumerate(["drums", "bass", "other", "vocals"])}
        for s, a in stems.items():
            write_wav(folder / f"{s}.wav", a, SR, subtype="FLOAT")
        write_wav(folder / "mixture.wav", sum(stems.values()) / 4, SR, subtype="FLOAT")
    return root


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    """An untrained tiny spectral-ae run and vocos run (the API does not care whether they are trained)."""
    root = tmp_path_factory.mktemp("runs")
    torch.manual_seed(0)
    codec = SpectrogramPatchCodec(256, 64).fit([torch.from_numpy(_stem(0, 440))[:, None]])
    ae = get_family("spectral-ae")(image_shape=(1, 128, 16), hidden=8, num_blocks=1, code_dim=4)
    spec = save_snapshot(root / "tiny-spectral" / "snapshot.safetensors", ae, codec.state())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        voc = get_family("vocos")(image_shape=(1, 1, 1024), n_fft=256, hop=64, n_mels=16, dim=8, hidden=16,
                                  num_blocks=1, periods=[2], disc_channels=2, stft_sizes=[64])
    vocp = save_snapshot(root / "tiny-vocos" / "snapshot.safetensors", voc, WaveformCodec().state())
    return spec.parent, vocp.parent


@pytest.mark.parametrize("which", [0, 1])
def test_regenerate_wav_keeps_length_and_channels(tmp_path, snapshots, which):
    src = write_wav(tmp_path / "in.wav", _stem(3, 330), SR, subtype="FLOAT")
    out = regenerate(src, "vocals", snapshots[which], tmp_path / "out.wav", gl_iters=4)
    audio = read_wav(out, SR, None)
    assert audio.shape == (2, N) and np.isfinite(audio).all()


def test_regenerate_musdb_track_with_mixture_and_oracle_phase(tmp_path, data_dir, snapshots):
    for phase in ("mixture", "oracle"):
        out = regenerate("Artist A - Song", "vocals", snapshots[0], tmp_path / f"{phase}.wav", phase=phase,
                         data_dir=str(data_dir))
        assert read_wav(out, SR, None).shape == (2, N)


def test_regenerate_reports_bad_requests(tmp_path, data_dir, snapshots):
    src = write_wav(tmp_path / "in.wav", _stem(3, 330), SR)
    with pytest.raises(GenlabError, match="phase"):
        regenerate(src, "vocals", snapshots[0], tmp_path / "o.wav", phase="magic")
    with pytest.raises(GenlabError, match="mixture"):
        regenerate(src, "vocals", snapshots[0], tmp_path / "o.wav", phase="mixture")
    with pytest.raises(GenlabError, match="not found"):
        regenerate("No Such Track", "vocals", snapshots[0], tmp_path / "o.wav", data_dir=str(data_dir))
    with pytest.raises(GenlabError, match="not found"):
        regenerate(tmp_path / "missing.wav", "vocals", snapshots[0], tmp_path / "o.wav")


def test_image_snapshot_is_not_an_audio_model(tmp_path):
    model = get_family("ae")(image_shape=(1, 16, 16), base_channels=8, latent_dim=4)
    path = save_snapshot(tmp_path / "img.safetensors", model, {"kind": "image", "channels": 1, "height": 16,
                                                                 "width": 16})
    with pytest.raises(GenlabError, match="not an audio snapshot"):
        load_audio_model(path)


def test_evaluate_writes_table_page_and_beats_nothing_by_construction(tmp_path, data_dir, snapshots):
    res = evaluate_audio("test", ["vocals"], list(snapshots), n_tracks=2, out_dir=tmp_path / "eval",
                         data_dir=str(data_dir), gl_iters=(4,), listen_tracks=1)
    medians = {r["method"]: r for r in res.table.compute(("stem", "method"))}
    expected = {"stft/gl4", "stft/mixture-phase", "stft/oracle", "mel/nnls+oracle", "tiny-spectral/gl4", "tiny-spectral/mixture-phase",
                "tiny-spectral/oracle-phase", "mel/nnls+gl4", "mel/tiny-vocos", "mel/tiny-vocos/mag+gl4",
                "mel/tiny-vocos/gl4-warm", "mel/tiny-vocos/mag+oracle-phase"}
    assert set(medians) == expected and all(r["n"] == 2 for r in medians.values())
    assert medians["stft/oracle"]["si_sdr_db"] > 40  # exact magnitude + own phase is the identity
    page = res.html.read_text()
    assert page.count("<audio") == 1 + len(expected) and "stft/gl4" in page
    assert json.loads(res.json.read_text())["medians"]
    assert (tmp_path / "eval" / "table.md").is_file()


def test_cli_audio_commands(tmp_path, data_dir, snapshots):
    from genlab.cli.main import app

    runner = CliRunner()
    r = runner.invoke(app, ["audio", "regenerate", "Artist B - Tune", "--stem", "vocals", "--snapshot",
                            str(snapshots[1]), "-o", str(tmp_path / "v.wav"), "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "v.wav").is_file()
    r = runner.invoke(app, ["audio", "evaluate", str(snapshots[1]), "--tracks", "1", "--listen-tracks", "0",
                            "-o", str(tmp_path / "e"), "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert "tiny-vocos" in r.output and (tmp_path / "e" / "index.html").is_file()


def test_vocoder_phase_strategies(tmp_path, data_dir, snapshots):
    """A vocoder regenerates with its own phase ('model') or its magnitude + another phase; a spectral model has
    no phase of its own."""
    outs = {ph: read_wav(regenerate("Artist A - Song", "vocals", snapshots[1], tmp_path / f"{ph}.wav", phase=ph,
                                    gl_iters=4, data_dir=str(data_dir)), SR, None)
            for ph in ("model", "griffin-lim", "oracle")}
    assert all(a.shape == (2, N) and np.isfinite(a).all() for a in outs.values())
    assert not np.allclose(outs["model"], outs["griffin-lim"])
    with pytest.raises(GenlabError, match="only a vocoder"):
        regenerate("Artist A - Song", "vocals", snapshots[0], tmp_path / "x.wav", phase="model", data_dir=str(data_dir))

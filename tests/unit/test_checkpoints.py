"""Pickle-free packing, training states (atomic, keep-last-K) and snapshot header validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from genlab.checkpoints.pack import pack, unpack
from genlab.checkpoints.snapshot import SCHEMA_VERSION, read_header, save_snapshot
from genlab.checkpoints.state import load_state, rng_state, save_state, set_rng_state, state_paths
from genlab.errors import GenlabError
from genlab.inference import load_snapshot, read_snapshot_header


def test_pack_round_trip_optimizer_and_rng():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    obj = {"opt": opt.state_dict(), "rng": rng_state(), "t": (1, 2.5, None, "x"), "arr": np.arange(3)}
    tensors: dict = {}
    skel = pack(obj, tensors)
    json.dumps(skel)  # the skeleton must be plain JSON
    back = unpack(json.loads(json.dumps(skel)), tensors)
    assert back["t"] == (1, 2.5, None, "x")
    assert np.array_equal(back["arr"], np.arange(3))
    opt2 = torch.optim.AdamW(model.parameters(), lr=0.1)
    opt2.load_state_dict(back["opt"])
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_rng_state_restores_draws():
    state = rng_state()
    a = (torch.rand(3), np.random.rand(2))
    tensors: dict = {}
    set_rng_state(unpack(json.loads(json.dumps(pack(state, tensors))), tensors))
    b = (torch.rand(3), np.random.rand(2))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_save_state_keeps_last_k(tmp_path):
    for step in (1, 2, 3):
        save_state(tmp_path, step, {"step": step, "w": torch.ones(2) * step}, keep_last=2)
    paths = state_paths(tmp_path)
    assert [p.name for p in paths] == ["state-000000002.safetensors", "state-000000003.safetensors"]
    assert load_state(paths[-1])["step"] == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_snapshot_errors(tmp_path):
    with pytest.raises(GenlabError, match="snapshot file not found"):
        read_header(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 20)
    with pytest.raises(GenlabError, match="not a safetensors file"):
        read_header(junk)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(1)}, str(plain))
    with pytest.raises(GenlabError, match="without a genlab header"):
        read_header(plain)
    newer = tmp_path / "newer.safetensors"
    save_file({"w": torch.zeros(1)}, str(newer),
              metadata={"genlab": json.dumps({"schema_version": SCHEMA_VERSION + 1, "family": "diffusion"})})
    with pytest.raises(GenlabError, match="newer than this genlab reads"):
        read_snapshot_header(newer)


def test_snapshot_family_mismatch(tmp_path):
    from genlab.models.registry import get_family

    model = get_family("diffusion")(image_shape=(1, 28, 28), num_classes=0, base_channels=8, channel_mults=[1, 2],
                                    attention_resolutions=[])
    path = save_snapshot(tmp_path / "s.safetensors", model, {"channels": 1, "height": 28, "width": 28})
    assert read_header(path)["family"] == "diffusion"
    with pytest.raises(GenlabError, match="is a 'diffusion' model, expected 'vae'"):
        load_snapshot(path, family="vae")

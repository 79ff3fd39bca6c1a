"""Fuzz the snapshot header (hypothesis): random JSON values, types, keys and tensor shapes in a snapshot file give a
loaded model or one clean GenlabError — never another exception, never a traceback."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from genlab.checkpoints.snapshot import save_snapshot, state_dict_for_save
from genlab.errors import GenlabError
from genlab.inference import load_snapshot
from genlab.models.registry import get_family

CODEC = {"channels": 1, "height": 16, "width": 16, "levels": 256, "kind": "image"}
TINY = {
    "vae": {"base_channels": 4, "latent_dim": 3},
    "diffusion": {"base_channels": 4, "channel_mults": [1, 2], "attention_resolutions": [8], "num_heads": 1},
}


def _valid(family: str) -> tuple[dict, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = get_family(family)(image_shape=(1, 16, 16), num_classes=2, **TINY[family])
    with tempfile.TemporaryDirectory() as d:
        path = save_snapshot(Path(d) / "s.safetensors", model, CODEC, extra={"step": 3, "dataset": "mnist"})
        from genlab.checkpoints.snapshot import read_header

        header = read_header(path)
    return header, state_dict_for_save(model)


VALID = {family: _valid(family) for family in TINY}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
small_ints = st.integers(-3, 70_000)


@st.composite
def mutated_snapshot(draw) -> tuple[object, dict[str, torch.Tensor]]:
    """A valid tiny snapshot's header and tensors with one to three random edits."""
    family = draw(st.sampled_from(sorted(VALID)))
    header, tensors = VALID[family]
    header, tensors = json.loads(json.dumps(header)), dict(tensors)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["top", "kwargs", "codec", "drop", "shape", "whole", "shape-kwarg"]))
        if where == "whole":
            header = draw(json_values)
        elif not isinstance(header, dict):
            continue
        elif where == "top":
            header[draw(st.sampled_from([*header, "extra"]))] = draw(json_values)
        elif where == "drop" and header:
            header.pop(draw(st.sampled_from(sorted(header))))
        elif where in ("kwargs", "codec", "shape-kwarg") and isinstance(header.get(where.split("-")[0]), dict):
            part = header["kwargs" if where == "shape-kwarg" else where]
            key = "image_shape" if where == "shape-kwarg" else draw(st.sampled_from([*part, "bogus"]))
            part[key] = (draw(st.lists(small_ints, max_size=4)) if where == "shape-kwarg"
                         else draw(json_values | small_ints))
        elif where == "shape":
            name = draw(st.sampled_from(sorted(tensors)))
            tensors[name] = torch.zeros(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    return header, tensors


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_snapshot())
def test_a_fuzzed_header_loads_or_fails_with_one_genlab_error(case):
    header, tensors = case
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzzed.safetensors"
        save_file(tensors, str(path), metadata={"genlab": json.dumps(header)})
        try:
            snap = load_snapshot(path)
        except GenlabError as e:
            assert "\n" not in str(e) and str(e)
        else:
            assert isinstance(snap.info.family, str) and snap.model is not None


def test_the_fuzzer_also_produces_loadable_snapshots():
    """Guard against a fuzzer that only ever produces rejects: the unmutated inputs load."""
    for family, (header, tensors) in VALID.items():
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "ok.safetensors"
            save_file(tensors, str(path), metadata={"genlab": json.dumps(header)})
            assert load_snapshot(path).info.family == family

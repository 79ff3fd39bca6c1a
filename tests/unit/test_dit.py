"""The Diffusion Transformer backbone (genlab.nn.dit) and its selection by config (model.backbone=dit)."""

from __future__ import annotations

import pytest
import torch

from genlab import api
from genlab.checkpoints.snapshot import save_snapshot
from genlab.config.presets import resolve
from genlab.data.codecs import ImageCodec
from genlab.errors import GenlabError
from genlab.models.diffusion.model import Diffusion
from genlab.nn.dit import DiT, DiTBlock, sincos_2d

TINY_DIT = {"backbone": "dit", "dit_patch_size": 2, "dit_width": 16, "dit_depth": 2, "num_heads": 2}


@pytest.mark.parametrize("channels, size, patch", [(1, (28, 28), 2), (1, (28, 28), 4), (3, (8, 12), 4)])
def test_output_shape_and_zero_start(channels, size, patch):
    net = DiT(channels, channels, size, patch_size=patch, width=16, depth=2, num_heads=2, num_classes=3)
    x = torch.randn(5, channels, *size)
    out = net(x, torch.rand(5) * 1000, torch.tensor([0, 1, 2, 3, 0]))  # label 3 = the null class
    assert out.shape == x.shape
    assert torch.equal(out, torch.zeros_like(out))  # adaLN-Zero block gates and a zero final layer
    assert net.grid == (size[0] // patch, size[1] // patch)


def test_adaln_zero_block_is_the_identity_at_init():
    torch.manual_seed(0)
    block = DiTBlock(16, num_heads=4)
    h, c = torch.randn(3, 10, 16), torch.randn(3, 16)
    assert torch.equal(block(h, c), h)
    with torch.no_grad():  # once the modulation layer is not zero, the block is not the identity any more
        block.ada[1].bias.fill_(0.5)
    assert not torch.allclose(block(h, c), h)


def test_unpatchify_inverts_patch_order():
    net = DiT(2, 2, (8, 12), patch_size=4, width=16, depth=1, num_heads=2)
    x = torch.randn(2, 2, 8, 12)
    p = 4  # the same (N, L, p*p*C) layout the final linear layer writes
    tokens = x.view(2, 2, 2, p, 3, p).permute(0, 2, 4, 3, 5, 1).reshape(2, 6, p * p * 2)
    assert torch.equal(net.unpatchify(tokens), x)


def test_sincos_table_distinguishes_positions():
    table = sincos_2d(7, 7, 32)
    assert table.shape == (49, 32)
    assert torch.cdist(table, table).add(torch.eye(49) * 10).min() > 0.1


def _outputs(model):
    xt, t = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1)), torch.full((2,), 500.0)
    with torch.no_grad():
        return (model.unet(xt, t, torch.tensor([0, 0])), model.unet(xt, t, torch.tensor([1, 1])),
                model.unet(xt, torch.full((2,), 20.0), torch.tensor([0, 0])), model.unet(xt, t, None))


def test_conditioning_changes_the_output_after_training_steps():
    """adaLN-Zero: the first step can only move the zero output layer (every other gradient passes through it), so
    the output does not depend on time or class yet; from the second step it does (class, time, null class)."""
    torch.manual_seed(0)
    model = Diffusion((1, 8, 8), num_classes=3, **TINY_DIT, p_uncond=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.rand(8, 1, 8, 8) * 2 - 1, torch.randint(0, 3, (8,))
    for step in range(2):
        loss, _ = model("model", x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        a, b, c, null = _outputs(model)
        assert a.abs().max() > 0
        if step == 0:
            assert torch.equal(a, b) and torch.equal(a, c) and torch.equal(a, null)
    assert not torch.allclose(a, b) and not torch.allclose(a, c) and not torch.allclose(a, null)


def test_learned_position_table_is_a_parameter_and_sincos_is_not_stored():
    learned = Diffusion((1, 8, 8), **TINY_DIT, dit_pos_embed="learned")
    fixed = Diffusion((1, 8, 8), **TINY_DIT)
    assert "unet.pos_embed" in learned.state_dict() and "unet.pos_embed" not in fixed.state_dict()
    rebuilt = Diffusion(**fixed.constructor_kwargs())
    rebuilt.load_state_dict(fixed.state_dict())  # the snapshot header's options rebuild the same network
    assert isinstance(rebuilt.unet, DiT)


def test_dit_snapshot_loads_and_samples_with_guidance(tmp_path):
    """Through the loader (which first builds the model on the meta device) and the sampler, with CFG."""
    torch.manual_seed(0)
    model = Diffusion((1, 8, 8), num_classes=3, **TINY_DIT, dit_pos_embed="learned")
    path = save_snapshot(tmp_path / "dit.safetensors", model, ImageCodec(1, 8, 8).state())
    gen = api.load(path)
    assert isinstance(gen.model.unet, DiT)
    assert torch.equal(gen.model.unet.pos_embed.cpu(), model.unet.pos_embed)
    images = gen.generate(3, seed=0, labels=[0, 1, 2], sampler="dpmpp-2m", steps=3, guidance=2.0)
    assert images.shape == (3, 1, 8, 8) and images.dtype == torch.uint8


@pytest.mark.parametrize("override, message", [
    ("model.backbone=transformer", "option 'backbone' = 'transformer' is not one of unet, dit"),
    ("model.dit_patch_size=3", "dit_patch_size = 3 must divide the input size 28x28"),
    ("model.num_heads=5", "num_heads = 5 must divide dit_width = 128"),
    ("model.dit_pos_embed=rope", "option 'dit_pos_embed' = 'rope' is not one of sincos, learned"),
    ("model.dit_depth=0", "option 'dit_depth' = 0 must be in 1..64"),
    ("model.dit_mlp_ratio=0", "option 'dit_mlp_ratio' = 0.0 must be in [0.25, 16]"),
])
def test_config_errors_are_one_line(override, message):
    cfg = resolve("mnist-dit", [override])
    with pytest.raises(GenlabError) as err:
        Diffusion((1, 28, 28), 10, **vars(cfg.model))
    assert message in str(err.value) and "\n" not in str(err.value)

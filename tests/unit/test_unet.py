"""U-Net backbone and shared blocks: shapes, conditioning, size errors, identity at init."""

import pytest
import torch

from genlab.errors import GenlabError
from genlab.nn.blocks import Downsample, ResBlock, SelfAttention2d, Upsample, num_norm_groups
from genlab.nn.embeddings import sinusoidal_embedding
from genlab.nn.unet import UNet


def _tiny(**kw):
    args = {"base_channels": 8, "channel_mults": (1, 2, 2), "attention_resolutions": (), "num_heads": 2}
    args.update(kw)
    return UNet(**args)


@pytest.mark.parametrize("size,attn", [(28, (7,)), (32, (8,)), (64, (16,))])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_unet_output_shape(size, attn, num_classes):
    torch.manual_seed(0)
    net = _tiny(image_size=size, attention_resolutions=attn, num_classes=num_classes, in_channels=2, out_channels=3)
    x = torch.randn(2, 2, size, size)
    labels = torch.tensor([0, 9]) if num_classes else None
    out = net(x, torch.tensor([0.0, 999.0]), labels)
    assert out.shape == (2, 3, size, size)
    assert torch.isfinite(out).all()


def test_unet_128_facies_shape():
    net = _tiny(image_size=128, channel_mults=(1, 1, 2, 2, 2), attention_resolutions=(8,))
    assert net(torch.randn(1, 1, 128, 128), torch.tensor([10.0])).shape == (1, 1, 128, 128)


def test_unet_rejects_size_that_cannot_be_halved():
    with pytest.raises(GenlabError, match="cannot be halved"):
        _tiny(image_size=28, channel_mults=(1, 2, 2, 2))  # 28 -> 14 -> 7 -> odd
    net = _tiny(image_size=32)
    with pytest.raises(GenlabError, match="32x32"):
        net(torch.randn(1, 1, 28, 28), torch.zeros(1))


def test_unet_labels_and_null_class():
    torch.manual_seed(0)
    net = _tiny(image_size=16, num_classes=3)
    for p in net.parameters():  # zero-init output layers would hide conditioning: perturb all weights
        p.data.add_(0.1 * torch.randn_like(p))
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([5.0, 500.0])
    null = net(x, t, torch.tensor([3, 3]))
    assert torch.allclose(net(x, t, None), null)
    assert not torch.allclose(net(x, t, torch.tensor([0, 1])), null)
    with pytest.raises(GenlabError, match="unconditional"):
        _tiny(image_size=16)(x, t, torch.tensor([0, 1]))


def test_unet_output_starts_at_zero_and_has_gradients():
    net = _tiny(image_size=16, num_classes=2)
    out = net(torch.randn(3, 1, 16, 16), torch.rand(3) * 1000, torch.tensor([0, 1, 2]))
    assert torch.count_nonzero(out) == 0  # zero-initialised output conv
    (out - 1).square().mean().backward()
    assert net.conv_out.weight.grad.abs().sum() > 0


def test_blocks_shapes_and_groups():
    x, emb = torch.randn(2, 8, 12, 12), torch.randn(2, 16)
    assert ResBlock(8, 16, emb_dim=16)(x, emb).shape == (2, 16, 12, 12)
    assert ResBlock(8, 8)(x).shape == x.shape  # no embedding (GAN/VAE use)
    assert SelfAttention2d(8, num_heads=2)(x).shape == x.shape
    assert Downsample(8, 4)(x).shape == (2, 4, 6, 6)
    assert Upsample(8)(x).shape == (2, 8, 24, 24)
    assert [num_norm_groups(c) for c in (8, 32, 64, 128, 96, 3)] == [2, 8, 16, 32, 16, 1]


def test_sinusoidal_embedding_distinguishes_times():
    emb = sinusoidal_embedding(torch.tensor([0.0, 1.0, 999.0]), 32)
    assert emb.shape == (3, 32)
    assert torch.allclose(emb[0, :16], torch.ones(16)) and torch.allclose(emb[0, 16:], torch.zeros(16))
    assert (emb[1] - emb[2]).abs().max() > 0.1


def test_attention_only_where_asked():
    def n_attn(net):
        return sum(isinstance(m, SelfAttention2d) for m in net.modules())

    assert n_attn(_tiny(image_size=28)) == 0
    # (7,) at 28 px: one down block, the middle block and two up blocks at 7x7
    assert n_attn(_tiny(image_size=28, attention_resolutions=(7,))) == 4
    assert n_attn(_tiny(image_size=28, attention_resolutions=(14,))) == 3  # not in the middle (7x7)


def test_unbuildable_widths_raise_one_line_errors():
    with pytest.raises(GenlabError, match="num_heads=3"):
        _tiny(num_heads=3, attention_resolutions=(7,))
    assert _tiny(num_heads=3)  # no attention: any head count
    with pytest.raises(GenlabError, match="channel_mults"):
        _tiny(channel_mults=())

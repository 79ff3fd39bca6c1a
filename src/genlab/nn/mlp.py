"""Fully connected (MLP) image ↔ latent stacks, the ``"mlp"`` entry of ``genlab.nn.convnets.ARCHITECTURES``.

The networks of Burda, Grosse & Salakhutdinov (2016, IWAE) and Kingma & Welling (2014) for MNIST: the image is
flattened to C·H·W numbers and passes through dense layers with a nonlinearity (Burda et al.: 784-200-200-50, tanh);
the decoder mirrors the hidden sizes (50-200-200-784). Every image size works (the sizes are products, no halving).
A class embedding (N, E) is appended to the flattened image or to z as a vector.

Layouts: images (N, C, H, W); hidden activations (N, hidden); the latent is a vector (N, D) as for ``conv_dense``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

MLP_ACTIVATIONS = ("tanh", "relu", "elu", "gelu", "silu", "leaky_relu")


def make_activation(name: str) -> nn.Module:
    """Nonlinearity by name (one of MLP_ACTIVATIONS); leaky_relu uses slope 0.2 like the conv stacks."""
    if name == "tanh":
        return nn.Tanh()
    if name == "relu":
        return nn.ReLU()
    if name == "elu":
        return nn.ELU()
    if name == "gelu":
        return nn.GELU()
    if name == "silu":
        return nn.SiLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    raise ValueError(f"activation must be one of {MLP_ACTIVATIONS}, got {name!r}")


def check_hidden_sizes(hidden_sizes: Sequence[int]) -> list[int]:
    """The hidden sizes as a list of ints >= 1 (at least one layer), else ValueError naming the value."""
    sizes = list(hidden_sizes)
    if not sizes or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in sizes):
        raise ValueError(f"hidden_sizes must be a non-empty list of positive ints, got {hidden_sizes!r}")
    return sizes


class MLPStack(nn.Sequential):
    """(N, in_features) → (N, sizes[-1]): [Linear, activation] for every entry of `sizes`."""

    def __init__(self, in_features: int, sizes: Sequence[int], activation: str = "tanh"):
        sizes = check_hidden_sizes(sizes)
        layers: list[nn.Module] = []
        for size in sizes:
            layers += [nn.Linear(in_features, size), make_activation(activation)]
            in_features = size
        super().__init__(*layers)
        self.out_features = sizes[-1]

"""The perceptual-loss option of the autoencoder families and the VAE (config ``perceptual_weight``,
``perceptual_net``): the model adds ``perceptual_weight`` × a feature-space distance to its reconstruction loss.

The distance (genlab.metrics.perceptual) needs a frozen domain feature net, which is no part of the model: the
trainer attaches it (`genlab.metrics.perceptual.attach_perceptual`), so models stay below the metrics in the import
graph and snapshots hold only the model's own weights.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from genlab.errors import GenlabError


class PerceptualOption:
    """Mixin: ``perceptual_term(x_hat, x)`` → per-image distance (N,) from the attached function."""

    _perceptual: Callable[[Tensor, Tensor], Tensor] | None = None

    def attach_perceptual(self, distance: Callable[[Tensor, Tensor], Tensor]) -> None:
        """Set the distance function (x_hat, x) → (N,) used when ``perceptual_weight`` > 0 (not a submodule: not
        in the state dict)."""
        object.__setattr__(self, "_perceptual", distance)

    def perceptual_term(self, x_hat: Tensor, x: Tensor) -> Tensor:
        if self._perceptual is None:
            raise GenlabError(f"{self.family}: perceptual_weight > 0 needs its feature net attached (the trainer "
                              "does it; outside training call genlab.metrics.perceptual.attach_perceptual(model))")
        return self._perceptual(x_hat, x)

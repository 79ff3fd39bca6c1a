"""The contract every model family implements.

A family is one `GenerativeModel` subclass. The training engine knows nothing about diffusion, GANs or VAEs: it
asks the model which optimiser groups exist (`param_groups`), which of them to update on a step and in which order
(`phases`), and for the loss of each phase (`forward`). Sampling goes through `generate`, which takes one seed per
sample so any single image of a grid can be regenerated alone.

Constructor keyword arguments must be JSON-serialisable: they are written into the snapshot header and passed back
unchanged to rebuild the model, so loading never needs the training flags again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genlab.errors import GenlabError

Logs = dict[str, float | Tensor]


class GenerativeModel(nn.Module):
    """Base class of every family (diffusion, GANs, VAEs, autoencoders, vocoders).

    Subclasses set `family` (registry name) and `Config` (a dataclass of hyper-parameters with defaults), and
    accept ``image_shape`` (C, H, W) and ``num_classes`` (0 = unconditional) plus the Config fields as keyword
    arguments. Data reaches the model in "model space": float tensors (N, C, H, W) in [-1, 1].
    """

    family: ClassVar[str] = ""
    Config: ClassVar[type] = object
    # Phases a step may run; the engine builds one optimiser per name returned by `param_groups`.
    has_latent: ClassVar[bool] = False

    def __init__(self, image_shape: Sequence[int], num_classes: int = 0, **hparams: Any):
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        self.num_classes = int(num_classes)
        self.hparams = dict(hparams)

    def _resolve_config(self, hparams: Mapping[str, Any]) -> Any:
        """``self.Config`` built from `hparams` by `resolve_config` (checked against ``self.family``), kept as
        ``self.cfg``; ``self.hparams`` becomes its fields, so the snapshot header holds the fully resolved options.
        Returns the config."""
        cfg = resolve_config(self.Config, hparams, self.family)
        self.cfg = cfg
        self.hparams = dict(vars(cfg))
        return cfg

    # --- what the snapshot stores -------------------------------------------------------------------------------
    def constructor_kwargs(self) -> dict[str, Any]:
        """Everything needed to rebuild this model: ``type(self)(**kwargs)``."""
        return {"image_shape": list(self.image_shape), "num_classes": self.num_classes, **self.hparams}

    # --- training ---------------------------------------------------------------------------------------------
    def param_groups(self) -> dict[str, Iterable[nn.Parameter]]:
        """Named parameter groups, one optimiser each (e.g. ``generator`` and ``discriminator``)."""
        return {"model": list(self.parameters())}

    def phases(self, step: int) -> list[str]:
        """Groups to update on training step `step`, in order (e.g. WGAN-GP: n_critic critic phases, then G)."""
        return ["model"]

    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        """Loss of `phase` on a batch ``x`` (N, C, H, W) in [-1, 1] with labels ``y`` (N,) or None.

        Returns the scalar loss to minimise and a flat dict of named scalars to log (e.g. ``d_real``, ``kl``).
        Randomness must come from torch's global generator (the engine seeds and checkpoints it).
        """
        raise NotImplementedError

    # --- inference --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, seeds: Sequence[int], labels: Tensor | None = None, **kwargs: Any) -> Tensor:
        """One sample per seed, (N, C, H, W) in model space ([-1, 1]); sample i depends only on seeds[i]."""
        raise NotImplementedError


def resolve_config(config_cls: type, hparams: Mapping[str, Any], family: str) -> Any:
    """Build `config_cls` from keyword options, rejecting unknown names, then run its ``validate(family)``."""
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(hparams) - known)
    if unknown:
        raise GenlabError(f"{family}: unknown option '{unknown[0]}'; known options: {', '.join(sorted(known))}")
    cfg = config_cls(**hparams)
    cfg.validate(family)
    return cfg


def config_fields(config_cls: type) -> dict[str, Any]:
    """Default values of a family's Config dataclass."""
    return {f.name: getattr(config_cls(), f.name) for f in dataclasses.fields(config_cls)}

"""The contract every model family implements.

A family is one `GenerativeModel` subclass plus one line in `genlab.models.registry.FAMILIES`. The training engine
knows nothing about diffusion, GANs or VAEs: it asks the model which optimiser groups exist (`param_groups`), which
of them to update on a step and in which order (`phases`), and for the loss of each phase (`forward`). Sampling goes
through `generate`, which takes one seed per sample so any single image of a grid can be regenerated alone.

What a family can do is declared on the class, not found by probing: `sampling_options` (the keyword options its
`generate` takes; any other is refused), `latent_kind` ("code": a `LatentModel` with encode/decode/sample_latent;
"noise": deterministic sampling from a seeded starting noise, as DDIM; "": none), `conditional` (it can take class
labels), `domain` ("image" or "audio") and `fits_density`. `capabilities()` gathers them for the API and the faces.
Every optional hook below has a default, so callers never ask `hasattr`.

Constructor keyword arguments must be JSON-serialisable: they are written into the snapshot header and passed back
unchanged to rebuild the model, so loading never needs the training flags again.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from genlab.errors import GenlabError

Logs = dict[str, float | Tensor]
StepCallback = Callable[[dict], None]  # per sampler step: {"i": step index, "steps": total, ...}

DOMAINS = ("image", "audio")
LATENT_KINDS = ("", "code", "noise")


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a family (or a loaded model of it) can do; JSON-ready through `to_dict`.

    sampling_options: keyword options `generate` takes (e.g. sampler, steps, guidance, eta; temperature);
    latent_kind: "code" (encode/decode/sample_latent), "noise" (seeded noise → deterministic sampler), "" (none);
    has_latent: latent_kind == "code"; conditional: takes class labels (for a loaded model: trained with classes);
    domain: "image" or "audio"; fits_density: `fit_density` refits the code density it samples from.
    """

    family: str
    sampling_options: tuple[str, ...]
    latent_kind: str
    conditional: bool
    domain: str
    fits_density: bool

    @property
    def has_latent(self) -> bool:
        return self.latent_kind == "code"

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "sampling_options": list(self.sampling_options),
                "has_latent": self.has_latent}


@runtime_checkable
class LatentModel(Protocol):
    """The latent-model protocol (families with ``latent_kind = "code"``): latents are (N, *latent_shape)."""

    latent_shape: tuple[int, ...]

    def sample_latent(self, seeds: Sequence[int], temperature: float = 1.0) -> Tensor: ...

    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]: ...

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor: ...


class GenerativeModel(nn.Module):
    """Base class of every family (diffusion, GANs, VAEs, autoencoders, vocoders).

    Subclasses set `family` (registry name) and `Config` (a dataclass of hyper-parameters with defaults), and
    accept ``image_shape`` (C, H, W) and ``num_classes`` (0 = unconditional) plus the Config fields as keyword
    arguments. Data reaches the model in "model space": float tensors (N, C, H, W) in [-1, 1].

    ``image_shape`` is the model-space shape of one sample whatever the domain — (channels, bins, frames) for
    spectrogram patches, (1, 1, samples) for waveforms; `sample_shape` is the same under a name that says so (the
    constructor keyword keeps its old name because every snapshot header stores it).
    """

    family: ClassVar[str] = ""
    Config: ClassVar[type] = object
    sampling_options: ClassVar[tuple[str, ...]] = ()  # keyword options `generate` takes; others are refused
    latent_kind: ClassVar[str] = ""  # "code" (a LatentModel), "noise" (seeded noise → deterministic sampler) or ""
    has_latent: ClassVar[bool] = False  # latent_kind == "code" (the contract test checks they agree)
    conditional: ClassVar[bool] = True  # can be trained with class labels (num_classes > 0)
    domain: ClassVar[str] = "image"  # "image" (N, C, H, W) or "audio" (spectrogram patches / waveforms)
    fits_density: ClassVar[bool] = False  # samples from a density fitted to training codes (see fit_density)

    @classmethod
    def capabilities(cls, num_classes: int | None = None) -> Capabilities:
        """The family's capabilities; with `num_classes`, those of a model built with it (conditional iff > 0)."""
        conditional = cls.conditional if num_classes is None else cls.conditional and num_classes > 0
        return Capabilities(cls.family, tuple(cls.sampling_options), cls.latent_kind, conditional, cls.domain,
                            cls.fits_density)

    @classmethod
    def check_sampling_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """`options` without the unset (None) ones; GenlabError naming the first this family does not take."""
        given = {k: v for k, v in options.items() if v is not None}
        unknown = sorted(set(given) - set(cls.sampling_options))
        if unknown:
            takes = ", ".join(cls.sampling_options) or "none"
            raise GenlabError(f"family '{cls.family}' does not take sampling option {unknown[0]!r:.60} "
                              f"(it takes: {takes})")
        return given

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

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Model-space shape of one sample: (C, H, W) images, (C, F, T) spectrogram patches, (1, 1, S) waveforms."""
        return self.image_shape

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

    def group_lr_scale(self) -> dict[str, float]:
        """Learning-rate factor per parameter group (e.g. TTUR for GANs); groups not named use 1."""
        return {}

    def group_betas(self) -> dict[str, Sequence[float]]:
        """Adam (beta1, beta2) per parameter group; groups not named use the run's train.betas."""
        return {}

    def fit_density(self, x: Tensor, y: Tensor | None = None, batch_size: int = 256, seed: int = 0
                    ) -> dict[str, float]:
        """Families with ``fits_density`` refit the code density they sample from on images x (N, C, H, W);
        the others have nothing to fit and return {}."""
        return {}

    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        """Loss of `phase` on a batch ``x`` (N, C, H, W) in [-1, 1] with labels ``y`` (N,) or None.

        Returns the scalar loss to minimise and a flat dict of named scalars to log (e.g. ``d_real``, ``kl``).
        Randomness must come from torch's global generator (the engine seeds and checkpoints it).
        """
        raise NotImplementedError

    # --- inference --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, seeds: Sequence[int], labels: Tensor | None = None, **kwargs: Any) -> Tensor:
        """One sample per seed, (N, C, H, W) in model space ([-1, 1]); sample i depends only on seeds[i].

        kwargs: the family's `sampling_options`, plus `callback` (called after every sampler step of families
        that take several; one-shot families never call it)."""
        raise NotImplementedError

    # --- the latent-model protocol (families with latent_kind "code" override these) ----------------------------
    def _no_latent(self, what: str) -> GenlabError:
        return GenlabError(f"model family '{self.family}' has no latent space: it cannot {what} "
                           "(latent tools need a GAN, VAE or autoencoder)")

    def sample_latent(self, seeds: Sequence[int], temperature: float = 1.0) -> Tensor:
        """Latents (len(seeds), *latent_shape) that `generate(seeds)` decodes."""
        raise self._no_latent("sample latents")

    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        """Images (N, C, H, W) → codes z, or a Gaussian posterior (mu, logvar)."""
        raise self._no_latent("encode images")

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Latents (N, *latent_shape) → model space (N, C, H, W)."""
        raise self._no_latent("decode latents")

    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """decode(encode(x)): the model's reconstruction of x (N, C, H, W)."""
        raise self._no_latent("reconstruct images")

    def set_step(self, step: int) -> None:
        """The training step, for schedules read in `forward` (KL warm-up, when the discriminator starts)."""


def resolve_config(config_cls: type, hparams: Mapping[str, Any], family: str) -> Any:
    """The one way every family parses its options: build `config_cls` from keyword options, rejecting unknown
    names and values of the wrong type (a one-line GenlabError naming the option), then run its
    ``validate(family)`` for the value ranges."""
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(hparams) - known)
    if unknown:
        raise GenlabError(f"{family}: unknown option {unknown[0]!r:.60}; known options: {', '.join(sorted(known))}")
    hints = typing.get_type_hints(config_cls)
    for name, value in hparams.items():
        hparams = {**hparams, name: _checked(family, name, value, hints[name])}
    cfg = config_cls(**hparams)
    cfg.validate(family)
    return cfg


def _checked(family: str, name: str, value: Any, hint: Any) -> Any:
    """`value` as option `name` of type `hint` (int, float, bool, str, list[...], unions); GenlabError if not."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _checked(family, name, value, option)
            except GenlabError:
                continue
        raise _wrong_type(family, name, value, hint)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise _wrong_type(family, name, value, hint)
        item = args[0] if args else Any
        return [_checked(family, name, v, item) for v in value]
    if hint is Any or hint is type(None) and value is None:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise _wrong_type(family, name, value, hint)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(family, name, value, hint)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _wrong_type(family, name, value, "a finite number")
        return float(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise _wrong_type(family, name, value, hint)
    return value


def _wrong_type(family: str, name: str, value: Any, hint: Any) -> GenlabError:
    expected = getattr(hint, "__name__", None) or str(hint)
    return GenlabError(f"{family}: option '{name}' = {value!r:.60} is not {expected}")


def config_fields(config_cls: type) -> dict[str, Any]:
    """Default values of a family's Config dataclass."""
    return {f.name: getattr(config_cls(), f.name) for f in dataclasses.fields(config_cls)}

"""Explicit name → model family table (the one place a new family adds a line), plus aliases of renamed families.

Nothing registers itself on import: `FAMILIES` lists every built-in family class. To add one, write its module
(a `GenerativeModel` subclass, see genlab.models.base and docs/contributing.md) and add one line below.
"""

from __future__ import annotations

import difflib

from genlab.errors import GenlabError
from genlab.models.autoencoder.model import Autoencoder, DenoisingAutoencoder, SparseAutoencoder
from genlab.models.base import Capabilities, GenerativeModel
from genlab.models.diffusion.model import Diffusion
from genlab.models.gan.model import GAN, WGANGP
from genlab.models.score.model import ScoreSDE
from genlab.models.spectral.model import SpectralAE
from genlab.models.vae.model import VAE
from genlab.models.vocoder.model import Vocos

FAMILIES: dict[str, type[GenerativeModel]] = {
    "diffusion": Diffusion,  # DDPM/DDIM/DPM-Solver++ with a U-Net
    "score-sde": ScoreSDE,  # NCSN / VE and VP SDEs: a score network trained by denoising score matching
    "dcgan": GAN,  # DCGAN (SN-GAN recipe options)
    "wgan-gp": WGANGP,
    "vae": VAE,
    "ae": Autoencoder,
    "dae": DenoisingAutoencoder,
    "sparse-ae": SparseAutoencoder,
    "spectral-ae": SpectralAE,  # audio: frame-rate VAE on log-magnitude patches
    "vocos": Vocos,  # audio: mel → waveform vocoder
}

ALIASES: dict[str, str] = {
    "ddpm-unet": "diffusion", "gan": "dcgan", "wgan": "wgan-gp", "beta-vae": "vae", "autoencoder": "ae",
    "denoising-ae": "dae", "sparse-autoencoder": "sparse-ae", "spectral-vae": "spectral-ae", "vocoder": "vocos",
    "ncsn": "score-sde",
}


def family_names() -> list[str]:
    return sorted(FAMILIES)


def get_family(name: str) -> type[GenerativeModel]:
    """The class of family `name`; a typo names the closest registered family."""
    if not isinstance(name, str):
        raise GenlabError(f"model family must be a name (text), got {name!r}")
    name = ALIASES.get(name, name)
    if name not in FAMILIES:
        close = difflib.get_close_matches(name, list(FAMILIES) + list(ALIASES), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise GenlabError(f"unknown model family {name!r:.60}{hint}; known: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]


def family_capabilities(name: str) -> Capabilities:
    """What family `name` can do (sampling options, latent kind, conditional, domain)."""
    return get_family(name).capabilities()

"""Explicit name → model family table (the one place a new family adds a line), plus aliases of renamed families.

Nothing registers itself on import: `FAMILIES` lists every built-in family class. To add one, write its module
(a `GenerativeModel` subclass, see genlab.models.base and docs/contributing.md) and add one line below.
"""

from __future__ import annotations

import difflib

from genlab.errors import GenlabError
from genlab.models.aae.model import AAE
from genlab.models.autoencoder.model import Autoencoder, DenoisingAutoencoder, SparseAutoencoder
from genlab.models.base import Capabilities, GenerativeModel
from genlab.models.diffusion.latent import LatentDiffusion
from genlab.models.diffusion.model import Diffusion
from genlab.models.gan.model import GAN, WGANGP
from genlab.models.ladder.model import LadderVAE
from genlab.models.score.model import ScoreSDE
from genlab.models.spectral.model import SpectralAE
from genlab.models.vae.model import VAE
from genlab.models.vaegan.model import VAEGAN
from genlab.models.vocoder.model import Vocos
from genlab.models.vqvae.model import VQVAE

FAMILIES: dict[str, type[GenerativeModel]] = {
    "diffusion": Diffusion,  # DDPM/DDIM/DPM-Solver++ with a U-Net or a DiT (model.backbone)
    "latent-diffusion": LatentDiffusion,  # diffusion in a frozen autoencoder's spatial latent
    "score-sde": ScoreSDE,  # NCSN / VE and VP SDEs: a score network trained by denoising score matching
    "dcgan": GAN,  # DCGAN (SN-GAN recipe options)
    "wgan-gp": WGANGP,
    "vae": VAE,
    "ae": Autoencoder,
    "dae": DenoisingAutoencoder,
    "sparse-ae": SparseAutoencoder,
    "vae-gan": VAEGAN,  # Larsen et al. 2016: reconstruction in a discriminator's feature space
    "aae": AAE,  # adversarial autoencoder (Makhzani et al. 2016): a discriminator on codes vs N(0, I)
    "ladder-vae": LadderVAE,  # two-level hierarchical VAE with top-down inference (Sønderby et al. 2016)
    "vq-vae": VQVAE,  # vector-quantised AE (van den Oord et al. 2017) + a causal transformer prior over codes
    "spectral-ae": SpectralAE,  # audio: frame-rate VAE on log-magnitude patches
    "vocos": Vocos,  # audio: mel → waveform vocoder
}

ALIASES: dict[str, str] = {
    "ddpm-unet": "diffusion", "gan": "dcgan", "wgan": "wgan-gp", "beta-vae": "vae", "autoencoder": "ae",
    "denoising-ae": "dae", "sparse-autoencoder": "sparse-ae", "spectral-vae": "spectral-ae", "vocoder": "vocos",
    "ncsn": "score-sde", "vaegan": "vae-gan", "adversarial-ae": "aae", "ladder": "ladder-vae",
    "hierarchical-vae": "ladder-vae", "vqvae": "vq-vae",
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

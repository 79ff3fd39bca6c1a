"""Imports every built-in family so each registers itself (the one place a new family adds a line)."""

import genlab.audio.presets  # noqa: F401  (audio presets and MUSDB sources)
from genlab.models.autoencoder import model as _autoencoder  # noqa: F401  (ae, dae, sparse-ae)
from genlab.models.diffusion import model as _diffusion  # noqa: F401
from genlab.models.gan import model as _gan  # noqa: F401  (dcgan, wgan-gp)
from genlab.models.spectral import model as _spectral  # noqa: F401  (spectral-ae)
from genlab.models.vae import model as _vae  # noqa: F401  (vae)
from genlab.models.vocoder import model as _vocoder  # noqa: F401  (vocos)

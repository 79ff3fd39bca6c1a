"""genlab: a lab for generative models (diffusion, GANs, VAEs, autoencoders) on images, facies and audio."""

__version__ = "0.1.0"

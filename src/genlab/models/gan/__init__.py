"""GANs: DCGAN (non-saturating) and WGAN-GP, conv+dense or fully convolutional (SGAN-style spatial latent)."""

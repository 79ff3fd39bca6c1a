"""VAE-GAN (Larsen et al. 2016): a VAE whose reconstruction is measured in a discriminator's feature space."""

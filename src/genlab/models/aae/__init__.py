"""Adversarial autoencoder (Makhzani et al. 2016): a discriminator on codes matches them to the prior."""

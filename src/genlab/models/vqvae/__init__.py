"""VQ-VAE (van den Oord et al. 2017) with a learned autoregressive prior over the code grid."""

"""Two-level hierarchical (ladder) VAE with top-down inference (Sønderby et al. 2016)."""

"""Score-based models (NCSN and the VE/VP SDEs of Song et al. 2021): the SDE tables and the score-sde family."""

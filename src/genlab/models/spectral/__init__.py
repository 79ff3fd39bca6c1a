"""Spectrogram model family ("spectral-ae"): a frequency-downsampling conv VAE on log-magnitude patches."""

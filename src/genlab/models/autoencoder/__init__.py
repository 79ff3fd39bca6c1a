"""Deterministic autoencoders: plain, denoising and sparse."""

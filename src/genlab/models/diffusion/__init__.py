"""Diffusion family: schedules, objective (parameterisation + loss + Denoiser), samplers and the model class."""

"""Imports every built-in family so each registers itself (the one place a new family adds a line)."""

from genlab.models.diffusion import model as _diffusion  # noqa: F401

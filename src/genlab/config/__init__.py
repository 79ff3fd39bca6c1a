"""Typed configuration and named presets."""

from genlab.config.core import DataConfig, RunConfig, SampleConfig, TrainConfig, config_from_dict
from genlab.config.presets import PRESETS, preset_names, register_preset, resolve

__all__ = ["DataConfig", "RunConfig", "SampleConfig", "TrainConfig", "config_from_dict", "PRESETS",
           "preset_names", "register_preset", "resolve"]

"""Typed configuration and named presets."""

from genlab.config.core import DataConfig, RunConfig, SampleConfig, TrainConfig, config_from_dict
from genlab.config.presets import PRESETS, preset_names, register_preset, resolve

__all__ = ["PRESETS", "DataConfig", "RunConfig", "SampleConfig", "TrainConfig", "config_from_dict", "preset_names",
           "register_preset", "resolve"]

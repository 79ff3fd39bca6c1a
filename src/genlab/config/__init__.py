"""Typed configuration and named presets."""

from genlab.config.core import DataConfig, RunConfig, SampleConfig, TrainConfig, config_from_dict
from genlab.config.presets import PRESETS, apply_overrides, preset_info, preset_names, resolve

__all__ = ["PRESETS", "DataConfig", "RunConfig", "SampleConfig", "TrainConfig", "apply_overrides",
           "config_from_dict", "preset_info", "preset_names", "resolve"]

"""Device and precision choice moved to `genlab.device` (inference needs it without importing training)."""

from genlab.device import PRECISIONS, cpu_has_fast_bf16, pick_device, resolve_precision

__all__ = ["PRECISIONS", "cpu_has_fast_bf16", "pick_device", "resolve_precision"]

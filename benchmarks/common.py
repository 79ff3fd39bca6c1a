"""Shared helpers for the benchmark scripts (each prints one JSON document)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what the platform module reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpuinfo_first(field: str) -> str:
    """The first value of `field` in /proc/cpuinfo ('' where the file or field is absent)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == field:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


#: The instruction-set flags that change what a CPU timing means (matmul width, int8 and bf16 paths).
TIMING_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def machine_info() -> dict[str, Any]:
    """What a timing means nothing without: the CPU model (a virtual machine often reports only a brand, so its
    family/model numbers and the timing-relevant ISA flags too), cores, threads, load, versions."""
    flags = set(_cpuinfo_first("flags").split())
    return {"cpu": cpu_model(), "cpu_family": _cpuinfo_first("cpu family"), "cpu_model_number": _cpuinfo_first("model"),
            "isa": [f for f in TIMING_FLAGS if f in flags],
            "avx512_bf16": "avx512_bf16" in flags, "load_avg_1_5_15": list(os.getloadavg()),
            "python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "cuda": torch.cuda.is_available(), "platform": platform.platform(),
            "glibc_tunables": os.environ.get("GLIBC_TUNABLES", "")}


def autocast(precision: str, device: str = "cpu"):
    if precision == "bf16":
        return torch.autocast(device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def matmul_peak_gflops(precision: str, n: int = 2048, repeats: int = 5) -> float:
    """Best-of-`repeats` GFLOP/s of an n×n matmul: the machine's practical dense peak, measured in this run."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def strict_json(obj: Any) -> Any:
    """NaN/±inf → None, recursively (an oracle's SI-SDR is +inf on an exact match), so the output is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def emit(result: dict[str, Any], out: str | None) -> None:
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
    sys.stdout.flush()

"""Typed run configuration: dataclasses per component, key=value overrides, YAML/JSON round trip.

A run is described by one `RunConfig`. Its `model` part is the chosen family's own Config dataclass, so a typo in
``model.base_chanels=64`` is caught and the closest valid key is named.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genlab.data.augment import AUGMENTATIONS
from genlab.errors import GenlabError
from genlab.models.registry import get_family


@dataclass
class DataConfig:
    dataset: str = "mnist"  # registered source name: mnist, fashion-mnist, channels, ...
    data_dir: str | None = None  # root of the data directory (else $GENLAB_DATA_DIR, else ./data)
    split: str = "train"
    download: bool = True  # fetch from the official mirrors when files are missing (needs internet)
    limit: int = 0  # keep a random subset of this many images (0 = all)
    classes: list[int] = field(default_factory=list)  # keep only these labels (empty = all)
    conditional: bool = False  # give labels to the model (class-conditional training and sampling)
    options: dict[str, Any] = field(default_factory=dict)  # source-specific options (e.g. resize for facies)
    augment: list[str] = field(default_factory=list)  # training augmentations, names in data.augment.AUGMENTATIONS


@dataclass
class TrainConfig:
    batch_size: int = 128  # images per optimiser step (across all processes and accumulation steps)
    lr: float = 2e-4  # AdamW learning rate (per-group factors come from the family, e.g. TTUR)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    warmup_steps: int = 200  # linear learning-rate warm-up, in optimiser steps
    lr_schedule: str = "constant"  # after warm-up: constant, cosine (to 0 at the last step), or plateau
    plateau_patience: int = 500  # plateau: steps per window of mean training loss
    plateau_factor: float = 0.5  # plateau: lr multiplier when a window's mean loss does not improve
    plateau_threshold: float = 0.01  # plateau: relative improvement over the best window that counts
    init: str = "default"  # weight initialisation: default (the family's own), xavier, kaiming or orthogonal
    init_from: str = ""  # warm start: weights (model + EMA, not the optimiser) of a snapshot file, run dir or
    # pretrained name of the same family and architecture (genlab.training.init_from); "" = train from scratch
    grad_clip: float = 1.0  # max global grad norm per group (0 = off)
    ema_decay: float = 0.999  # EMA of the weights used for sampling (0 = off)
    ema_warmup: bool = True  # decay = min(ema_decay, (1 + step) / (10 + step)) early on
    ema_extra: list[float] = field(default_factory=list)  # more EMA decays kept beside ema_decay, for choosing the
    # averaging length after training by measurement: each snapshot also written as ema-<decay>/<its name>
    accum_steps: int = 1  # gradient accumulation: batch_size is split into this many micro-batches
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (autocast); auto = bf16 where the hardware has native bf16;
    # fp16 adds a GradScaler (for CUDA GPUs without bf16; it runs on a CPU too, slowly)
    activation_checkpointing: bool = False  # U-Net: recompute activations in backward (less memory, more compute)
    seed: int = 0
    epochs: float = 1.0  # length of training, in epochs (fractions allowed)
    max_steps: int = 0  # if > 0, stop after this many steps (overrides epochs)
    time_limit_min: float = 0.0  # if > 0, stop (with a snapshot) after this many wall-clock minutes of training steps
    epoch_images: int = 0  # images per "epoch" for grids, snapshots and train.epochs (0 = the whole dataset)
    log_every: int = 50  # steps between JSON scalar lines
    checkpoint_every_min: float = 5.0  # minutes between resumable training states (also at every epoch end)
    keep_last: int = 2  # training states kept on disk
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch CPU threads (0 = torch's default)


@dataclass
class SampleConfig:
    """Fixed-seed grids written every epoch, so epochs compare side by side."""

    num_images: int = 64
    seed: int = 0  # sample i uses seed + i
    sampler: str = "ddim"
    steps: int = 50
    guidance: float = 1.0
    eta: float | None = None  # fresh noise of ddim / ancestral / SDE samplers (None: the sampler's default)
    order: int | None = None  # unipc's order (None: 2)
    grid: str = "trailing"  # noise-level grid: trailing | karras
    guidance_interval: str | None = None  # "LO,HI": guide only at noise levels sigma/alpha in (LO, HI] (None: all)


@dataclass
class RunConfig:
    name: str = "run"
    family: str = "diffusion"
    model: Any = None  # the family's Config dataclass instance
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    run_dir: str = ""  # default: runs/<name>

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def resolved_run_dir(self) -> Path:
        return Path(self.run_dir or f"runs/{self.name}")


def _model_config_class(family: str) -> type:
    return get_family(family).Config


def default_config(family: str | None = None) -> dict[str, Any]:
    """RunConfig's defaults as a plain dict, with `family`'s model options at their defaults under "model" (None:
    no model part) — what a run started before an option existed would have used."""
    out = {k: v for k, v in RunConfig().to_dict().items() if k != "model"}
    if family:
        out["model"] = json.loads(json.dumps(dataclasses.asdict(_model_config_class(family)())))
    return out


def _all_keys(obj: Any, prefix: str = "") -> list[str]:
    keys = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            keys += _all_keys(value, f"{prefix}{f.name}.")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def _unknown_key(key: str, cfg: RunConfig) -> GenlabError:
    close = difflib.get_close_matches(key, _all_keys(cfg), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return GenlabError(f"unknown config key '{key}'{hint}")


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Check `value` against the type of the field's current value (int→float allowed)."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise GenlabError(f"config key '{key}' expects true/false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(default, dict) and isinstance(value, dict):
        return dict(value)
    if type(default) is not type(value):
        raise GenlabError(f"config key '{key}' expects {type(default).__name__}, got {value!r}")
    return value


LR_SCHEDULES = ("constant", "cosine", "plateau")  # train.lr_schedule (genlab.training.schedules)
INITS = ("default", "xavier", "kaiming", "orthogonal")  # train.init (genlab.training.schedules)


# --- value ranges -----------------------------------------------------------------------------------------------
# (accepts(value), what is expected) per key. Checked whenever a key is set — preset, YAML file, config.json or a
# key=value override — so a bad value stops the run at resolve time instead of blowing the weights up later.
def _number(lo: float, hi: float = math.inf, lo_open: bool = False, hi_open: bool = False) -> Callable[[Any], bool]:
    def accepts(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    return accepts


def _interval(lo: float, hi: float = math.inf, lo_open: bool = False, hi_open: bool = False) -> str:
    def text(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else f"{x:g}"

    if hi == math.inf:
        return f"a finite number {'>' if lo_open else '≥'} {text(lo)}"
    return f"a number in {'(' if lo_open else '['}{text(lo)}, {text(hi)}{')' if hi_open else ']'}"


def _range(lo: float, hi: float = math.inf, lo_open: bool = False, hi_open: bool = False) -> tuple[Callable, str]:
    return _number(lo, hi, lo_open, hi_open), _interval(lo, hi, lo_open, hi_open)


def _guidance_interval(v: Any) -> bool:
    from genlab.models.diffusion.objective import check_guidance_interval
    try:
        return check_guidance_interval(v) is not None
    except GenlabError:
        return False


def _betas(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_number(0, 1, hi_open=True)(b) for b in v)


def _class_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in v)


MAX_SEED = 2**32 - 1  # NumPy's seed range (torch accepts more)
VALUE_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "data.limit": _range(0),  # 0 = all
    "data.classes": (_class_list, "a list of class indices ≥ 0"),
    "train.batch_size": _range(1),
    "train.lr": _range(0, lo_open=True),
    "train.betas": (_betas, "two numbers in [0, 1), e.g. [0.9, 0.999]"),
    "train.weight_decay": _range(0),
    "train.warmup_steps": _range(0),
    "train.lr_schedule": (lambda v: v in LR_SCHEDULES, "one of " + ", ".join(LR_SCHEDULES)),
    "train.plateau_patience": _range(1),
    "train.plateau_factor": _range(0, 1, lo_open=True, hi_open=True),
    "train.plateau_threshold": _range(0, 1, hi_open=True),
    "train.init": (lambda v: v in INITS, "one of " + ", ".join(INITS)),
    "train.grad_clip": _range(0),  # 0 = off
    "train.ema_decay": _range(0, 1, hi_open=True),  # 0 = off; 1 would freeze the EMA at the initial weights
    "train.ema_extra": (lambda v: isinstance(v, list) and len(v) <= 8 and len(set(v)) == len(v)
                        and all(isinstance(d, (int, float)) and 0 < d < 1 for d in v),
                        "a list of up to 8 distinct decays in (0, 1), e.g. [0.995, 0.9995]"),
    "train.accum_steps": _range(1),
    "train.precision": (lambda v: v in ("auto", "fp32", "bf16", "fp16"), "one of auto, fp32, bf16, fp16"),
    "train.seed": _range(0, MAX_SEED),
    "train.epochs": _range(0),
    "train.max_steps": _range(0),
    "train.time_limit_min": _range(0),
    "train.epoch_images": _range(0),
    "train.log_every": _range(1),
    "train.checkpoint_every_min": _range(0, lo_open=True),
    "train.keep_last": _range(1),
    "train.threads": _range(0),  # 0 = torch's default
    "sample.num_images": _range(1),
    "sample.seed": _range(0, MAX_SEED),
    "sample.steps": _range(1),
    "sample.guidance": _range(0),
    "sample.eta": (lambda v: v is None or _number(0, 1)(v), "a number in [0, 1] (or null: the sampler's default)"),
    "sample.order": (lambda v: v is None or v in (1, 2, 3), "1, 2 or 3 (or null: 2)"),
    "sample.grid": (lambda v: v in ("trailing", "karras"), "trailing or karras"),
    "sample.guidance_interval": (lambda v: v is None or _guidance_interval(v),
                                 "LO,HI noise levels sigma/alpha with 0 <= LO < HI (or null: guide at every level)"),
    "data.augment": (lambda v: isinstance(v, list) and all(n in AUGMENTATIONS for n in v),
                     "a list of augmentation names: " + ", ".join(AUGMENTATIONS)),
}


def check_value(key: str, value: Any) -> None:
    """GenlabError naming the key, the value and the expected range when `value` is outside `VALUE_RULES[key]`."""
    rule = VALUE_RULES.get(key)
    if rule is not None and not rule[0](value):
        raise GenlabError(f"config key '{key}' = {value!r} is out of range; expected {rule[1]}")


def set_key(cfg: RunConfig, key: str, value: Any) -> None:
    """Set a dotted key (``train.lr``) on `cfg`, checking the name, the type and the range (`VALUE_RULES`)."""
    if key == "family":
        if value != cfg.family:
            cfg.family = str(value)
            cfg.model = _model_config_class(cfg.family)()
        return
    parts = key.split(".")
    obj: Any = cfg
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(obj) or part not in {f.name for f in dataclasses.fields(obj)}:
            if isinstance(obj, dict):  # free-form dict fields such as data.options
                obj[".".join(parts[i:])] = value
                return
            raise _unknown_key(key, cfg)
        if i == len(parts) - 1:
            value = _coerce(key, value, getattr(obj, part))
            check_value(key, value)
            setattr(obj, part, value)
            return
        obj = getattr(obj, part)
    raise _unknown_key(key, cfg)


def parse_override(text: str) -> tuple[str, Any]:
    """``'train.lr=1e-3'`` → ('train.lr', 0.001); values parse as YAML scalars/lists."""
    if "=" not in text:
        raise GenlabError(f"override '{text}' must look like key=value (e.g. train.lr=1e-3)")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and _looks_numeric(value):
        value = float(value)
    return key.strip(), value


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def apply_nested(cfg: RunConfig, values: dict[str, Any], prefix: str = "") -> None:
    """Apply a nested dict (from YAML/JSON) onto `cfg`; family is applied first."""
    if not prefix and "family" in values:
        set_key(cfg, "family", values["family"])
    for k, v in values.items():
        if not prefix and k in ("family", "preset"):
            continue
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k != "options":
            apply_nested(cfg, v, f"{key}.")
        else:
            set_key(cfg, key, v)


def config_from_dict(values: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from `to_dict()` output (e.g. a run directory's config.json)."""
    cfg = RunConfig(family=values.get("family", "diffusion"))
    cfg.model = _model_config_class(cfg.family)()
    apply_nested(cfg, values)
    return cfg


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise GenlabError(f"{p}: config file not found")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise GenlabError(f"{p}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise GenlabError(f"{p}: expected a mapping of config keys at the top level")
    return data

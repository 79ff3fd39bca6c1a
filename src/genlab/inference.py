"""The loading core: a snapshot (file, run directory or pretrained name) → a typed header → a model that samples.

Below every caller (evaluation, latent tools, reports, the API, the faces) and above the model families and the
checkpoint files; it never imports the training loop.

    header = read_snapshot_header("runs/mnist-vae")            # SnapshotHeader: validated as a whole
    model = load("runs/mnist-vae")                              # LoadedModel
    images = model.generate(16, seed=0)                         # uint8 (16, 1, 28, 28)

Loading validates before it allocates: the header must be a JSON object with the required keys and types, a
supported schema version, a known family whose options fit its Config, a codec that takes exactly its options; the
model is first built on the `meta` device (no memory) to count its parameters and to compare every tensor name and
shape with the file's index; only then are the real model and the weights made, and NaN/Inf weights are refused.
Every failure is one line (`GenlabError`) naming the file and the key or tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genlab.checkpoints import pretrained
from genlab.checkpoints.snapshot import SCHEMA_VERSION, read_header, read_tensors, tensor_shapes
from genlab.checkpoints.state import load_state, state_paths
from genlab.data.codecs import MAX_SIDE, codec_from_state
from genlab.data.registry import class_names as dataset_class_names
from genlab.device import pick_device, resolve_precision
from genlab.errors import GenlabError
from genlab.models.base import Capabilities, GenerativeModel
from genlab.models.diffusion.objective import autoguide_off
from genlab.models.registry import get_family

__all__ = ["MAX_PARAMETERS", "MAX_SEED", "MIN_SCHEMA_VERSION", "Generator", "LoadedModel", "Snapshot",
           "SnapshotHeader", "find_snapshot", "load", "load_snapshot", "parse_header", "raw_header",
           "read_snapshot_header", "snapshot_info"]

MIN_SCHEMA_VERSION = 1  # oldest header layout this genlab reads (the newest is checkpoints.snapshot.SCHEMA_VERSION)
MAX_PARAMETERS = 500_000_000  # 2 GB of fp32 weights: far above any genlab model, far below a hostile header's ask
MAX_SEED = 2**31 - 1  # seeds are 0..MAX_SEED (one range for the API, the CLI and the web)
MAX_CLASSES = 100_000
Progress = Callable[[int, int], None]  # (steps done, total steps)

_REQUIRED = ("schema_version", "family", "kwargs", "codec")
# Optional header keys and their JSON types (None always allowed). Other keys are kept, untyped, in `extra`.
_OPTIONAL: dict[str, tuple[type, ...]] = {
    "weights": (str,), "genlab_version": (str,), "git_commit": (str,), "dataset": (str,), "step": (int,),
    "images_seen": (int,), "train_seconds": (int, float), "train_cpu_seconds": (int, float), "config": (dict,), "metrics": (dict,), "density": (dict,),
}


# ---------------------------------------------------------------------------------------------------- the header

@dataclass(frozen=True)
class SnapshotHeader:
    """A snapshot's header, validated: what rebuilds the model and what the run recorded.

    domain: "image" (grayscale), "facies" (binary images) or "audio"; capabilities: the family's (with
    conditional = trained with classes); sample_shape: one sample's model-space shape (C, H, W) — for audio
    (channels, bins, frames) or (1, 1, samples); `image_shape` is its old name.
    """

    schema_version: int
    family: str
    kwargs: dict[str, Any]
    codec: dict[str, Any]
    capabilities: Capabilities
    weights: str = "ema"
    genlab_version: str | None = None
    git_commit: str | None = None
    dataset: str | None = None
    step: int | None = None
    images_seen: int | None = None
    train_seconds: float | None = None  # wall-clock seconds of training steps
    train_cpu_seconds: float | None = None  # process CPU seconds (self + children) of the same steps
    config: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    density: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.kwargs["image_shape"])

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self.sample_shape

    @property
    def num_classes(self) -> int:
        return int(self.kwargs.get("num_classes", 0))

    @property
    def domain(self) -> str:
        if self.codec.get("kind", "image") != "image":
            return "audio"
        return "facies" if self.codec.get("levels") == 2 else "image"

    @property
    def data_config(self) -> dict[str, Any]:
        """The run's `data` config (dataset, data_dir, options, classes), {} when the header has none."""
        data = (self.config or {}).get("data")
        return data if isinstance(data, dict) else {}

    @property
    def class_names(self) -> list[str]:
        """Names of the classes the model was trained on, in label order (subset-aware); "0", "1", … if unknown."""
        names = dataset_class_names(self.dataset or self.data_config.get("dataset") or "")
        kept = self.data_config.get("classes") or []
        if kept and names:  # trained on a subset: label k is the k-th kept class
            names = [names[c] for c in kept if isinstance(c, int) and 0 <= c < len(names)]
        return list(names) if len(names) == self.num_classes else [str(k) for k in range(self.num_classes)]

    @property
    def sample_settings(self) -> dict[str, Any]:
        """The run's own sampling settings (config `sample`), limited to what the family takes: the one default
        for sampling and evaluation (e.g. {"sampler": "dpmpp-2m", "steps": 20, "guidance": 2.0} for diffusion)."""
        sample = (self.config or {}).get("sample")
        sample = sample if isinstance(sample, dict) else {}
        return {k: sample[k] for k in self.capabilities.sampling_options if k in sample}

    def to_dict(self) -> dict[str, Any]:
        """The header as JSON (the stored keys, as read)."""
        out = {k: getattr(self, k) for k in ("schema_version", "family", "kwargs", "codec", "weights")}
        for key in _OPTIONAL:
            if key not in out and getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return {**out, **self.extra}


def _fail(where: str, what: str) -> GenlabError:
    return GenlabError(f"{where}: snapshot header {what}")


def _check_schema_version(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"schema_version {value!r:.40} is a {type(value).__name__}; expected an integer "
                           f"{MIN_SCHEMA_VERSION}..{SCHEMA_VERSION}")
    if value > SCHEMA_VERSION:
        raise _fail(where, f"schema_version {value} is newer than this genlab reads ({SCHEMA_VERSION}); "
                           "upgrade genlab")
    if value < MIN_SCHEMA_VERSION:
        raise _fail(where, f"schema_version {value} is not a genlab schema (expected "
                           f"{MIN_SCHEMA_VERSION}..{SCHEMA_VERSION})")
    return value


def _check_shape_and_classes(kwargs: dict[str, Any], where: str) -> None:
    shape = kwargs.get("image_shape")
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 4
            or not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= MAX_SIDE for s in shape)):
        raise _fail(where, f"kwargs.image_shape {shape!r:.60}: expected a list of 1-4 sizes in 1..{MAX_SIDE}")
    classes = kwargs.get("num_classes", 0)
    if isinstance(classes, bool) or not isinstance(classes, int) or not 0 <= classes <= MAX_CLASSES:
        raise _fail(where, f"kwargs.num_classes {classes!r:.40}: expected an integer 0..{MAX_CLASSES}")


def parse_header(raw: Any, where: str = "snapshot") -> SnapshotHeader:
    """Validate a decoded JSON header as a whole → SnapshotHeader; one-line GenlabError naming the key otherwise.

    Checks: a JSON object; the required keys; schema_version an int in the supported range; family a registered
    name; kwargs an object whose image_shape/num_classes are sane; the codec state (its kind and options) rebuilds;
    the optional keys have their JSON types. The family's own options are type-checked when the model is built.
    """
    if not isinstance(raw, dict):
        raise _fail(where, f"is a JSON {type(raw).__name__}, expected an object")
    if "schema_version" not in raw:
        raise _fail(where, f"has no 'schema_version' (required: {', '.join(_REQUIRED)})")
    version = _check_schema_version(raw["schema_version"], where)  # first: a newer layout may differ in the rest
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise _fail(where, f"has no '{missing[0]}' (required: {', '.join(_REQUIRED)})")
    if not isinstance(raw["family"], str):
        raise _fail(where, f"family {raw['family']!r:.40} is not a name")
    try:
        cls = get_family(raw["family"])
    except GenlabError as e:
        raise GenlabError(f"{where}: {e}") from None
    kwargs, codec = raw["kwargs"], raw["codec"]
    if not isinstance(kwargs, dict):
        raise _fail(where, f"kwargs is a JSON {type(kwargs).__name__}, expected an object")
    _check_shape_and_classes(kwargs, where)
    try:
        codec_from_state(codec)
    except GenlabError as e:
        raise GenlabError(f"{where}: snapshot header {e}") from None
    values = {}
    for key, types in _OPTIONAL.items():
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            raise _fail(where, f"{key} {value!r:.40} is a {type(value).__name__}; expected "
                               f"{' or '.join(t.__name__ for t in types)}")
        values[key] = value
    if values["weights"] not in (None, "ema", "raw"):
        raise _fail(where, f"weights '{values['weights']}': expected ema or raw")
    values["weights"] = values["weights"] or "ema"
    extra = {k: v for k, v in raw.items() if k not in _REQUIRED and k not in _OPTIONAL}
    caps = cls.capabilities(kwargs.get("num_classes", 0))
    return SnapshotHeader(version, cls.family, dict(kwargs), dict(codec), caps, extra=extra, **values)


def read_snapshot_header(source: str | Path) -> SnapshotHeader:
    """The validated header of a snapshot file, run directory or pretrained name (no tensors are read)."""
    path = find_snapshot(source)
    return parse_header(read_header(path), str(path))


def raw_header(source: str | Path) -> Any:
    """The header of a snapshot file, run directory or pretrained name as stored (parsed JSON, not validated)."""
    return read_header(find_snapshot(source))


def snapshot_info(source: str | Path) -> SnapshotHeader:
    """What the faces show about a snapshot: family, dataset, domain, classes, shape, step, capabilities."""
    return read_snapshot_header(source)


# ---------------------------------------------------------------------------------------------------- finding

def find_snapshot(source: str | Path) -> Path:
    """A snapshot file, or a run directory (its final snapshot, else its newest epoch snapshot), or a pretrained
    name (its shipped file, sha256-verified)."""
    return pretrained.find_snapshot(source)


# ---------------------------------------------------------------------------------------------------- building

def _first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:160]


def _build(cls: type[GenerativeModel], header: SnapshotHeader, where: str, device: str | None = None) -> nn.Module:
    """The family's model from the header's kwargs (on `device`, e.g. "meta" to allocate nothing)."""
    try:
        if device is None:
            return cls(**header.kwargs)
        with torch.device(device):
            return cls(**header.kwargs)
    except GenlabError as e:
        raise GenlabError(f"{where}: header kwargs do not fit family '{header.family}' ({e})") from None
    except (TypeError, ValueError, RuntimeError, OverflowError, IndexError, KeyError, ZeroDivisionError) as e:
        raise GenlabError(f"{where}: header kwargs do not build a '{header.family}' model "
                          f"({type(e).__name__}: {_first_line(e)})") from None


def estimate_parameters(header: SnapshotHeader, where: str = "snapshot") -> dict[str, tuple[int, ...]]:
    """Name → shape of every tensor the header's model holds, from a build on the meta device (no memory);
    GenlabError when it would hold more than MAX_PARAMETERS numbers."""
    skeleton = _build(get_family(header.family), header, where, device="meta")
    shapes = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    total = sum(math.prod(s) for s in shapes.values())
    if total > MAX_PARAMETERS:
        raise GenlabError(f"{where}: header kwargs describe a model of {total:,} numbers (over the "
                          f"{MAX_PARAMETERS:,} limit); kwargs {_short(header.kwargs)}")
    return shapes


def _short(kwargs: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return text if len(text) <= 160 else text[:157] + "..."


def _check_tensor_shapes(expected: dict[str, tuple[int, ...]], stored: dict[str, tuple[int, ...]],
                         where: str) -> None:
    for name, shape in expected.items():
        if name not in stored:
            raise GenlabError(f"{where}: tensor '{name}' is missing from the file (the header's model needs "
                              f"{tuple(shape)})")
        if tuple(stored[name]) != tuple(shape):
            raise GenlabError(f"{where}: tensor '{name}' has shape {tuple(stored[name])} in the file, the header's "
                              f"model needs {tuple(shape)}")
    unexpected = sorted(set(stored) - set(expected))
    if unexpected:
        raise GenlabError(f"{where}: tensor {unexpected[0]!r:.80} in the file is not part of the header's model "
                          f"({len(unexpected)} unexpected)")


def _check_finite(tensors: dict[str, Tensor], where: str) -> None:
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            kind = "NaN" if bool(torch.isnan(t).any()) else "Inf"
            raise GenlabError(f"{where}: tensor '{name}' holds {kind} values; the snapshot is corrupt or from a "
                              "diverged run")


@dataclass
class Snapshot:
    """A rebuilt model (eval mode) with its header: `info` typed, `header` the raw JSON dict."""

    model: GenerativeModel
    info: SnapshotHeader
    path: Path
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.info.family


def load_snapshot(path: str | Path, *, family: str | None = None, device: str | torch.device = "cpu") -> Snapshot:
    """Rebuild the model of a snapshot file, validating everything first (see the module docstring).
    `family`, if given, must match the snapshot's."""
    where = str(path)
    raw = read_header(path)
    info = parse_header(raw, where)
    if family is not None and info.family != get_family(family).family:
        raise GenlabError(f"{where}: snapshot is a '{info.family}' model, expected '{family}'")
    expected = estimate_parameters(info, where)
    _check_tensor_shapes(expected, tensor_shapes(path), where)
    tensors = read_tensors(path)
    _check_finite(tensors, where)
    model = _build(get_family(info.family), info, where)
    model.load_state_dict(tensors, strict=True)
    model.to(device).eval()
    return Snapshot(model=model, info=info, path=Path(path), header=dict(raw))


# ---------------------------------------------------------------------------------------------------- sampling

def generation_precision(precision: str, device: torch.device) -> str:
    """The precision seeded generation runs in. "auto" is fp32 everywhere: bf16 autocast gives a sample generated
    in a batch a result that differs (by about one grey level) from the same seed generated alone, which breaks the
    promise that any image of a grid regenerates alone. "bf16" is faster on hardware with native bf16 and keeps
    per-seed determinism only for the same batch composition."""
    if precision == "auto":
        return "fp32"
    return resolve_precision(precision, device)


def _autocast(precision: str, device: torch.device):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def check_seeds(seeds: Sequence[Any]) -> list[int]:
    """Seeds as ints in 0..MAX_SEED; GenlabError naming the first bad one."""
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
            raise GenlabError(f"seed {s!r:.40}: expected an integer in 0..{MAX_SEED}")
        out.append(int(s))
    return out


@dataclass
class LoadedModel:
    """A snapshot's model ready for sampling: one seed per sample, options checked against the family."""

    snapshot: Snapshot
    codec: Any
    device: torch.device
    _guides: dict[str, GenerativeModel] = field(default_factory=dict, repr=False)  # autoguide models, loaded once

    @property
    def model(self) -> GenerativeModel:
        return self.snapshot.model

    @property
    def header(self) -> dict[str, Any]:
        """The raw header dict (as stored); `info` is the typed one."""
        return self.snapshot.header

    @property
    def info(self) -> SnapshotHeader:
        return self.snapshot.info

    @property
    def capabilities(self) -> Capabilities:
        return self.info.capabilities

    @property
    def num_classes(self) -> int:
        return self.model.num_classes

    def sampling_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """`options` minus the unset (None) ones; a one-line GenlabError for one the family does not take (e.g.
        steps or guidance for a GAN). An `autoguide` given as a snapshot (file, run directory or pretrained name)
        is loaded here, once, on this model's device; "none" drops it (overriding a snapshot's own setting)."""
        opts = type(self.model).check_sampling_options(options)
        weak = opts.get("autoguide")
        if isinstance(weak, (str, Path)):
            if autoguide_off(weak):
                del opts["autoguide"]
            else:
                if str(weak) not in self._guides:
                    self._guides[str(weak)] = load(weak, device=str(self.device)).model
                opts["autoguide"] = self._guides[str(weak)]
        return opts

    def generate_model_space(self, seeds: Sequence[int], labels: Tensor | None = None, *, batch_size: int = 256,
                             precision: str = "auto", progress: Progress | None = None,
                             callback: Callable[[dict], None] | None = None, **options: Any) -> Tensor:
        """Samples in model space (N, C, H, W), [-1, 1]; sample i depends only on seeds[i] (and labels[i]).

        progress(done, total) is called after every sampler step of every batch (one step per batch for
        one-shot families); callback(state) gets the sampler's own per-step state (diffusion: i, t, x, x0_hat);
        precision: see `generation_precision`.
        """
        seeds = check_seeds(seeds)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise GenlabError(f"batch_size {batch_size!r}: expected an integer >= 1")
        opts = self.sampling_options(options)
        autocast = _autocast(generation_precision(precision, self.device), self.device)
        batches = range(0, len(seeds), batch_size)
        per_batch = int(opts.get("steps", 50)) if "steps" in self.capabilities.sampling_options else 1
        counter = _StepCounter(progress, len(batches) * per_batch, per_batch, callback)
        out = []
        for start in batches:
            chunk = seeds[start: start + batch_size]
            lab = labels[start: start + batch_size].to(self.device) if labels is not None else None
            with torch.no_grad(), autocast:
                out.append(self.model.generate(chunk, lab, callback=counter.step, **opts).float().cpu())
            counter.batch_done()
        if not out:
            return torch.empty(0, *self.model.image_shape)
        return torch.cat(out)

    def generate(self, n: int = 64, *, seed: int = 0, seeds: Sequence[int] | None = None,
                 labels: int | Sequence[int] | None = None, display: bool = True, **kwargs: Any) -> Tensor:
        """`n` samples with seeds seed..seed+n-1 (or explicit `seeds`) as uint8 (N, C, H, W).

        labels: one class for all, a list (one per sample), or None (classes cycle 0..K-1 for conditional models).
        kwargs: the family's sampling options (`capabilities.sampling_options`; any other is refused), and
        batch_size, precision, progress.
        display: uint8 0..255 for viewing; False gives the stored values (e.g. facies {0, 1}).
        """
        if seeds is None:
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise GenlabError(f"number of samples n = {n!r}: expected an integer >= 0")
            seeds = [seed + i for i in range(n)] if isinstance(seed, int) else [seed]
        seeds = list(seeds)
        lab = self.labels_for(labels, len(seeds))
        x = self.generate_model_space(seeds, lab, **kwargs)
        return self.codec.to_display(x) if display else self.codec.decode(x)

    def labels_for(self, labels: int | Sequence[int] | None, n: int) -> Tensor | None:
        """Class labels (n,) for `n` samples: one class for all, one per sample, or None (0..K-1 cycling)."""
        k = self.num_classes
        if k == 0:
            if labels is not None:
                raise GenlabError("this model is unconditional: it takes no class label")
            return None
        if labels is None:
            return torch.arange(n) % k
        try:
            lab = torch.full((n,), int(labels)) if isinstance(labels, int) else torch.as_tensor(list(labels))
        except (TypeError, ValueError, RuntimeError):
            raise GenlabError(f"labels {labels!r:.60}: expected class numbers 0..{k - 1}") from None
        if lab.numel() != n:
            raise GenlabError(f"got {lab.numel()} labels for {n} samples")
        if n and (lab.is_floating_point() or lab.min() < 0 or lab.max() >= k):
            raise GenlabError(f"class label must be in 0..{k - 1}, got {lab.tolist()[:5]}")
        return lab.long()


Generator = LoadedModel  # the API's old name for it (genlab.api.Generator)


class _StepCounter:
    """Turns per-step model callbacks and per-batch ends into progress(done, total) calls."""

    def __init__(self, progress: Progress | None, total: int, per_batch: int,
                 callback: Callable[[dict], None] | None = None):
        self.progress, self.total, self.per_batch, self.callback = progress, total, per_batch, callback
        self.done = self.batch_start = 0

    def step(self, state: dict | None = None) -> None:
        if self.callback is not None and state is not None:
            self.callback(state)
        if self.progress and self.done < self.batch_start + self.per_batch:
            self.done += 1
            self.progress(self.done, self.total)

    def batch_done(self) -> None:
        self.batch_start += self.per_batch
        if self.progress and self.done < self.batch_start:
            self.done = self.batch_start
            self.progress(self.done, self.total)


def load(source: str | Path, *, device: str = "auto", weights: str = "ema") -> LoadedModel:
    """Load a snapshot (file, run directory or pretrained name) for inference — safetensors + JSON only.

    weights="raw" takes the non-EMA weights from the run directory's newest training state.
    """
    if weights not in ("ema", "raw"):
        raise GenlabError(f"weights='{weights}': expected ema or raw")
    dev = pick_device(device)
    snap = load_snapshot(find_snapshot(source), device=dev)
    if weights == "raw":
        _load_raw_weights(snap, Path(source))
    return LoadedModel(snapshot=snap, codec=codec_from_state(snap.info.codec), device=dev)


def _load_raw_weights(snap: Snapshot, source: Path) -> None:
    run_dir = source if source.is_dir() else source.parent
    run_dir = run_dir.parent if run_dir.name == "snapshots" else run_dir
    paths = state_paths(run_dir)
    if not paths:
        raise GenlabError(f"{run_dir}: --weights raw needs the run directory's training state (state-*.safetensors)")
    state = load_state(paths[-1])
    snap.model.load_state_dict(state["model"])
    snap.header["weights"] = "raw"

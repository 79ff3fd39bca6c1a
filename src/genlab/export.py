"""Export a snapshot's sampling network to ONNX (checked with onnxruntime) or to a `torch.export` program (.pt2).

    from genlab.export import export_snapshot
    result = export_snapshot("mnist-vae", "vae-decoder.onnx")     # .onnx → ONNX, .pt2 → torch.export
    print(result.inputs, result.max_abs_diff)                      # onnxruntime vs PyTorch on a random batch

What is exported is the network a sampler calls, per family (`NETWORKS`, one line each):
- diffusion: one denoising step's network, the U-Net ``(x_t (N, C, H, W), noise_cond (N,)[, labels (N,)]) →
  model output (N, C, H, W)`` (ε, x0 or v, per the run's ``model.prediction``); the sampler loop (DDIM,
  DPM-Solver++) and its schedule stay outside, as in diffusers' pipelines.
- gan: the generator ``(z (N, *latent_shape)[, labels]) → images (N, C, H, W) in [-1, 1]``.
- vae, ae, dae, sparse-ae, spectral-ae: the decoder ``(z[, labels]) → model space in [-1, 1]``.
- vocos: the vocoder's network ``log_mel (N, M, T) → (log_magnitude (N, F, T), phase (N, F, T))``; the waveform is
  the inverse STFT of exp(log_magnitude)·e^{i·phase} (ONNX has no inverse-STFT operator, so it stays outside).
The batch axis is dynamic. The ONNX file's metadata holds the snapshot header (``genlab_header``) and the I/O
description (``genlab_io``), so the exported file says what it is.

An ONNX file can be quantized to int8 (`quantize_onnx`, `QUANTIZATIONS`): "int8-dynamic" stores int8 weights and
quantizes activations on the fly per call; "int8-static" also fixes the activations' scales from calibration
inputs. For a diffusion denoiser the calibration inputs are the ones its own sampler feeds it
(`calibration_feeds`: x_t, noise_cond, labels recorded while sampling seeds the evaluation does not use), so no
dataset is needed. genlab.fast_inference runs these files inside genlab's samplers.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from genlab.errors import GenlabError
from genlab.inference import load
from genlab.utils.io import atomic_path

FORMATS = {".onnx": "onnx", ".pt2": "torch-export"}
ONNX_OPSET = 18
ONNX_TOLERANCE = 1e-3  # max |onnxruntime − PyTorch| accepted on outputs in [-1, 1]-ish ranges (float32 kernels)


@dataclass
class Network:
    """A module to export with example inputs: names and tensors in call order, and output names."""

    module: nn.Module
    inputs: dict[str, Tensor]
    outputs: tuple[str, ...]


@dataclass
class ExportResult:
    path: Path
    format: str
    family: str
    inputs: dict[str, list[int | str]]  # name → shape (the batch axis as "N")
    outputs: tuple[str, ...]
    max_abs_diff: float | None = None  # onnxruntime vs PyTorch (ONNX only)
    notes: dict[str, Any] = field(default_factory=dict)


# --- the sampling network of each family --------------------------------------------------------------------------
class _DenoiserStep(nn.Module):
    def __init__(self, unet: nn.Module, conditional: bool):
        super().__init__()
        self.unet, self.conditional = unet, conditional

    def forward(self, x_t: Tensor, noise_cond: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.unet(x_t, noise_cond, labels if self.conditional else None)


class _Decoder(nn.Module):
    def __init__(self, model: nn.Module, conditional: bool):
        super().__init__()
        self.model, self.conditional = model, conditional

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.model.decode(z, labels if self.conditional else None)


class _VocoderPolar(nn.Module):
    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, log_mel: Tensor) -> tuple[Tensor, Tensor]:
        return self.generator.polar(log_mel)


def _labels(model: nn.Module, batch: int, gen: torch.Generator) -> dict[str, Tensor]:
    k = int(getattr(model, "num_classes", 0))
    return {"labels": torch.randint(0, k, (batch,), generator=gen)} if k > 0 else {}


def _diffusion_step(model: nn.Module, batch: int, gen: torch.Generator) -> Network:
    x_t = torch.randn(batch, *model.image_shape, generator=gen)
    noise_cond = torch.rand(batch, generator=gen)
    labels = _labels(model, batch, gen)
    return Network(_DenoiserStep(model.unet, bool(labels)), {"x_t": x_t, "noise_cond": noise_cond, **labels},
                   ("model_output",))


def _decoder(model: nn.Module, batch: int, gen: torch.Generator) -> Network:
    if not hasattr(model, "decode") or not hasattr(model, "latent_shape"):
        raise GenlabError(f"family '{model.family}' has no decoder to export")
    labels = _labels(model, batch, gen)
    z = torch.randn(batch, *model.latent_shape, generator=gen)
    return Network(_Decoder(model, bool(labels)), {"z": z, **labels}, ("sample",))


def _vocoder_polar(model: nn.Module, batch: int, gen: torch.Generator) -> Network:
    frames = 32
    wave = torch.randn(batch, (frames - 1) * model.cfg.hop, generator=gen) * 0.1
    return Network(_VocoderPolar(model.generator), {"log_mel": model.log_mel(wave)}, ("log_magnitude", "phase"))


# family → builder of its sampling network; families not listed export their decoder
NETWORKS: dict[str, Callable[[nn.Module, int, torch.Generator], Network]] = {
    "diffusion": _diffusion_step,
    "score-sde": _diffusion_step,  # the same U-Net step; its output is sigma times minus the score
    "vocos": _vocoder_polar,
}


def sampling_network(model: nn.Module, batch_size: int = 2, seed: int = 0) -> Network:
    """The network a sampler of `model`'s family calls, in eval mode, with seeded example inputs."""
    gen = torch.Generator().manual_seed(seed)
    net = NETWORKS.get(model.family, _decoder)(model, batch_size, gen)
    net.module.eval()
    return net


# --- writers -----------------------------------------------------------------------------------------------------
def _dynamic_batch(net: Network) -> dict[str, dict[int, str]]:
    return {name: {0: "N"} for name in (*net.inputs, *net.outputs)}


def _write_onnx(net: Network, path: Path, metadata: dict[str, str]) -> None:
    try:
        import onnx
    except ImportError as e:
        raise GenlabError("ONNX export needs the 'onnx' and 'onnxruntime' packages: "
                          "pip install 'genlab[export]'") from e
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(net.module, tuple(net.inputs.values()), str(tmp), input_names=list(net.inputs),
                          output_names=list(net.outputs), dynamic_axes=_dynamic_batch(net), opset_version=ONNX_OPSET,
                          dynamo=False)
        proto = onnx.load(str(tmp))
        for key, value in metadata.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))


def _write_torch_export(net: Network, path: Path) -> None:
    batch = torch.export.Dim("N", min=1, max=4096)
    shapes = {name: {0: batch} for name in net.inputs}
    with torch.no_grad():
        program = torch.export.export(net.module, (), kwargs=dict(net.inputs), dynamic_shapes=shapes)
    with atomic_path(path) as tmp:
        torch.export.save(program, str(tmp))


def onnx_max_abs_diff(path: str | Path, net: Network) -> float:
    """Run the ONNX file with onnxruntime on `net`'s example inputs; max |ONNX − PyTorch| over all outputs."""
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise GenlabError("checking an ONNX export needs onnxruntime: pip install 'genlab[export]'") from e
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {name: t.numpy() for name, t in net.inputs.items()}
    got = session.run(list(net.outputs), feeds)
    with torch.no_grad():
        want = net.module(*net.inputs.values())
    want = want if isinstance(want, tuple) else (want,)
    return max(float((torch.from_numpy(g) - w).abs().max()) for g, w in zip(got, want, strict=True))


def export_format(path: str | Path, fmt: str | None = None) -> str:
    """'onnx' or 'torch-export', from `fmt` or the file suffix (.onnx / .pt2)."""
    if fmt is not None:
        if fmt not in FORMATS.values():
            raise GenlabError(f"export format '{fmt}': expected one of {', '.join(FORMATS.values())}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise GenlabError(f"output '{path}': expected a .onnx or .pt2 file (or give the format)")
    return FORMATS[suffix]


def _check_output(path: Path) -> None:
    if path.is_dir():
        raise GenlabError(f"output '{path}' is a directory; expected a file path such as model.onnx")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise GenlabError(f"output folder '{parent}' does not exist")
    if not os.access(parent, os.W_OK):
        raise GenlabError(f"output folder '{parent}' is not writable")


def export_model_onnx(model: nn.Module, path: str | os.PathLike[str], header: dict[str, Any] | None = None, *,
                      batch_size: int = 2, check: bool = True) -> tuple[Network, float | None]:
    """Write the sampling network of an in-memory `model` (float32, CPU) to an ONNX file at `path`.

    header: the snapshot header stored in the file's metadata (``genlab_header``). With `check`, onnxruntime runs
    the file on a seeded batch; returns the network (with its example inputs) and max |ONNX − PyTorch| (None
    without `check`); GenlabError above `ONNX_TOLERANCE`.
    """
    path = Path(path)
    net = sampling_network(model, batch_size)
    io = {name: ["N", *t.shape[1:]] for name, t in net.inputs.items()}
    metadata = {"genlab_header": json.dumps(header or {"family": model.family}),
                "genlab_io": json.dumps({"inputs": io, "outputs": net.outputs})}
    _write_onnx(net, path, metadata)
    if not check:
        return net, None
    diff = onnx_max_abs_diff(path, net)
    if not diff <= ONNX_TOLERANCE:
        raise GenlabError(f"ONNX export: onnxruntime differs from PyTorch by {diff:.3g} (> {ONNX_TOLERANCE}); the "
                          f"file was kept at {path}")
    return net, diff


def export_snapshot(source: str | os.PathLike[str], path: str | os.PathLike[str], fmt: str | None = None, *,
                    batch_size: int = 2, check: bool = True, quantize: str | None = None) -> ExportResult:
    """Export the sampling network of a snapshot (file, run directory or pretrained name) to `path`.

    fmt: 'onnx' or 'torch-export' (default: from the suffix, .onnx / .pt2). For ONNX, with `check`, onnxruntime
    runs the file on a seeded batch and the result must match PyTorch within `ONNX_TOLERANCE` (GenlabError
    otherwise). quantize: None or a name in `QUANTIZATIONS` (ONNX only; "int8-static" calibrates on the inputs the
    model's own sampler feeds the network, `calibration_feeds`); `max_abs_diff` then compares the quantized file
    with PyTorch (no tolerance: int8 is approximate; fast_inference's tests bound it). Exported on the CPU in float32.
    """
    path = Path(path)
    _check_output(path)
    fmt = export_format(path, fmt)
    if quantize is not None and (fmt != "onnx" or quantize not in QUANTIZATIONS):
        raise GenlabError(f"quantize '{quantize}': expected one of {', '.join(QUANTIZATIONS)} with an .onnx output")
    loaded = load(source, device="cpu")
    model = loaded.model.float().eval()
    net = sampling_network(model, batch_size)
    io = {name: ["N", *t.shape[1:]] for name, t in net.inputs.items()}
    result = ExportResult(path, fmt, model.family, io, net.outputs)
    if fmt == "torch-export":
        _write_torch_export(net, path)
        return result
    if quantize is None:
        try:
            _, result.max_abs_diff = export_model_onnx(model, path, loaded.header, batch_size=batch_size,
                                                       check=check)
        except GenlabError as e:
            raise GenlabError(f"ONNX export of '{source}': {e}") from None
        return result
    feeds = calibration_feeds(model) if quantize == "int8-static" else None
    with tempfile.TemporaryDirectory(prefix="genlab-export-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_model_onnx(model, fp32, loaded.header, batch_size=batch_size, check=check)
        quantize_onnx(fp32, path, quantize, feeds)
    if check:
        result.max_abs_diff = onnx_max_abs_diff(path, net)
    result.notes["quantize"] = quantize
    return result


# --- int8 quantization (onnxruntime.quantization) ------------------------------------------------------------------
QUANTIZATIONS = ("int8-dynamic", "int8-static")
CALIBRATION_SEED = 1_000_000  # calibration samples use seeds from here: evaluations use 0..n-1


def _ort_quantization():
    try:
        from onnxruntime import quantization
    except ImportError as e:
        raise GenlabError("int8 quantization needs onnxruntime: pip install 'genlab[export]'") from e
    return quantization


@torch.no_grad()
def calibration_feeds(model: nn.Module, num_images: int = 16, *, sampler: str = "unipc", steps: int = 10,
                      guidance: float | None = None, seed: int = CALIBRATION_SEED) -> list[dict[str, np.ndarray]]:
    """Network inputs recorded while `model` (a pixel-space diffusion or score-sde model) samples `num_images`
    seeds from `seed` on: one feed dict per network call (x_t, noise_cond[, labels]), as numpy arrays — the
    activation ranges an int8-static model is calibrated on are then the ones sampling produces.
    guidance: classifier-free guidance weight (default 1.5 for conditional models, which doubles each call's
    batch with the null class, as sampling with guidance does)."""
    if NETWORKS.get(model.family) is not _diffusion_step:
        raise GenlabError(f"calibration by sampling needs a diffusion-type snapshot, got family '{model.family}'")
    feeds: list[dict[str, np.ndarray]] = []
    unet = model.unet

    def record(_module: nn.Module, args: tuple[Any, ...]) -> None:
        x_t, noise_cond, labels = (*args, None)[:3]
        feed = {"x_t": x_t.float().numpy(), "noise_cond": noise_cond.float().numpy()}
        if model.num_classes > 0:
            labels = torch.full((x_t.shape[0],), model.num_classes) if labels is None else labels
            feed["labels"] = labels.long().numpy()
        feeds.append(feed)

    if guidance is None:
        guidance = 1.5 if model.num_classes > 0 else 1.0
    handle = unet.register_forward_pre_hook(record)
    try:
        labels = torch.arange(num_images) % model.num_classes if model.num_classes > 0 else None
        model.generate(range(seed, seed + num_images), labels, sampler=sampler, steps=steps, guidance=guidance)
    finally:
        handle.remove()
    return feeds


def quantize_onnx(source: str | os.PathLike[str], path: str | os.PathLike[str], mode: str,
                  feeds: Sequence[dict[str, np.ndarray]] | None = None) -> Path:
    """Quantize the float32 ONNX file `source` to int8 at `path`.

    mode "int8-dynamic": ONNX Runtime's dynamic quantization with its default operator set — int8 weights (per
    output channel) of every Conv/MatMul/Gemm, activations quantized per call (ConvInteger/MatMulInteger).
    "int8-static": QDQ format, the convolutions but the first and last one, int8 weights per output channel,
    uint8 activations with ranges fixed (99.999th percentile) from `feeds` (required: a list of input dicts, e.g.
    `calibration_feeds`).
    The file's metadata (header, I/O) is kept and a ``genlab_quantization`` entry added.
    """
    if mode not in QUANTIZATIONS:
        raise GenlabError(f"quantization '{mode}': expected one of {', '.join(QUANTIZATIONS)}")
    if mode == "int8-static" and not feeds:
        raise GenlabError("int8-static quantization needs calibration inputs (feeds), got none")
    import onnx

    q = _ort_quantization()
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="genlab-quant-") as tmp, atomic_path(path) as out:
        prepared = Path(tmp) / "prepared.onnx"
        q.quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        if mode == "int8-dynamic":
            q.quantize_dynamic(str(prepared), str(out), weight_type=q.QuantType.QInt8, per_channel=True)
        else:
            # Convolutions only, the first and last one kept in float: quantizing the GroupNorm arithmetic, the
            # embedding Gemms and the image-facing convolutions as well raised the relative error of the mnist-ddpm
            # denoiser on sampler inputs from ~5 % to ~14-38 %; percentile ranges beat min/max (outliers).
            convs = [n.name for n in onnx.load(str(prepared)).graph.node if n.op_type == "Conv"]
            q.quantize_static(str(prepared), str(out), _FeedReader(feeds), quant_format=q.QuantFormat.QDQ,
                              op_types_to_quantize=["Conv"], nodes_to_exclude=[convs[0], convs[-1]],
                              per_channel=True, activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                              calibrate_method=q.CalibrationMethod.Percentile)
        proto = onnx.load(str(out))
        meta = {p.key: p.value for p in onnx.load(str(source)).metadata_props}
        del proto.metadata_props[:]
        for key, value in {**meta, "genlab_quantization": mode}.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(out))
    return path


class _FeedReader:
    """onnxruntime's CalibrationDataReader protocol (get_next → one feed dict, None at the end) over a list."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]):
        self._feeds = iter(list(feeds))

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

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
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def export_snapshot(source: str | os.PathLike[str], path: str | os.PathLike[str], fmt: str | None = None, *,
                    batch_size: int = 2, check: bool = True) -> ExportResult:
    """Export the sampling network of a snapshot (file, run directory or pretrained name) to `path`.

    fmt: 'onnx' or 'torch-export' (default: from the suffix, .onnx / .pt2). For ONNX, with `check`, onnxruntime
    runs the file on a seeded batch and the result must match PyTorch within `ONNX_TOLERANCE` (GenlabError
    otherwise). Exported on the CPU in float32.
    """
    path = Path(path)
    _check_output(path)
    fmt = export_format(path, fmt)
    loaded = load(source, device="cpu")
    model = loaded.model.float().eval()
    net = sampling_network(model, batch_size)
    io = {name: ["N", *t.shape[1:]] for name, t in net.inputs.items()}
    result = ExportResult(path, fmt, model.family, io, net.outputs)
    if fmt == "torch-export":
        _write_torch_export(net, path)
        return result
    metadata = {"genlab_header": json.dumps(loaded.header), "genlab_io": json.dumps({"inputs": io,
                                                                                      "outputs": net.outputs})}
    _write_onnx(net, path, metadata)
    if check:
        result.max_abs_diff = onnx_max_abs_diff(path, net)
        if not result.max_abs_diff <= ONNX_TOLERANCE:
            raise GenlabError(f"ONNX export of '{source}': onnxruntime differs from PyTorch by "
                              f"{result.max_abs_diff:.3g} (> {ONNX_TOLERANCE}); the file was kept at {path}")
    return result

"""Fast CPU inference of a diffusion snapshot: the same sampler, schedule and seeds, the denoiser run by another
backend (issue 19 part 5).

    import genlab.api as gl
    gen = gl.load("mnist-ddpm", device="cpu")
    backend = gl.inference_backend(gen, "onnxruntime-int8-static")     # export (+ calibrate, quantize) once
    images = gl.generate_with_backend(gen, backend, 64, sampler="unipc", steps=5, guidance=1.5)  # uint8

`BACKENDS` (one line each) names what can run the network a sampler calls (genlab.export's sampling network:
``(x_t, noise_cond[, labels]) → model output``); everything around it — the per-sample seeded noise, the timestep
grid, classifier-free guidance, the sampler's update — is the package's own code, as in `Generator.generate`, so
backend "torch" gives exactly the images `generate` gives and every other backend differs only by its arithmetic.
ONNX files are written by genlab.export (float32, checked against PyTorch) and quantized with
onnxruntime.quantization (`export.quantize_onnx`). Pixel-space diffusion only (family "diffusion", U-Net or DiT);
the ONNX backends need the `export` extra (onnx, onnxruntime).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.export import QUANTIZATIONS, calibration_feeds, export_model_onnx, quantize_onnx
from genlab.models.diffusion import objective
from genlab.models.diffusion.generation import sampler_options, timestep_grid
from genlab.models.diffusion.samplers import get_sampler
from genlab.utils.seeding import randn_like_per_sample, sample_generators

Runner = Callable[[Tensor, Tensor, "Tensor | None"], Tensor]

# name → what runs the denoiser (the benchmark table's rows, in this order)
BACKENDS: dict[str, str] = {
    "torch": "eager PyTorch, float32 (the reference: what Generator.generate runs)",
    "torch-bf16": "eager PyTorch under bfloat16 autocast (CPUs without avx512_bf16/AMX emulate it)",
    "torch-compile": "torch.compile (inductor, static shapes) of the denoiser, float32",
    "onnxruntime": "ONNX Runtime, float32",
    "onnxruntime-int8-dynamic": "ONNX Runtime, int8 weights, activations quantized per call (ConvInteger)",
    "onnxruntime-int8-static": "ONNX Runtime, int8 QDQ convolutions calibrated on the model's own sampler inputs",
}


@dataclass
class Backend:
    """A prepared backend: `run(x, noise_cond, labels)` → model output (float32, CPU), like the U-Net's forward.

    setup_seconds: export + calibration + quantization time (torch.compile compiles at the first call instead:
    `Generator`-sized first batches pay it; the benchmark reports it separately); onnx_path: the file run."""

    name: str
    run: Runner
    setup_seconds: float = 0.0
    onnx_path: Path | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def __call__(self, x: Tensor, noise_cond: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.run(x, noise_cond, labels)


def _check_name(name: str) -> str:
    if name not in BACKENDS:
        raise GenlabError(f"inference backend '{name}': expected one of {', '.join(BACKENDS)}")
    return name


def check_inference_backend(name: str, onnx_file: str | os.PathLike[str] | None = None) -> None:
    """One-line GenlabError for an unknown backend name, or an ONNX file given to a backend that does not run one
    (checked before anything is loaded)."""
    _check_name(name)
    if onnx_file is not None and not name.startswith("onnxruntime"):
        raise GenlabError(f"--onnx {onnx_file}: needs an onnxruntime backend, got '{name}'")
    if onnx_file is not None and not Path(onnx_file).is_file():
        raise GenlabError(f"ONNX file '{onnx_file}' does not exist")


def _pixel_diffusion(gen) -> torch.nn.Module:
    model = getattr(gen, "model", gen)
    if getattr(model, "family", None) != "diffusion":
        raise GenlabError(f"fast inference backends run pixel-space diffusion snapshots, got family "
                          f"'{getattr(model, 'family', type(model).__name__)}'")
    return model


class _TorchRunner:
    """The module itself, optionally under CPU autocast (bf16); output as float32."""

    def __init__(self, module: torch.nn.Module, autocast: torch.dtype | None = None):
        self.module, self.autocast = module, autocast

    def __call__(self, x: Tensor, noise_cond: Tensor, labels: Tensor | None = None) -> Tensor:
        ctx = torch.autocast("cpu", dtype=self.autocast) if self.autocast else contextlib.nullcontext()
        with torch.no_grad(), ctx:
            return self.module(x, noise_cond, labels).float()


class OnnxRunner:
    """An onnxruntime session of an exported denoiser, called like the U-Net: labels None = the null class."""

    def __init__(self, path: str | os.PathLike[str], null_label: int, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise GenlabError("the onnxruntime backends need onnxruntime: pip install 'genlab[export]'") from e
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or torch.get_num_threads())  # the same threads PyTorch gets
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.null_label = int(null_label)

    def __call__(self, x: Tensor, noise_cond: Tensor, labels: Tensor | None = None) -> Tensor:
        feeds = {"x_t": x.detach().float().cpu().numpy(), "noise_cond": noise_cond.detach().float().cpu().numpy()}
        if "labels" in self.input_names:
            if labels is None:
                labels = torch.full((x.shape[0],), self.null_label, dtype=torch.long)
            feeds["labels"] = labels.detach().long().cpu().numpy()
        (out,) = self.session.run(["model_output"], feeds)
        return torch.from_numpy(out).to(x.device)


def check_onnx_file(path: str | os.PathLike[str], model: torch.nn.Module) -> Path:
    """`path` is an ONNX file genlab exported for a network with `model`'s inputs (its ``genlab_io`` metadata);
    a one-line GenlabError otherwise."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"ONNX file '{path}' does not exist")
    try:
        proto = onnx.load(str(path), load_external_data=False)
        meta = {p.key: p.value for p in proto.metadata_props}
        io = json.loads(meta["genlab_io"])["inputs"]
    except Exception as e:  # noqa: BLE001 — any parse failure is "not a genlab export"
        raise GenlabError(f"ONNX file '{path}': not a genlab export ({type(e).__name__}); write one with "
                          f"`genlab export SOURCE -o model.onnx`") from None
    want = {"x_t": ["N", *model.image_shape], "noise_cond": ["N"], **({"labels": ["N"]} if model.num_classes else {})}
    if io != want:
        raise GenlabError(f"ONNX file '{path}': inputs {io} do not match this snapshot's denoiser {want}")
    return path


def inference_backend(gen, name: str = "onnxruntime", workdir: str | os.PathLike[str] | None = None, *,
                      onnx_file: str | os.PathLike[str] | None = None, threads: int | None = None,
                      calibration_images: int = 16, log: Callable[[str], None] | None = None) -> Backend:
    """Prepare backend `name` (a key of BACKENDS) for a loaded diffusion Generator (or its model).

    ONNX backends export the denoiser to `workdir` (default: a temporary folder kept for the process) and, for
    the int8 ones, quantize it — "int8-static" after recording `calibration_images` sampler runs'
    network inputs (seeds from export.CALIBRATION_SEED, 10 UniPC steps, guidance 1.5). onnx_file: run this genlab
    export instead of exporting (float32 or already quantized; its inputs are checked). threads: onnxruntime's
    intra-op threads (default: PyTorch's).
    """
    check_inference_backend(name, onnx_file)
    model = _pixel_diffusion(gen).float().eval()
    if next(model.parameters()).device.type != "cpu":
        raise GenlabError("fast inference backends run on the CPU: load the snapshot with device='cpu'")
    t0 = time.perf_counter()
    if name == "torch":
        return Backend(name, _TorchRunner(model.unet))
    if name == "torch-bf16":
        return Backend(name, _TorchRunner(model.unet, torch.bfloat16))
    if name == "torch-compile":
        return Backend(name, _TorchRunner(torch.compile(model.unet, dynamic=False)),
                       notes={"compile": "at the first call of each input shape"})
    if onnx_file is not None:
        path = check_onnx_file(onnx_file, model)
    else:
        folder = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="genlab-onnx-"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.onnx"
        fp32 = folder / "onnxruntime.onnx"
        if not fp32.is_file():
            if log:
                log(f"exporting the denoiser to {fp32}")
            export_model_onnx(model, fp32, {"family": model.family})
        quant = name.removeprefix("onnxruntime-") if name != "onnxruntime" else None
        if quant in QUANTIZATIONS and not path.is_file():
            feeds = None
            if quant == "int8-static":
                if log:
                    log(f"calibrating on the network inputs of {calibration_images} sampled images")
                feeds = calibration_feeds(model, calibration_images)
            quantize_onnx(fp32, path, quant, feeds)
    return Backend(name, OnnxRunner(path, model.num_classes, threads), time.perf_counter() - t0, path)


@torch.no_grad()
def sample(gen, backend: Backend | Runner, seeds: Sequence[int], labels: Tensor | None = None, *,
           sampler: str = "unipc", steps: int = 5, guidance: float = 1.0, grid: str = "trailing",
           eta: float | None = None, order: int | None = None, batch_size: int = 256,
           progress: Callable[[int, int], None] | None = None,
           guidance_interval: tuple[float, float] | str | None = None) -> Tensor:
    """Samples in model space (N, C, H, W) in [-1, 1] with the network run by `backend`.

    As `Diffusion.generate`: sample i depends only on seeds[i] (and labels[i]); labels (N,) long or None (the
    null class); guidance w, guidance_interval, sampler, steps, grid, eta, order as there. progress(done, total)
    after each batch.
    """
    model = _pixel_diffusion(gen)
    seeds = [int(s) for s in seeds]
    sample_fn = get_sampler(sampler)
    if eta == 0 and "eta" not in inspect.signature(sample_fn).parameters:
        eta = None
    opts = sampler_options(sampler, sample_fn, eta, order)
    timesteps = timestep_grid(grid, steps, model.alphas_cumprod)
    interval = objective.check_guidance_interval(guidance_interval)
    if labels is not None:
        labels = torch.as_tensor(labels, dtype=torch.long).flatten()
        if labels.numel() != len(seeds):
            raise GenlabError(f"got {labels.numel()} labels for {len(seeds)} seeds")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise GenlabError(f"batch_size {batch_size!r}: expected an integer >= 1")
    out = []
    for lo in range(0, len(seeds), batch_size):
        chunk = seeds[lo:lo + batch_size]
        gens = sample_generators(chunk)
        x_T = randn_like_per_sample(gens, model.image_shape)
        lab = None if labels is None else labels[lo:lo + batch_size]
        denoise = objective.Denoiser(backend, model.alphas_cumprod, model.cfg.prediction, lab, guidance,
                                     clip_x0=True, null_label=model.num_classes, guidance_interval=interval)
        out.append(sample_fn(denoise, x_T, timesteps, model.alphas_cumprod, generators=gens, **opts).clamp(-1, 1))
        if progress:
            progress(min(lo + batch_size, len(seeds)), len(seeds))
    return torch.cat(out) if out else torch.empty(0, *model.image_shape)


SAMPLE_OPTIONS = ("sampler", "steps", "guidance", "guidance_interval", "grid", "eta", "order", "batch_size",
                  "progress")


def generate_with_backend(gen, backend: Backend | str, n: int = 64, *, seed: int = 0,
                          labels: int | Sequence[int] | None = None, display: bool = True,
                          **options: Any) -> Tensor:
    """`n` samples (seeds seed..seed+n-1) from a loaded diffusion Generator with the network run by `backend` (a
    prepared Backend or a name of BACKENDS, prepared here); uint8 (N, C, H, W) like `Generator.generate`
    (display=False: model space). labels: one class, one per sample or None (classes cycle); options: `sample`'s
    (sampler, steps, guidance, grid, eta, order, batch_size, progress)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise GenlabError(f"number of samples n = {n!r}: expected an integer >= 0")
    options = {k: v for k, v in options.items() if not (k == "autoguide" and objective.autoguide_off(v))}
    other = sorted(k for k, v in options.items() if k not in SAMPLE_OPTIONS and v is not None)
    if other:
        hint = "; the snapshot's own settings use it: pass --autoguide none" if other[0] == "autoguide" else ""
        raise GenlabError(f"option {other[0]}: not available with an inference backend (it takes "
                          f"{', '.join(SAMPLE_OPTIONS)}){hint}")
    options = {k: v for k, v in options.items() if k in SAMPLE_OPTIONS and v is not None}
    if isinstance(backend, str):
        backend = inference_backend(gen, backend)
    lab = gen.labels_for(labels, n)
    x = sample(gen, backend, range(seed, seed + n), lab, **options)
    return gen.codec.to_display(x) if display else x

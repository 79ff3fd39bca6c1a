"""The work behind each endpoint, run in the job queue's worker threads. Each function takes a validated request,
calls genlab's API and returns a JSON-ready dict (images and audio as data: URIs) or PNG bytes."""

from __future__ import annotations

import base64
import io
import math
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from genlab import api
from genlab.errors import GenlabError
from genlab.web.catalog import PRETRAINED, SnapshotCatalog, SnapshotInfo
from genlab.web.jobs import Job
from genlab.web.schemas import LIMITS, AudioRequest, EsmdaRequest, GenerateRequest, InpaintRequest, InterpolateRequest


def png_bytes(images: Any, nrow: int | None = None, padding: int = 2) -> bytes:
    """uint8 (N, C, H, W) display images → one PNG grid (genlab.api.make_grid), in memory."""
    buf = io.BytesIO()
    Image.fromarray(api.make_grid(images, nrow=nrow, padding=padding)).save(buf, format="PNG")
    return buf.getvalue()


def _cell(image: Any) -> str:
    """One (C, H, W) image as a PNG data: URI, unpadded."""
    return data_uri(png_bytes(image[None], padding=0), "image/png")


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _require_kind(info: SnapshotInfo, kinds: Sequence[str], what: str) -> None:
    if info.kind not in kinds:
        raise GenlabError(f"snapshot '{info.id}' ({info.family}) is of kind {info.kind}; {what} "
                          f"needs kind {' or '.join(kinds)}")


def _labels(info: SnapshotInfo, class_label: int | None, n: int) -> list[int] | None:
    """One class for all, or (conditional models, no class given) classes cycling 0..K-1 by position."""
    k = info.num_classes
    if class_label is not None and class_label >= k:
        limit = f"classes 0..{k - 1}" if k else "no classes (it is unconditional)"
        raise GenlabError(f"class_label = {class_label}: snapshot '{info.id}' has {limit}")
    if k == 0:
        return None
    return [class_label] * n if class_label is not None else [i % k for i in range(n)]


def _progress(job: Job | None, stage: str = "") -> Any:
    """The per-step progress callback handed to genlab.api: updates the job's counter, stops a cancelled job."""
    if job is None:
        return None
    return lambda step, total: job.step_to(step, total, stage)


def generate(catalog: SnapshotCatalog, req: GenerateRequest, job: Job | None = None) -> dict[str, Any] | bytes:
    info = catalog.resolve(req.snapshot)
    _require_kind(info, ("image", "channels"), "generation")
    seeds = req.seed_list()
    labels = _labels(info, req.class_label, len(seeds))
    options = sampling_options(info, sampler=req.sampler, steps=req.steps, guidance=req.guidance)
    gen = catalog.load(info)
    t0 = time.perf_counter()
    images = gen.generate(seeds=seeds, labels=labels, progress=_progress(job, "step"),
                          **confined_guide(catalog, info, options))
    seconds = time.perf_counter() - t0
    cycling = labels is not None and req.class_label is None and len(seeds) > info.num_classes
    nrow = info.num_classes if cycling else math.ceil(math.sqrt(len(seeds)))  # one column per class when cycling
    grid = png_bytes(images, nrow=nrow)
    if req.format == "png":
        return grid
    return {"snapshot": info.id, "family": info.family, "seeds": seeds, "labels": labels,
            "cells": [_cell(img) for img in images], "options": options,
            "grid": data_uri(grid, "image/png"), "nrow": nrow, "seconds": round(seconds, 3),
            "params": req.model_dump(exclude={"format", "seeds", "progress_key"})}


def sampling_options(info: SnapshotInfo, **given: Any) -> dict[str, Any]:
    """The options given (a 400 naming one the family does not take: refused, never dropped), else the snapshot's
    own sample settings — the defaults `genlab sample` and `genlab evaluate` use too."""
    takes = tuple(info.header.capabilities.sampling_options)
    chosen = {k: v for k, v in given.items() if v is not None}
    for name in chosen:
        if name not in takes:
            raise GenlabError(f"{name}: the {info.family} family does not take it (it takes "
                              f"{', '.join(takes) or 'no sampling options'})")
    defaults = {k: v for k, v in info.header.sample_settings.items() if k in takes and v is not None}
    return {**defaults, **chosen}


def confined_guide(catalog: SnapshotCatalog, info: SnapshotInfo, options: dict[str, Any]) -> dict[str, Any]:
    """`options` with a snapshot-named autoguide (its header's `sample.autoguide`: a pretrained name or a path)
    replaced by the guide's file when it is a pretrained name or a snapshot inside the runs directory (a path
    relative to it); anything else is a 400 naming the guide — an uploaded snapshot's header must not make the server
    read files outside its roots. "none" passes through (autoguidance off)."""
    weak = options.get("autoguide")
    if not isinstance(weak, str) or api.autoguide_off(weak):
        return options
    sid = PRETRAINED + weak if weak in api.pretrained_manifest() else weak
    try:
        guide = catalog.resolve(sid)
    except GenlabError:
        raise GenlabError(f"snapshot '{info.id}': its autoguide '{weak:.80}' is neither a pretrained name nor a "
                          "snapshot inside the runs directory") from None
    return {**options, "autoguide": str(guide.path)}


def interpolate(catalog: SnapshotCatalog, req: InterpolateRequest, job: Job | None = None) -> dict[str, Any]:
    info = catalog.resolve(req.snapshot)
    _require_kind(info, ("image", "channels"), "interpolation")
    _labels(info, req.class_label, 1)
    if not info.header.capabilities.latent_kind:
        raise GenlabError(f"snapshot '{info.id}' ({info.family}) has no latent space to interpolate in")
    # "All classes" on a conditional model: one strip per class, each keeping its class from end to end.
    classes = [req.class_label] if req.class_label is not None or not info.num_classes else \
        list(range(info.num_classes))
    t0 = time.perf_counter()
    frames, rows = [], []
    for k in classes:
        if job is not None:
            job.step_to(len(rows), len(classes), "strip")
        res = api.interpolate(info.path, req.seed_a, req.seed_b, steps=req.steps, method=req.method, label=k,
                              device=catalog.device)
        frames.extend(res.images)
        rows.append({"class_label": k})
    return {"snapshot": info.id, "strip": data_uri(png_bytes(frames, nrow=req.steps), "image/png"),
            "frames": [_cell(img) for img in frames], "rows": rows,
            "seconds": round(time.perf_counter() - t0, 3), "params": req.model_dump(exclude={"progress_key"})}


def esmda(catalog: SnapshotCatalog, req: EsmdaRequest, job: Job | None = None) -> dict[str, Any]:
    info = catalog.resolve(req.snapshot)
    _require_kind(info, ("channels",), "ES-MDA")
    with tempfile.TemporaryDirectory(prefix="genlab-web-esmda-") as tmp:
        s = api.esmda_demo(info.path, truth_seed=req.truth_seed, wells=req.wells, n_ens=req.n_ens, n_assim=req.n_assim,
                       out_dir=tmp, seed=req.seed, device=catalog.device)
        images = {k: data_uri((Path(tmp) / name).read_bytes(), "image/png") for k, name in s["assets"].items()}
    setup = {k: v for k, v in s["setup"].items() if k != "d_obs"}
    return {"snapshot": info.id, "family": s["family"], "n_ens": s["n_ens"], "n_assim": s["n_assim"],
            "alphas": s["alphas"], "setup": setup, "history": s["history"], "prior_latent": s["prior_latent"],
            "posterior_latent": s["posterior_latent"], "seconds": round(s["seconds"], 3), "images": images}


def inpaint_wells(catalog: SnapshotCatalog, req: InpaintRequest, job: Job | None = None) -> dict[str, Any]:
    info = catalog.resolve(req.snapshot)
    _require_kind(info, ("channels",), "inpainting to wells")
    with tempfile.TemporaryDirectory(prefix="genlab-web-inpaint-") as tmp:
        s = api.inpaint_demo(info.path, truth_seed=req.truth_seed, wells=req.wells, n=req.n, out_dir=tmp,
                             seed=req.seed, device=catalog.device, steps=req.steps, jump=min(5, req.steps - 1),
                             resample=req.resample, batch_size=req.n, progress=_progress(job, "inpainting"))
        images = {k: data_uri((Path(tmp) / name).read_bytes(), "image/png") for k, name in s["assets"].items()}
    keep = ("family", "n", "method", "steps", "jump", "resample", "nfe", "wells_honoured", "wells_agreed_before_paste",
            "field_accuracy_vs_truth", "pixel_std_mean", "flow_rmse_log10_rate", "channel_fraction")
    return {"snapshot": info.id, **{k: s[k] for k in keep},
            "setup": {k: v for k, v in s["setup"].items() if k != "well_cells"},
            "seconds": round(s["seconds"], 3), "images": images}


# --- audio --------------------------------------------------------------------------------------------------------
def musdb_tracks(data_dir: str | None) -> dict[str, Any]:
    """The MUSDB18 test tracks under the data directory, or why there are none."""
    try:
        names = api.musdb_track_names(data_dir, "test")
    except GenlabError as e:
        return {"available": False, "tracks": [], "message": str(e)}
    return {"available": bool(names), "tracks": names,
            "message": "" if names else "the MUSDB18 test folder holds no tracks"}


def _checked_upload(body: bytes, folder: Path) -> Path:
    """Write an uploaded WAV/FLAC to `folder` after checking it is readable audio within the limits."""
    path = folder / "upload.wav"
    path.write_bytes(body)
    try:
        rate, channels, frames = api.wav_info(path)
    except (RuntimeError, GenlabError):
        raise GenlabError("the uploaded file is not a readable WAV (or FLAC) file") from None
    seconds = frames / rate if rate else 0.0
    if frames == 0 or channels < 1:
        raise GenlabError("the uploaded audio is empty")
    if channels > 2:
        raise GenlabError(f"the uploaded audio has {channels} channels; the limit is 2 (mono or stereo)")
    if seconds > LIMITS["upload_seconds"]:
        raise GenlabError(f"the uploaded audio lasts {seconds:.1f} s; the limit is {LIMITS['upload_seconds']:g} s")
    return path


def regeneration_method(family: str, phase: str, gl_iters: int) -> str:
    """How a stem was regenerated, in words for the page: the model's magnitude and which phase, or (phase 'model',
    vocoders only) its own waveform."""
    if phase == "model":
        return f"{family} waveform with its own predicted phase"
    phases = {"griffin-lim": f"Griffin-Lim phase ({gl_iters} iterations)", "mixture": "the mixture's phase",
              "oracle": "the original stem's phase (oracle: an upper bound)"}
    return f"{family} magnitude + {phases[phase]}"


def audio(catalog: SnapshotCatalog, req: AudioRequest, upload: bytes | None, data_dir: str | None,
          job: Job | None = None) -> dict[str, Any]:
    """Regenerate a stem (of a MUSDB18 test track or an uploaded WAV); original and regeneration as WAV URIs."""
    rate = api.SAMPLE_RATE_HZ
    info = catalog.resolve(req.snapshot)
    _require_kind(info, ("audio",), "stem regeneration")
    if upload and req.track:
        raise GenlabError("give either track= (a MUSDB18 test track) or an uploaded WAV, not both")
    if upload and req.phase == "mixture":  # checked here: genlab.audio's message would name the server's temp file
        raise GenlabError("phase 'mixture' needs a MUSDB18 track; an uploaded WAV has no mixture (use griffin-lim, "
                          "oracle or model)")
    with tempfile.TemporaryDirectory(prefix="genlab-web-audio-") as tmp:
        folder = Path(tmp)
        if upload:
            source, subset = str(_checked_upload(upload, folder)), None
        elif req.track:
            listing = musdb_tracks(data_dir)
            if req.track not in listing["tracks"]:  # only listed names: a track is never a path on the server
                raise GenlabError(f"track '{req.track}': not a MUSDB18 test track here"
                                  f"{' (' + listing['message'] + ')' if listing['message'] else ''}")
            source, subset = req.track, "test"
        else:
            raise GenlabError("choose a MUSDB18 test track (track=...) or upload a WAV file as the request body")
        wave, _, name = api.load_audio_input(source, req.stem, data_dir, subset)
        if wave.shape[-1] > LIMITS["track_seconds"] * rate:
            raise GenlabError(f"track '{name}' lasts {wave.shape[-1] / rate:.1f} s; the limit is "
                              f"{LIMITS['track_seconds']:g} s (use the 7-second MUSDB18-7 previews)")
        t0 = time.perf_counter()
        out = api.regenerate(source, req.stem, info.path, folder / "regenerated.wav", phase=req.phase,
                             gl_iters=req.gl_iters, data_dir=data_dir, subset=subset, device=catalog.device)
        seconds = time.perf_counter() - t0
        original = api.write_wav(folder / "original.wav", wave.numpy(), rate)
        family = info.family
        return {"snapshot": info.id, "family": family, "input": name if req.track else "upload",
                "stem": req.stem, "phase": req.phase, "method": regeneration_method(family, req.phase, req.gl_iters),
                "audio_seconds": round(wave.shape[-1] / rate, 3),
                "seconds": round(seconds, 3), "original": data_uri(original.read_bytes(), "audio/wav"),
                "regenerated": data_uri(out.read_bytes(), "audio/wav")}

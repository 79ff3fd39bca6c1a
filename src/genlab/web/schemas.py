"""Request models of the web API and the limits they enforce (one place: the page reads them from /api/config).

Every number a client sends is bounded here, so one request costs at most a few CPU seconds to tens of seconds on
a small machine; a value outside its bounds is refused with HTTP 422 and a message naming the parameter and the
limit (see `validation_message`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from genlab import api

PHASES = tuple(api.AUDIO_PHASES)
TARGETS = tuple(api.AUDIO_STEMS)
SAMPLERS = tuple(api.SAMPLERS)
MAX_SEED = api.MAX_SEED
LIMITS: dict[str, Any] = {
    "n": 64,  # images per generation request
    "steps": 200,  # sampler steps
    "guidance": 10.0,
    "class_label": 999,  # the model's own class count is checked once it is loaded
    "seed": MAX_SEED,
    "interpolation_frames": 16,
    "esmda_members": 40,  # ES-MDA costs ~0.05 CPU-s per member and iteration on a 64x64 channel model
    "esmda_assimilations": 4,
    "esmda_wells": 25,
    "esmda_truth_seed": 1_000_000,
    "inpaint_realizations": 8,  # RePaint at 128x128: ~25 steps x 3 resamplings = ~75-250 network calls per realization
    "inpaint_steps": 50,
    "inpaint_resample": 5,
    "gl_iters": 100,  # Griffin-Lim iterations (about real time at 100 on one core)
    "upload_bytes": 16 * 1024 * 1024,
    "upload_seconds": 15.0,
    "track_seconds": 30.0,
    "json_bytes": 64 * 1024,
    "explorer_directions": 16,  # latent explorer: sliders (principal directions or chosen dimensions)
    "explorer_position": 4.0,  # slider range ± this many stds of the codes along a direction
    "explorer_codes": 2000,  # codes (encoded images or prior samples) behind a basis: ~1 CPU-s for a small VAE
    "latent_dim_index": 65535,  # largest latent dimension index a request may name (the model's size is checked)
}
SAMPLER_NAMES = tuple(SAMPLERS)
PROGRESS_KEY = r"^[A-Za-z0-9_-]{8,64}$"  # a client-chosen token: GET /api/jobs/{key} reads the job's progress


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently ignored

    snapshot: str = Field(min_length=1, max_length=512, description="a snapshot id from /api/snapshots")
    progress_key: str | None = Field(None, pattern=PROGRESS_KEY, description="any 8-64 letters, digits, - or _: "
                                     "GET /api/jobs/{progress_key} reports this request's steps while it runs")


class GenerateRequest(_Request):
    """n images with seeds seed..seed+n-1, or exactly the given `seeds` (regenerating single cells)."""

    n: int = Field(16, ge=1, le=LIMITS["n"])
    seed: int = Field(0, ge=0, le=MAX_SEED)
    seeds: list[int] | None = Field(None, min_length=1, max_length=LIMITS["n"])
    # Sampling options: None = the snapshot's own sample settings (its training grids'); one the family does not
    # take (steps for a GAN) is refused with 400, not dropped.
    sampler: str | None = None
    steps: int | None = Field(None, ge=1, le=LIMITS["steps"])
    guidance: float | None = Field(None, ge=0.0, le=LIMITS["guidance"], allow_inf_nan=False)
    class_label: int | None = Field(None, ge=0, le=LIMITS["class_label"])
    format: Literal["json", "png"] = "json"

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, v: str | None) -> str | None:
        if v is not None and v not in SAMPLERS:
            raise ValueError(f"expected one of {', '.join(SAMPLER_NAMES)}")
        return v

    @field_validator("seeds")
    @classmethod
    def _seed_range(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(s < 0 or s > MAX_SEED for s in v):
            raise ValueError(f"every seed must be in 0..{MAX_SEED}")
        return v

    @model_validator(mode="after")
    def _last_seed(self) -> GenerateRequest:
        if self.seeds is None and self.seed + self.n - 1 > MAX_SEED:
            raise ValueError(f"seed + n - 1 = {self.seed + self.n - 1} exceeds the largest seed {MAX_SEED}")
        return self

    def seed_list(self) -> list[int]:
        return list(self.seeds) if self.seeds is not None else [self.seed + i for i in range(self.n)]


class InterpolateRequest(_Request):
    """A strip of decoded latents between the samples of two seeds (VAE, GAN, autoencoder; diffusion through its
    DDIM starting noise). A conditional model with no class_label gives one strip per class, each keeping its
    class."""

    seed_a: int = Field(0, ge=0, le=MAX_SEED)
    seed_b: int = Field(1, ge=0, le=MAX_SEED)
    steps: int = Field(8, ge=2, le=LIMITS["interpolation_frames"], description="frames, ends included")
    method: Literal["slerp", "lerp"] = "slerp"
    class_label: int | None = Field(None, ge=0, le=LIMITS["class_label"])


class EsmdaRequest(_Request):
    """ES-MDA conditioning of a channel generator's realizations to wells and flow data of a synthetic truth."""

    truth_seed: int = Field(0, ge=0, le=LIMITS["esmda_truth_seed"])
    wells: int = Field(9, ge=1, le=LIMITS["esmda_wells"])
    n_ens: int = Field(24, ge=4, le=LIMITS["esmda_members"])
    n_assim: int = Field(2, ge=1, le=LIMITS["esmda_assimilations"])
    seed: int = Field(0, ge=0, le=MAX_SEED - LIMITS["esmda_members"])


class InpaintRequest(_Request):
    """Inpainting of a diffusion channel model's realizations to the facies at the wells of a synthetic truth (the
    same truths and wells as ES-MDA)."""

    truth_seed: int = Field(0, ge=0, le=LIMITS["esmda_truth_seed"])
    wells: int = Field(9, ge=1, le=LIMITS["esmda_wells"])
    n: int = Field(4, ge=1, le=LIMITS["inpaint_realizations"])
    steps: int = Field(25, ge=2, le=LIMITS["inpaint_steps"])
    resample: int = Field(3, ge=1, le=LIMITS["inpaint_resample"])
    seed: int = Field(0, ge=0, le=MAX_SEED - LIMITS["inpaint_realizations"])


class AudioRequest(_Request):
    """Regenerate a stem of a MUSDB18 test track (`track`) or of an uploaded WAV (the request body)."""

    stem: Literal[TARGETS] = "vocals"  # type: ignore[valid-type]
    track: str | None = Field(None, min_length=1, max_length=300)
    phase: Literal[PHASES] = "griffin-lim"  # type: ignore[valid-type]
    gl_iters: int = Field(32, ge=1, le=LIMITS["gl_iters"])


def validation_message(errors: list[dict[str, Any]]) -> str:
    """Pydantic errors → one line: 'steps = 500: Input should be less than or equal to 200; ...'."""
    parts = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "query")]
        name = ".".join(loc) or "request"
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if e.get("type") == "missing":
            parts.append(f"{name}: required")
        elif "input" in e and e.get("type") not in ("model_type", "dict_type", "json_invalid") and loc:
            parts.append(f"{name} = {_short(e['input'])}: {msg}")
        else:
            parts.append(f"{name}: {msg}")
    return "; ".join(parts) or "invalid request"


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class LatentBasisRequest(_Request):
    """Slider directions of a model's latent space: principal directions of `n` codes (mode "pca") or chosen
    latent dimensions (mode "dims"; none given: the k most varied)."""

    mode: Literal["pca", "dims"] = "pca"
    k: int = Field(6, ge=1, le=LIMITS["explorer_directions"], description="number of sliders")
    dims: list[int] | None = Field(None, min_length=1, max_length=LIMITS["explorer_directions"])
    n: int = Field(500, ge=2, le=LIMITS["explorer_codes"], description="codes behind the basis")

    @field_validator("dims")
    @classmethod
    def _dim_range(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(d < 0 or d > LIMITS["latent_dim_index"] for d in v):
            raise ValueError(f"every dimension must be in 0..{LIMITS['latent_dim_index']}")
        return v


class LatentDecodeRequest(LatentBasisRequest):
    """The image at slider positions `coords` (one per direction of the basis the other fields describe, in stds
    of the codes along it)."""

    coords: list[float] = Field(min_length=1, max_length=LIMITS["explorer_directions"])
    class_label: int | None = Field(None, ge=0, le=LIMITS["class_label"])

    @field_validator("coords")
    @classmethod
    def _coord_range(cls, v: list[float]) -> list[float]:
        limit = LIMITS["explorer_position"]
        if any(not (-limit <= c <= limit) for c in v):  # NaN fails too
            raise ValueError(f"every position must be in -{limit:g}..{limit:g}")
        return v

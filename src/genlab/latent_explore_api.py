"""Latent traversals, the disentanglement metric and the latent explorer, as API calls on a saved model (what
`genlab latent traverse` / `genlab latent mig`, the web UI's explorer and notebook 05 call).

    import genlab.api as gl
    gl.traverse("runs/sprites-tcvae", image=0, out="traversal.png")     # one row per most-varied dimension
    gl.disentanglement("runs/sprites-tcvae", n=5000)["mig"]             # MIG against the dSprites factors
    gen = gl.load("runs/mnist-vae")
    basis = gl.explorer_basis(gen, mode="pca", k=6)                     # principal directions of encoded codes
    image = gl.explore(gen, basis, [1.5, 0, 0, 0, 0, -1])               # uint8 (1, C, H, W)

Codes for a basis or a traversal's scale come from the model's encoder on real images of the snapshot's dataset
(split "train" for the explorer) when it has a one-pass encoder and the data is there, else from prior samples
(`sample_latent` of seeds 0..n−1: a GAN, or a server without the data set).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.inference import LoadedModel
from genlab.latent.encoding import decode, encode_means, latents_from_seeds, require_latent
from genlab.latent.explore import LatentBasis, dims_basis, has_fast_encoder, most_varied_dims, pca_basis, traversal
from genlab.latent_api import LatentImages, _cond, _dataset, _load, _pick, latent_data
from genlab.metrics.disentanglement import mig
from genlab.viz.grid import save_grid

__all__ = ["disentanglement", "explore", "explorer_basis", "latent_codes", "traverse"]

PathLike = str | os.PathLike[str]
TRAVERSAL_VALUES = tuple(round(-2.5 + 0.625 * i, 4) for i in range(9))  # −2.5 … 2.5 stds, 9 columns
MAX_DIRECTIONS = 64


def latent_codes(gen: LoadedModel, n: int = 1000, *, split: str = "train", seed: int = 0, dataset: str | None = None,
                 data_dir: PathLike | None = None) -> tuple[Tensor, str]:
    """Up to `n` codes (N, *latent_shape) and where they came from: "encoded" (means of real images) or "prior"
    (samples of seeds 0..n−1, when the model has no one-pass encoder or its data set cannot be read)."""
    model = gen.model
    require_latent(model)
    if has_fast_encoder(model):
        try:
            x, y = latent_data(gen, n, split=split, seed=seed, dataset=dataset, data_dir=data_dir)
            return encode_means(model, x, _cond(model, y)), "encoded"
        except (GenlabError, OSError):
            pass  # no data here: fall back to the prior
    with torch.no_grad():
        return latents_from_seeds(model, list(range(n))).float().cpu(), "prior"


def explorer_basis(gen: LoadedModel, mode: str = "pca", *, k: int = 8, dims: Sequence[int] | None = None,
                   n: int = 1000, seed: int = 0, data_dir: PathLike | None = None) -> LatentBasis:
    """Slider directions for `gen`: the `k` principal directions of `n` codes (mode "pca") or the chosen latent
    elements `dims` (mode "dims"; default: the k most varied), centred on the codes' mean."""
    if mode not in ("pca", "dims"):
        raise GenlabError(f"explorer mode '{mode}': expected pca or dims")
    if not 1 <= k <= MAX_DIRECTIONS:
        raise GenlabError(f"k = {k}: expected 1..{MAX_DIRECTIONS} directions")
    codes, source = latent_codes(gen, n, seed=seed, data_dir=data_dir)
    if mode == "pca":
        return pca_basis(codes, k, source)
    return dims_basis(codes, list(dims) if dims else most_varied_dims(codes, k), source)


@torch.no_grad()
def explore(gen: LoadedModel, basis: LatentBasis, coords: Sequence[float], label: int | None = None) -> Tensor:
    """The image at slider positions `coords` (one per basis direction, in stds): uint8 (1, C, H, W)."""
    model = gen.model
    z = basis.latent(coords, model.latent_shape)
    y = gen.labels_for(label, 1)  # None for an unconditional model; class 0 when a conditional one gets none
    return gen.codec.to_display(decode(model, z, y))


def traverse(source: PathLike, *, dims: Sequence[int] | None = None, rows: int = 8,
             values: Sequence[float] = TRAVERSAL_VALUES, image: int | None = None, seed: int = 0, n: int = 500,
             label: int | None = None, out: PathLike | None = None, split: str = "test",
             dataset: str | None = None, data_dir: PathLike | None = None, device: str = "auto"
             ) -> tuple[LatentImages, list[int]]:
    """Latent traversal grid: start from the encoded mean of dataset image `image` (index into `split`), else from
    the prior sample of `seed`; row r sets latent element dims[r] to mean_r + v · std_r for each v in `values`
    (mean and std of `n` codes along that element). Default dims: the `rows` most varied elements (a VAE's active
    dimensions). Returns uint8 (rows · len(values), C, H, W) and the dims; writes `out` (PNG, one row per dim)."""
    gen, model = _load(source, device)
    if label is not None and model.num_classes == 0:
        raise GenlabError("this model is unconditional: traverse takes no label")
    if label is None and model.num_classes > 0:
        label = int(seed) % model.num_classes
    codes, _ = latent_codes(gen, n, split=split, dataset=dataset, data_dir=data_dir)
    dims = [int(d) for d in dims] if dims else most_varied_dims(codes, rows)
    if image is not None:
        start = _encoded_image(gen, image, split, dataset, data_dir)
    else:
        start = latents_from_seeds(model, [seed])[0].float().cpu()
    flat = codes.flatten(1).float()
    size = flat.shape[1]
    if any(not 0 <= d < size for d in dims):
        raise GenlabError(f"dims {dims}: latent dimensions are 0..{size - 1}")
    mean, std = flat.mean(0), flat.std(0).clamp_min(1e-6)
    grid = []
    for d in dims:  # one row per dimension, each scaled by that dimension's own spread
        row_values = [float(mean[d] + v * std[d]) for v in values]
        grid.append(traversal(model, start, [d], row_values, label))
    display = gen.codec.to_display(torch.cat(grid))
    path = None
    if out:
        path = Path(out)
        save_grid(display, path, nrow=len(values), scale=2)
    return LatentImages(display, path), dims


def _encoded_image(gen: LoadedModel, index: int, split: str, dataset: str | None, data_dir: PathLike | None
                   ) -> Tensor:
    ds = _dataset(gen, split, dataset, data_dir)
    if not 0 <= index < len(ds):
        raise GenlabError(f"image = {index}: expected an index in 0..{len(ds) - 1} of the {split} split")
    x, y = ds.get_batch([index])
    return encode_means(gen.model, gen.codec.encode(x), _cond(gen.model, y))[0]


def disentanglement(source: PathLike, n: int = 5000, *, bins: int = 20, split: str = "test", seed: int = 0,
                    dataset: str | None = None, data_dir: PathLike | None = None, device: str = "auto"
                    ) -> dict[str, Any]:
    """MIG (genlab.metrics.disentanglement) of the encoded means of `n` images of `split` against the data set's
    generative factors (a source with factor labels, e.g. dsprites). Returns the MIG dict plus source, split."""
    gen, model = _load(source, device)
    if not has_fast_encoder(model):
        raise GenlabError(f"model family '{model.family}' has no one-pass encoder; MIG needs encoded codes")
    ds = _dataset(gen, split, dataset, data_dir)
    factors = getattr(ds, "factors", None)
    if factors is None:
        raise GenlabError(f"dataset '{ds.name}' has no generative-factor labels; MIG needs one that has "
                          "(e.g. dsprites)")
    idx = _pick(None, len(ds), n, None, seed)
    x, y = ds.get_batch(idx)
    codes = encode_means(model, gen.codec.encode(x), _cond(model, y))
    result = mig(codes.numpy(), factors[idx], bins=bins, factor_names=tuple(ds.factor_names))
    return {"source": str(source), "split": split, **result}

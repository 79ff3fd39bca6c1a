"""The latent explorer's work (POST /api/latent/basis and /api/latent/decode), run in the job queue's workers.

A basis (genlab.api.explorer_basis: principal directions of encoded training images, or of prior samples when the
model has no one-pass encoder or the server has no data) costs up to about a CPU-second; it is kept in a small LRU
cache keyed by snapshot file, modification time and the basis fields, so moving a slider only decodes one code.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from genlab import api
from genlab.errors import GenlabError
from genlab.web.catalog import SnapshotCatalog, SnapshotInfo
from genlab.web.jobs import Job
from genlab.web.schemas import LatentBasisRequest, LatentDecodeRequest
from genlab.web.tasks import _cell, _labels, _require_kind

BASIS_CACHE = 16
_bases: OrderedDict[tuple, Any] = OrderedDict()
_lock = threading.Lock()


def _require_code_latent(info: SnapshotInfo) -> None:
    _require_kind(info, ("image", "channels"), "the latent explorer")
    if not info.header.capabilities.has_latent:
        raise GenlabError(f"snapshot '{info.id}' ({info.family}) has no latent code to explore (the explorer needs "
                          "a VAE, GAN or autoencoder)")


def _basis(catalog: SnapshotCatalog, info: SnapshotInfo, req: LatentBasisRequest, data_dir: str | None) -> Any:
    key = (str(info.path), info.path.stat().st_mtime_ns, req.mode, req.k, tuple(req.dims or ()), req.n)
    with _lock:
        if key in _bases:
            _bases.move_to_end(key)
            return _bases[key]
    gen = catalog.load(info)
    basis = api.explorer_basis(gen, req.mode, k=req.k, dims=req.dims, n=req.n, data_dir=data_dir)
    with _lock:
        _bases[key] = basis
        while len(_bases) > BASIS_CACHE:
            _bases.popitem(last=False)
    return basis


def latent_basis(catalog: SnapshotCatalog, req: LatentBasisRequest, data_dir: str | None = None,
                 job: Job | None = None) -> dict[str, Any]:
    """The sliders of a snapshot: one per direction, with its std and (PCA) share of the variance, plus the image
    at the centre."""
    info = catalog.resolve(req.snapshot)
    _require_code_latent(info)
    t0 = time.perf_counter()
    basis = _basis(catalog, info, req, data_dir)
    gen = catalog.load(info)
    k = basis.directions.shape[0]
    labels = _labels(info, None, 1)
    centre = api.explore(gen, basis, [0.0] * k, None if labels is None else labels[0])
    names = [f"dim {d}" for d in basis.dims] if basis.dims else [f"PC {i + 1}" for i in range(k)]
    return {"snapshot": info.id, "family": info.family, "latent_size": int(basis.centre.numel()),
            "directions": k, "names": names, **basis.to_dict(), "image": _cell(centre[0]),
            "seconds": round(time.perf_counter() - t0, 3), "params": req.model_dump(exclude={"progress_key"})}


def latent_decode(catalog: SnapshotCatalog, req: LatentDecodeRequest, data_dir: str | None = None,
                  job: Job | None = None) -> dict[str, Any]:
    """The decoded image at the slider positions `coords` (as many as the basis has directions)."""
    info = catalog.resolve(req.snapshot)
    _require_code_latent(info)
    labels = _labels(info, req.class_label, 1)
    t0 = time.perf_counter()
    basis = _basis(catalog, info, req, data_dir)
    k = basis.directions.shape[0]
    if len(req.coords) != k:
        raise GenlabError(f"coords: {len(req.coords)} positions for a basis of {k} directions (ask /api/latent/basis "
                          "for its size)")
    image = api.explore(catalog.load(info), basis, req.coords, None if labels is None else labels[0])
    return {"snapshot": info.id, "image": _cell(image[0]), "coords": req.coords,
            "class_label": None if labels is None else labels[0], "seconds": round(time.perf_counter() - t0, 3)}

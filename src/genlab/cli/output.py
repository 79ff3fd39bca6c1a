"""What the commands show and write: per-step progress bars and image files in the format their suffix names."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError

_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
JPEG_QUALITY = 95


class Progress:
    """A tqdm bar fed by genlab.api's progress(done, total) callback: sampler steps over all batches for families
    that take several steps, one per batch for one-shot families. Every size of request shows it; --quiet hides
    it."""

    def __init__(self, bar: Any, unit_note: str):
        self.bar, self.unit_note = bar, unit_note

    def __call__(self, done: int, total: int) -> None:
        if self.bar.total != total:
            self.bar.total = total
            self.bar.refresh()
        self.bar.update(max(0, done - self.bar.n))


@contextlib.contextmanager
def progress_bar(what: str, quiet: bool) -> Iterator[Progress]:
    """A bar over the steps genlab.api reports (its total arrives with the first report)."""
    from tqdm import tqdm

    bar = tqdm(total=None, unit="step", desc=what, disable=quiet, leave=True, dynamic_ncols=True)
    try:
        yield Progress(bar, what)
    finally:
        bar.close()


def write_grid(images: Any, path: Path, nrow: int | None = None, scale: int = 1) -> Path:
    """uint8 images (N, C, H, W) as one grid image in the format of `path`'s suffix (PNG or a real JPEG), written
    atomically (a temp file renamed into place, so a failed write leaves nothing half-written)."""
    from PIL import Image

    from genlab import api

    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise GenlabError(f"-o {path}: unsupported image type '{path.suffix}'; expected {', '.join(_FORMATS)}")
    grid = api.make_grid(images, nrow=nrow)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    image = Image.fromarray(grid)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, format=fmt, **({"quality": JPEG_QUALITY} if fmt == "JPEG" else {}))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

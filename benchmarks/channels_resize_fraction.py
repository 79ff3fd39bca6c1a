"""Channel fraction before and after resizing binary facies 128 → 64 px (issue 14), old rule vs `resize_binary`.

The old rule was area average ≥ 0.5 (ties count as channel); `genlab.data.sources.channels.resize_binary` keeps
the block majority and splits the ties to keep each image's fraction. Prints JSON (and writes it with --out):
per source, n images, the mean fraction at 128 px, after each rule, the relative change, and per-image
|Δ fraction| statistics. No timing is measured here.

    python benchmarks/channels_resize_fraction.py --n 2000 --refs ../shared/data/channels \
        --out benchmarks/results/channels_resize_fraction.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genlab.data.sources.channels import generate_channels, resize_binary
from genlab.data.sources.facies_refs import load_strebelle, strebelle_crops


def old_rule(x: torch.Tensor, size: int) -> torch.Tensor:
    """The rule before the fix: area average then ≥ 0.5 (ties → channel)."""
    return (F.adaptive_avg_pool2d(x.float(), (size, size)) >= 0.5).to(torch.uint8)


def summary(name: str, images: np.ndarray, size: int) -> dict:
    x = torch.from_numpy(images).to(torch.uint8)[:, None]
    f_in = x.double().mean(dim=(1, 2, 3)).numpy()
    out = {"source": name, "n": len(images), "in_size": int(images.shape[-1]), "out_size": size,
           "fraction_in_mean": float(f_in.mean())}
    rules = (("old_ties_channel", lambda t: old_rule(t, size)), ("new", lambda t: resize_binary(t, (size, size))))
    for label, fn in rules:
        y = torch.cat([fn(x[i:i + 500]) for i in range(0, len(x), 500)])
        f_out = y.double().mean(dim=(1, 2, 3)).numpy()
        d = np.abs(f_out - f_in)
        out[label] = {"fraction_mean": float(f_out.mean()),
                      "relative_change_pct": float(100 * (f_out.mean() / f_in.mean() - 1)),
                      "abs_diff_per_image_mean": float(d.mean()), "abs_diff_per_image_max": float(d.max()),
                      "images_within_one_cell": float((d <= 1.0 / size**2 + 1e-12).mean())}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="images per source")
    ap.add_argument("--refs", default="../shared/data/channels", help="folder holding strebelle_ti/")
    ap.add_argument("--out", default=None, help="write the JSON here too")
    a = ap.parse_args(argv)
    rows = [summary("procedural generator, seed 0, 128 px", generate_channels(a.n, seed=0, size=128), 64)]
    sti = Path(a.refs) / "strebelle_ti" / "strebelle_250x250_uint8.npy"
    if sti.exists():
        crops = strebelle_crops(load_strebelle(sti), a.n, size=128, seed=0, transpose=True)
        rows.append(summary(f"Strebelle 128 px crops (seed 0, transposed) of {sti.name}", crops.images, 64))
    text = json.dumps({"command": "python benchmarks/channels_resize_fraction.py " + " ".join(argv or []),
                       "results": rows}, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

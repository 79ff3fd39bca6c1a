"""Linear probe on frozen codes: logistic-regression accuracy (train codes of n_train seeded random training images →
all 10,000 test images) for every given model with an encoder, beside the chance level (majority test class) and
the same probe on raw pixels of the same images (genlab.metrics.probe).

    python benchmarks/ae_probe.py --data-dir /work/shared/data \
        --models mnist-ae mnist-dae mnist-sparse-ae mnist-vae fashion-vae --out benchmarks/results/ae_probe.json

A --models entry is a pretrained name, snapshot or run directory; "random:<family>:<dataset>" is the untrained
(random-initialisation) encoder of that family at the preset's size — the "random features" baseline.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from common import emit, machine_info, strict_json

from genlab import api
from genlab.ae_metrics_api import _images
from genlab.metrics.probe import frozen_codes, linear_probe


def random_encoder(family: str, dataset: str) -> torch.nn.Module:
    from genlab.models.registry import get_family

    cfg = api.resolve_config(f"{'fashion' if dataset == 'fashion-mnist' else 'mnist'}-{family}")
    torch.manual_seed(0)
    return get_family(family)((1, 28, 28), 0, **cfg.model)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--n-train", type=int, default=10_000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    start, cpu0 = time.perf_counter(), time.process_time()
    rows, pixels, data = [], {}, {}
    for source in args.models:
        t0 = time.process_time()
        if source.startswith("random:"):
            _, family, dataset = source.split(":")
            model, label = random_encoder(family, dataset), f"{family} (random init, untrained)"
        else:
            gen = api.load(source, device="cpu")
            model, family = gen.model, gen.model.family
            dataset, label = gen.info.dataset or gen.info.data_config.get("dataset"), family
        if dataset not in data:
            xtr, ytr, _ = _images(dataset, "train", args.n_train, 0, args.data_dir)
            xte, yte, _ = _images(dataset, "test", None, 0, args.data_dir)
            data[dataset] = (xtr, ytr, xte, yte)
            pixels[dataset] = linear_probe(xtr, ytr, xte, yte).to_dict()
            print(f"{dataset} pixel probe: {pixels[dataset]['accuracy']:.4f}", file=sys.stderr, flush=True)
        xtr, ytr, xte, yte = data[dataset]
        res = linear_probe(frozen_codes(model, xtr), ytr, frozen_codes(model, xte), yte).to_dict()
        rows.append({"model": source, "family": label, "dataset": dataset, **res,
                     "cpu_s_total": round(time.process_time() - t0, 1)})
        print(f"{source}: {res['accuracy']:.4f} (dim {res['dim']})", file=sys.stderr, flush=True)
    emit(strict_json({"benchmark": "ae_probe", "machine": machine_info(), "command": "python " + " ".join(sys.argv),
                      "protocol": f"logistic regression (L-BFGS, C=1, standardised features) fitted on the codes of "
                                  f"{args.n_train} seeded random training images, accuracy on all test images",
                      "pixel_probe": pixels, "rows": rows, "wall_s": round(time.perf_counter() - start, 1),
                      "cpu_s": round(time.process_time() - cpu0, 1)}), args.out)


if __name__ == "__main__":
    main()

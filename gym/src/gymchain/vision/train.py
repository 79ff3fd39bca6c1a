"""``python -m gymchain.vision.train``: train the landmark-sequence classifier and save it (safetensors + JSON).

  python -m gymchain.vision.train --out gym/var/vision-model --sequences 600 --epochs 12
  python -m gymchain.vision.train --data windows.npz --out DIR        # your own data, same format (dataset.py)

Without ``--data`` it renders labelled windows from the kinematic model. The split is by sequence (person and
set); validation metrics (exercise accuracy, per-fault and per-misuse precision/recall with counts) are printed
as JSON and stored in the model's config.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from gymchain.vision.kinematics import ERRORS
from gymchain.vision.misuse import MISUSE


def precision_recall(truth: np.ndarray, predicted: np.ndarray) -> dict:
    tp = int(((truth == 1) & (predicted == 1)).sum())
    fp = int(((truth == 0) & (predicted == 1)).sum())
    fn = int(((truth == 1) & (predicted == 0)).sum())
    return {"precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None, "positives": tp + fn, "n": len(truth)}


def evaluate(model, data: dict[str, np.ndarray]) -> dict:
    from gymchain.vision.model import predict

    probs = predict(model, data["x"])
    out = {"windows": len(data["x"]),
           "exercise_accuracy": round(float((probs["exercise"].argmax(1) == data["exercise"]).mean()), 4)}
    reps = data["errors_mask"] == 1
    out["errors"] = {e: precision_recall(data["errors"][reps, i], (probs["errors"][reps, i] > 0.5).astype(int))
                     for i, e in enumerate(ERRORS)}
    out["misuse"] = {}
    for i, m in enumerate(MISUSE):
        known = data["misuse_mask"][:, i] == 1
        out["misuse"][m] = precision_recall(data["misuse"][known, i], (probs["misuse"][known, i] > 0.5).astype(int))
    return out


def train(train_data: dict, val_data: dict, *, epochs: int, batch: int, lr: float, seed: int,
          log=print):
    import torch

    from gymchain.vision.model import PoseSequenceNet

    torch.manual_seed(seed)
    model = PoseSequenceNet()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    t = {k: torch.from_numpy(v.astype(np.float32 if k == "x" else np.int64)) for k, v in train_data.items()}
    n = len(t["x"])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(n)
        total, started = 0.0, time.perf_counter()
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            out = model(t["x"][idx])
            loss = torch.nn.functional.cross_entropy(out["exercise"], t["exercise"][idx])
            emask = t["errors_mask"][idx].float()[:, None].expand(-1, len(ERRORS))
            if emask.sum() > 0:
                loss = loss + (bce(out["errors"], t["errors"][idx].float(), reduction="none") * emask).sum() \
                    / emask.sum()
            mmask = t["misuse_mask"][idx].float()
            loss = loss + (bce(out["misuse"], t["misuse"][idx].float(), reduction="none") * mmask).sum() \
                / mmask.sum().clamp(min=1)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(idx)
        model.eval()
        metrics = evaluate(model, val_data)
        log(f"epoch {epoch}/{epochs}: train loss {total / n:.4f}, val exercise accuracy "
            f"{metrics['exercise_accuracy']:.3f} ({time.perf_counter() - started:.1f} s)")
    return model, metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gymchain.vision.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="directory for model.safetensors + config.json")
    parser.add_argument("--data", type=Path, help="a dataset .npz (default: render one from the kinematic model)")
    parser.add_argument("--save-data", type=Path, help="also write the rendered dataset here (.npz)")
    parser.add_argument("--sequences", type=int, default=600, help="sequences to render (default 600)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--val-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name, value, lo, hi in (("--sequences", args.sequences, 8, 100_000), ("--epochs", args.epochs, 1, 500),
                                ("--batch", args.batch, 1, 4096)):
        if not lo <= value <= hi:
            parser.error(f"{name} {value}: expected {lo} to {hi}")
    if not 0 < args.val_share < 1 or not 0 < args.lr < 1:
        parser.error("--val-share and --lr: expected values between 0 and 1")
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from gymchain.vision import dataset
    from gymchain.vision.model import save

    started = time.perf_counter()
    if args.data:
        try:
            data = dataset.load(args.data)
        except ValueError as exc:
            parser.error(str(exc))
    else:
        print(f"rendering {args.sequences} labelled sequences from the kinematic model ...", file=sys.stderr)
        data = dataset.generate(args.sequences, args.seed)
        if args.save_data:
            dataset.save(data, args.save_data)
    train_data, val_data = dataset.split(data, args.val_share, args.seed)
    print(f"{len(train_data['x'])} training / {len(val_data['x'])} validation windows", file=sys.stderr)
    model, metrics = train(train_data, val_data, epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed,
                           log=lambda line: print(line, file=sys.stderr))
    metrics |= {"train_windows": len(train_data["x"]), "seconds": round(time.perf_counter() - started, 1),
                "sequences": None if args.data else args.sequences, "seed": args.seed}
    save(model, args.out, metrics)
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Classifier guidance on a trained model, judged by an independent classifier: the share of samples of the target
class and the judge's mean probability of it, at several guidance scales (one JSON document on stdout).

    python benchmarks/score_guidance.py --model runs/mnist-sde-vp --classifier clf.safetensors \\
        --judge judge.safetensors --n 200 --scales 0,1,3 --out results/score_guidance.json

Sample i has seed i and target class i mod K (K = the classifier's classes), so every class gets n / K samples and
each scale sees the same initial noise. The judge is a second `genlab train-classifier` run with another seed, read
at t = 0: it did not guide the samples. Unguided (s = 0) the share is the model's own class frequency, about 1/K.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info

import genlab.api as gl


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--judge", required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--scales", default="0,1,3")
    ap.add_argument("--sampler", default="dpmpp-2m")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    gen = gl.load(args.model, device="cpu")
    k = int(gl.classify(args.judge, torch.zeros(1, *gen.model.image_shape, dtype=torch.uint8)).shape[1])
    targets = torch.arange(args.n) % k
    rows = []
    for scale in [float(s) for s in args.scales.split(",")]:
        t0, cpu0 = time.perf_counter(), time.process_time()
        x = gen.generate(args.n, seed=0, sampler=args.sampler, steps=args.steps, classifier=args.classifier,
                         classifier_scale=scale, batch_size=100)
        probs = gl.classify(args.judge, x)
        rows.append({"scale": scale, "target_share": float((probs.argmax(1) == targets).float().mean()),
                     "target_prob_mean": float(probs[torch.arange(args.n), targets].mean()), "n": args.n,
                     "seconds": round(time.perf_counter() - t0, 1),
                     "cpu_seconds": round(time.process_time() - cpu0, 1)})
    result = {"model": args.model, "classifier": args.classifier, "judge": args.judge, "sampler": args.sampler,
              "steps": args.steps, "classes": k, "rows": rows, "machine": machine_info(),
              "load_average": os.getloadavg()}
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return result


if __name__ == "__main__":
    main()

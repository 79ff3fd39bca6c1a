"""Few-step generation by progressive distillation (issue 19 part 4): FID of the distilled students at 8, 4, 2 and 1
DDIM steps against their teacher (the shipped mnist-ddpm) at 20 steps and at the same step counts.

Every FID is printed beside its real-vs-real floor at the same n (genlab.metrics.image.real_floor: n random training
images against the same test split as the n generated images), n and the NFE. Students come from `genlab distill`
(one run directory per stage; each snapshot header records its stages' iterations, batch, losses and process CPU
time, which this script copies into the table). Rows are merged into benchmarks/results/diffusion_distill.json
(rewritten after every row; rows already there with the same n are kept unless --force), and rendered to
diffusion_distill.md beside it.

    genlab distill mnist-ddpm -o /work/runs/editing/distill --teacher-steps 16 --student-steps 4 \\
        --iterations 150,300 --batch-size 32 --lr 2e-4 --data-dir /work/shared/data --threads 1
    python benchmarks/diffusion_distill.py --students /work/runs/editing/distill --n 1000 \\
        --data-dir /work/shared/data

Timings: CPU model and load are recorded beside them (the machine is shared; process CPU time is not inflated by
other work, wall time is).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from common import machine_info

from genlab.evaluation import _evaluate_loaded, real_data, sampling_options, train_pool
from genlab.inference import find_snapshot, load

RESULTS = Path(__file__).resolve().parent / "results" / "diffusion_distill.json"


def row(gen, real, n: int, steps: int, guidance: float, seed: int, batch_size: int) -> dict[str, Any]:
    """FID etc. of `gen` sampled with deterministic DDIM at `steps` on the trailing grid, with the floor."""
    options = sampling_options(gen, "ddim", steps, guidance, eta=0.0, grid="trailing")
    c0, t0 = time.process_time(), time.perf_counter()
    result = _evaluate_loaded(gen, real, n=n, options=options, split="test", seed=seed, batch_size=batch_size,
                              progress=None)
    m, floor = result["metrics"], result["metrics"]["floor"]
    guided = bool(gen.num_classes) and guidance not in (0.0, 1.0)
    return {"sampler": "ddim", "steps": steps, "guidance": guidance, "nfe": steps * (2 if guided else 1), "n": n,
            "fid": m["fid"], "floor_fid": floor["fid"], "floor_n": floor["n"], "fid_over_floor": m["fid"] / floor["fid"],
            "kid_mean": m["kid_mean"], "precision": m["precision"], "recall": m["recall"],
            "label_accuracy": m.get("label_accuracy"), "num_real": m["num_real"],
            "eval_cpu_s": round(time.process_time() - c0, 1), "eval_wall_s": round(time.perf_counter() - t0, 1)}


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {"rows": {}}


def write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    path.with_suffix(".md").write_text(markdown(data))


def _f(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def markdown(data: dict[str, Any]) -> str:
    rows = data.get("rows", {})
    ref = rows.get("teacher@20")
    lines = [("| model | DDIM steps (NFE) | FID | floor | FID / floor | FID / teacher@20 | label acc. | n | "
             "distillation CPU min (cumulative) |"), "|---|---|---|---|---|---|---|---|---|"]
    order = sorted(rows.values(), key=lambda r: (r["model"] != "teacher", -r["steps"]))
    for r in order:
        vs = r["fid"] / ref["fid"] if ref else None
        lines.append(f"| {r['model']} | {r['steps']} ({r['nfe']}) | {_f(r['fid'])} | {_f(r['floor_fid'])} | "
                     f"{_f(r['fid_over_floor'], 2)} | {_f(vs, 2)} | {_f(r['label_accuracy'])} | {r['n']} | "
                     f"{_f(r.get('distill_cpu_minutes'), 1)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", default="mnist-ddpm")
    p.add_argument("--students", type=Path, help="Output directory of `genlab distill` (steps-N subdirectories).")
    p.add_argument("--teacher-steps", default="20,16,8,4,2,1", help="Teacher DDIM step counts to measure.")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--guidance", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--force", action="store_true", help="Re-measure rows already in the JSON.")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = read(args.out)
    todo: list[tuple[str, str | Path, int]] = [(f"teacher@{s}", args.teacher, int(s))
                                                for s in args.teacher_steps.split(",") if s]
    if args.students is not None:
        for d in sorted(args.students.glob("steps-*"), key=lambda d: -int(d.name.split("-")[1])):
            if (d / "snapshot.safetensors").is_file():
                todo.append((f"student@{int(d.name.split('-')[1])}", d, int(d.name.split("-")[1])))
    real = None
    for key, source, steps in todo:
        old = data["rows"].get(key)
        if old and old["n"] == args.n and not args.force:
            continue
        path = find_snapshot(source)
        gen = load(path, device="cpu")
        real = real or real_data(gen.info, path=path, data_dir=args.data_dir, max_train=train_pool(None, args.n),
                                 seed=args.seed, device=gen.device)
        guidance = args.guidance if key.startswith("teacher") else 1.0  # students have the teacher's w baked in
        r = {"model": key.split("@")[0], "source": str(source), **row(gen, real, args.n, steps, guidance, args.seed,
                                                                        args.batch_size)}
        stages = (gen.info.extra.get("distillation") or {}).get("stages")
        if stages:
            r["distill_stages"] = stages
            r["distill_cpu_minutes"] = round(sum(s["cpu_seconds"] for s in stages) / 60, 2)
            r["distill_teacher_guidance"] = stages[0]["guidance"]
        r["machine"] = machine_info()
        data["command"] = r["command"] = " ".join([Path(sys.executable).name, *sys.argv])
        data["rows"][key] = r
        data["floor"] = "genlab.metrics.image.real_floor: n random training images vs the same test split"
        write(args.out, data)
        print(f"{key}: FID {r['fid']:.3f} floor {r['floor_fid']:.3f} (n={args.n}, NFE {r['nfe']})", file=sys.stderr,
              flush=True)
    print(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()

"""Fast CPU inference of the shipped mnist-ddpm denoiser (issue 19 part 5): every backend of
genlab.fast_inference.BACKENDS side by side in ONE run against eager PyTorch fp32.

Per backend: setup time (export / calibration / quantization; torch.compile's cold compile of each input shape is
reported separately), images/s of one network evaluation at batch 64 and 256, images/s of a full sample (UniPC, 5
steps, guidance 1.5 = 10 network evaluations per image, the shipped model's headline setting), the FID of n samples
(the same seeds 0..n-1 and classes for every backend) beside the real-vs-real floor
(genlab.metrics.image.real_floor at the same n), the label accuracy, how far its images are from eager fp32's
(mean / max |Δ| in uint8 pixels), and the fraction of this CPU's fp32 matmul peak it reaches:
FLOPs per image (torch.utils.flop_counter, counted once on the PyTorch module) × images per CPU-second / peak
GFLOP/s of a 2048² torch.mm measured in this run on 1 thread (and 2 threads, reported).

Timings: the machine is shared, so each timed call records wall and process CPU time; network evaluations are
timed round-robin over the backends (best of `--repeats` rounds), so load changes hit every backend alike. With one
thread, images per CPU-second approximate a quiet core; wall-clock images/s are printed too. Results are written
after every backend (an interrupted run keeps what it measured).

    python benchmarks/inference_fast.py --data-dir /work/shared/data --n 1000 \\
        --out benchmarks/results/inference_fast.json --work /work/runs/fastinfer/bench
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from common import emit, machine_info, strict_json
from torch.utils.flop_counter import FlopCounterMode

from genlab.evaluation import real_data, train_pool
from genlab.fast_inference import BACKENDS, inference_backend, sample
from genlab.inference import load
from genlab.metrics.image import evaluate_features


def timed(fn, *args) -> tuple[Any, float, float]:
    """(result, wall seconds, process CPU seconds) of fn(*args)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - w, time.process_time() - c


def network_inputs(model, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs like a sampler's: x_t ~ N(0, I), noise conditions of training indices, classes incl. the null one."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *model.image_shape, generator=g)
    t = torch.randint(0, model.cfg.num_train_steps, (batch,), generator=g).float() * (
        1000.0 / model.cfg.num_train_steps)
    labels = torch.randint(0, model.num_classes + 1, (batch,), generator=g)
    return x, t, labels


def peak(threads: int, n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """fp32 GFLOP/s of an n×n torch.mm on `threads` threads, best of `repeats`: per wall second (what
    common.matmul_peak_gflops measures; deflated by other processes on a shared machine) and per process
    CPU-second (per core busy; what the per-CPU-second image rates are compared with)."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        wall = cpu = float("inf")
        for _ in range(repeats):
            _, w, c = timed(torch.mm, a, b)
            wall, cpu = min(wall, w), min(cpu, c)
        flop = 2 * n**3 / 1e9
        return {"wall_gflops": round(flop / wall, 2), "cpu_gflops_per_core": round(flop / cpu, 2)}
    finally:
        torch.set_num_threads(old)


def markdown(result: dict[str, Any]) -> str:
    """The side-by-side table of a result (rows without FID yet show —)."""
    pk = result["matmul_peak_gflops_fp32"]
    peak1 = pk["1_thread"]["cpu_gflops_per_core"]
    ref = result["rows"][0]

    def f(row: dict[str, Any], key: str, fmt: str) -> str:
        return "—" if row.get(key) is None else format(row[key], fmt)

    lines = [("| backend | img/s, 1 evaluation, b64 | b256 | × eager (b256) | img/s, full 10-NFE sample | % of fp32 "
             "peak (b256) | FID (n) | floor | FID / floor | label acc. | mean abs Δpixel vs eager | rel. error vs "
             "eager | setup s |"), "|" + "---|" * 13]
    for row in result["rows"]:
        speed = (row.get("eval_img_per_cpu_s_b256") or 0) / (ref.get("eval_img_per_cpu_s_b256") or 1)
        fid_n = f"{row['fid']:.3f} ({row['n']})" if row.get("fid") is not None else "—"
        lines.append(
            f"| {row['backend']} | {f(row, 'eval_img_per_cpu_s_b64', '.1f')} | {f(row, 'eval_img_per_cpu_s_b256', '.1f')}"
            f" | {speed:.2f} | {f(row, 'sample_img_per_cpu_s', '.2f')} | "
            f"{100 * row.get('peak_fraction_1t_b256', 0):.1f} % | {fid_n} | {f(row, 'floor_fid', '.3f')} | "
            f"{f(row, 'fid_over_floor', '.2f')} | {f(row, 'label_accuracy', '.3f')} | "
            f"{f(row, 'pixel_mean_abs_diff_vs_first', '.2f')} | {f(row, 'rel_rms_error_vs_eager_b256', '.2g')} | "
            f"{row.get('setup_wall_s', 0):.0f} |")
    m = result["machine"]
    compile_row = next((r for r in result["rows"] if r["backend"] == "torch-compile"), None)
    notes = [(f"CPU: {m['cpu']} (family {m.get('cpu_family', '?')} model {m.get('cpu_model_number', '?')}, "
              f"{m.get('cpu_count', '?')} cores, ISA: {', '.join(m.get('isa') or []) or '?'}; "
              f"avx512_bf16: {m['avx512_bf16']}), 1 thread; load average "
             f"{m['load_avg_1_5_15'][0]:.1f} at the start, {m.get('load_avg_1_5_15_end', [float('nan')])[0]:.1f} at "
             f"the end (2 cores: wall-clock rates are deflated, per-CPU-second ones are not). "
             f"fp32 matmul peak (2048² torch.mm, per CPU-second): {peak1} GFLOP/s on 1 thread, "
             f"{pk['2_threads']['cpu_gflops_per_core']} per core on 2 threads (per wall second: "
             f"{pk['1_thread']['wall_gflops']} / {pk['2_threads']['wall_gflops']}). The denoiser: "
             f"{result['flops_per_image_per_evaluation'] / 1e9:.3f} GFLOP per image per evaluation. img/s are per "
             f"process CPU-second; full sample = {result['sampling']['sampler']}, {result['sampling']['steps']} "
             f"steps, guidance {result['sampling']['guidance']}.")]
    if compile_row is not None:
        notes.append(f"torch.compile cold compile: {compile_row.get('compile_cold_s_b64', '?')} s (batch 64), "
                     f"{compile_row.get('compile_cold_s_b256', '?')} s (batch 256), wall, not in the rates above.")
    missing = [r["backend"] for r in result["rows"] if r.get("fid") is None]
    if missing:
        notes.append(f"FID not measured in this run for {', '.join(missing)}" + (f": {result['note']}"
                                                                              if result.get("note") else "."))
    notes.append("% of peak counts the fp32 FLOPs of the PyTorch module (int8 and bf16 do the same work in other "
                 "number formats: fp32-equivalent GFLOP/s).")
    return "\n".join(lines) + "\n\n" + "\n\n".join(notes) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default="mnist-ddpm")
    ap.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated names of BACKENDS")
    ap.add_argument("--n", type=int, default=1000, help="samples per backend for the FID")
    ap.add_argument("--n-for", default="", help="per-backend sample counts overriding --n, e.g. torch-bf16=500 "
                    "(a slow backend; its floor is then taken at its own n)")
    ap.add_argument("--batches", default="64,256", help="batch sizes of the per-evaluation timing")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sampler", default="unipc")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--guidance", type=float, default=1.5)
    ap.add_argument("--sample-batch", type=int, default=250)
    ap.add_argument("--max-train", type=int, default=10000, help="training images for the floor (>= 2n)")
    ap.add_argument("--data-dir", default=os.environ.get("GENLAB_DATA_DIR"))
    ap.add_argument("--work", default="runs/inference_fast", help="folder for the ONNX files")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    n_for = {name: args.n for name in names}
    for item in filter(None, args.n_for.split(",")):
        name, _, count = item.partition("=")
        if name not in n_for or not count.isdigit() or int(count) < 2:
            ap.error(f"--n-for {item!r}: expected BACKEND=COUNT with BACKEND one of --backends and COUNT >= 2")
        n_for[name] = int(count)
    batches = [int(b) for b in args.batches.split(",")]
    gen = load(args.source, device="cpu")
    model = gen.model.float().eval()
    result: dict[str, Any] = {
        "benchmark": "inference_fast", "source": args.source, "machine": machine_info(),
        "command": "python benchmarks/inference_fast.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "out"),
        "sampling": {"sampler": args.sampler, "steps": args.steps, "guidance": args.guidance, "seeds": f"0..{args.n - 1}",
                     "classes": "seed mod 10"},
    }

    # --- the CPU's fp32 matmul peak and the model's FLOPs per image --------------------------------------------------
    result["matmul_peak_gflops_fp32"] = {"1_thread": peak(1), "2_threads": peak(2), "size": 2048,
                                         "reference": "1_thread cpu_gflops_per_core (the % of peak columns)"}
    peak1 = result["matmul_peak_gflops_fp32"]["1_thread"]["cpu_gflops_per_core"]
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model.unet(*network_inputs(model, 1))
    flops = fc.get_total_flops()
    result["flops_per_image_per_evaluation"] = flops
    print(f"peak {result['matmul_peak_gflops_fp32']} GFLOP/s; {flops / 1e9:.3f} GFLOP per image per evaluation",
          flush=True)

    # --- prepare every backend ------------------------------------------------------------------------------------
    rows: dict[str, dict[str, Any]] = {}
    runners = {}
    for name in names:
        backend, wall, cpu = timed(lambda name=name: inference_backend(gen, name, args.work, threads=1,
                                                                          log=print))
        runners[name] = backend
        rows[name] = {"backend": name, "what": BACKENDS[name], "setup_wall_s": round(wall, 2),
                      "setup_cpu_s": round(cpu, 2)}
        print(f"{name}: ready in {wall:.1f} s", flush=True)

    # --- one network evaluation: cold call, then best of `repeats` round-robin rounds -------------------------------
    for batch in batches:
        inputs = network_inputs(model, batch, seed=batch)
        with torch.no_grad():
            want = model.unet(*inputs)
        for name in names:
            out, wall, cpu = timed(runners[name], *inputs)
            rows[name][f"first_call_wall_s_b{batch}"] = round(wall, 3)
            rel = float((out - want).square().mean().sqrt() / want.square().mean().sqrt())
            rows[name][f"rel_rms_error_vs_eager_b{batch}"] = rel
        best = {name: (float("inf"), float("inf")) for name in names}
        for _ in range(args.repeats):
            for name in names:
                _, wall, cpu = timed(runners[name], *inputs)
                best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
        for name in names:
            wall, cpu = best[name]
            rows[name][f"eval_img_per_s_b{batch}"] = round(batch / wall, 2)
            rows[name][f"eval_img_per_cpu_s_b{batch}"] = round(batch / cpu, 2)
            rows[name][f"gflops_per_cpu_s_b{batch}"] = round(flops * batch / cpu / 1e9, 2)
            rows[name][f"peak_fraction_1t_b{batch}"] = round(flops * batch / cpu / 1e9 / peak1, 4)
            if name == "torch-compile":
                rows[name][f"compile_cold_s_b{batch}"] = round(rows[name][f"first_call_wall_s_b{batch}"] - wall, 2)
        print(f"batch {batch}: " + ", ".join(f"{n} {rows[n][f'eval_img_per_cpu_s_b{batch}']}/cpu-s" for n in names),
              flush=True)
    result["rows"] = list(rows.values())
    emit(strict_json(result), args.out)
    print(markdown(result), flush=True)

    # --- full samples and FID, one backend at a time (same seeds and classes) -------------------------------------
    real = real_data(gen.info, data_dir=args.data_dir, max_train=train_pool(args.max_train, max(n_for.values())))
    reference = None
    calls = {"n": 0}
    for name in names:
        counted = runners[name]
        n = n_for[name]
        seeds = list(range(n))
        labels = torch.tensor(seeds) % gen.num_classes

        def counting(x, c, y=None, run=counted):
            calls["n"] += x.shape[0]
            return run(x, c, y)

        if name == "torch-compile":  # compile the sampling batch shape before the timed run (reported apart)
            guided = 2 if gen.num_classes and args.guidance not in (0.0, 1.0) else 1
            _, wall, _ = timed(counted, *network_inputs(model, guided * min(args.sample_batch, n)))
            rows[name]["compile_cold_s_sampling_batch"] = round(wall, 2)
        calls["n"] = 0
        images, wall, cpu = timed(lambda seeds=seeds, labels=labels: sample(
            gen, counting, seeds, labels, sampler=args.sampler, steps=args.steps, guidance=args.guidance,
            batch_size=args.sample_batch))
        u8 = gen.codec.to_display(images)
        nfe = calls["n"] / n
        metrics = evaluate_features(real.net.extract(u8, 500), real.test, real.train, fake_labels=labels,
                                    train_labels=real.train_labels)
        row = rows[name]
        row.update({"n": n, "nfe": nfe, "sample_wall_s": round(wall, 1), "sample_cpu_s": round(cpu, 1),
                    "sample_img_per_s": round(n / wall, 2), "sample_img_per_cpu_s": round(n / cpu, 2),
                    "sample_peak_fraction_1t": round(flops * nfe * n / cpu / 1e9 / peak1, 4),
                    "fid": metrics["fid"], "floor_fid": metrics["floor"]["fid"], "floor_n": metrics["floor"]["n"],
                    "fid_over_floor": metrics["fid"] / metrics["floor"]["fid"],
                    "label_accuracy": metrics.get("label_accuracy"),
                    "precision": metrics.get("precision"), "recall": metrics.get("recall")})
        if reference is None:
            reference = u8
        m = min(len(u8), len(reference))  # same seeds 0..m-1 when a backend has its own n
        diff = (u8[:m].int() - reference[:m].int()).abs().float()
        row["pixel_mean_abs_diff_vs_first"] = float(diff.mean())
        row["pixel_max_abs_diff_vs_first"] = float(diff.max())
        print(f"{name}: FID {row['fid']:.3f} (floor {row['floor_fid']:.3f}, n {n}), "
              f"{row['sample_img_per_cpu_s']} img/cpu-s, |Δpix| mean {row['pixel_mean_abs_diff_vs_first']:.3f}",
              flush=True)
        result["rows"] = list(rows.values())
        result["machine"]["load_avg_1_5_15_end"] = list(os.getloadavg())
        if args.out:
            Path(args.out).write_text(json.dumps(strict_json(result), indent=2) + "\n")
            Path(args.out).with_suffix(".md").write_text(markdown(result))
    result["reference_backend"] = names[0] if names else None
    result["floor_definition"] = "genlab.metrics.image.real_floor: n random training images vs the test split"
    emit(strict_json(result), args.out)


if __name__ == "__main__":
    main()

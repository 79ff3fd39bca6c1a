"""The channel-facies comparison table of README / docs/channels.md, regenerated from trained run directories.

Per model, in one run of this script: parameters, training minutes as wall-clock time and as process CPU time
(the latter only for snapshots trained after it was recorded) and training images/s per wall-clock second (from the
snapshot header: logged while training, so they depend on how busy the machine was), the training step measured here on
`--threads` threads for every run in turn (same load for all; also at other image sizes with --step-sizes),
realizations/s on CPU, every realism metric with its real-vs-real floor and sample counts, held-out reconstruction
and latent regularity (VAEs), and ES-MDA in the model's latent space against `--esmda-truths` synthetic truths
(prior and posterior mismatch, spread, well match). Everything is computed by genlab.facies (compare_models,
esmda_demo) and the training engine; this script only times, collects and tabulates.

    OMP_NUM_THREADS=1 python benchmarks/channels_compare.py /work/runs/channels-vae-dense \
        /work/runs/channels-vae-fullconv /work/runs/channels-wgan-dense-2 /work/runs/channels-wgan-fullconv \
        -n 500 --step-sizes 64,128 --report-dir /tmp/channels-compare

Prints the JSON and writes benchmarks/results/channels_compare.json and .md (--out-json / --out-md to change).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import machine_info
from diffusion_mnist import time_train_steps

from genlab import api
from genlab.cli.main import _MALLOC_TUNABLES
from genlab.facies import compare_models, esmda_demo
from genlab.facies import report as rp
from genlab.training.loop import Trainer
from genlab.utils.io import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
ESMDA_KEYS = ("mismatch_mean", "mismatch_median", "m_std", "d_std")
ESMDA_EXTRAS = ("well_facies_match", "field_accuracy_vs_truth", "pixel_std_mean", "flow_rmse_log10_rate")


def train_step(header_config: dict[str, Any], size: int, threads: int, steps: int) -> dict[str, Any]:
    """Median seconds of one optimisation step of this run's config (fp32, the engine's own train_step) at image
    side `size`, on a small procedural/real data set (the cost of a step does not depend on the data set size)."""
    over = [f"data.options.size={size}", f"train.threads={threads}", "train.precision=fp32"]
    if "n" in (header_config.get("data", {}).get("options") or {}):
        over.append("data.options.n=256")
    with tempfile.TemporaryDirectory(prefix="genlab-step-") as tmp:
        cfg = api.resolve_config(header_config, [*over, f"run_dir={tmp}"])
        trainer = Trainer(cfg, progress=False)
        seconds = time_train_steps(trainer, "fp32", steps)
        batch = cfg.train.batch_size
        phases = len(trainer.model.phases(0))
    return {"seconds": seconds, "images_per_s": batch / seconds, "batch_size": batch, "phases_per_step": phases,
            "threads": threads, "steps_timed": steps}


def matmul_peak_gflops(n: int = 1024, repeats: int = 5) -> float:
    """This CPU's fp32 matmul rate on the current torch threads: best of `repeats` n×n @ n×n products, GFLOP/s
    (2n³ per product, wall-clock). The ceiling a decoder's realizations/s is measured against."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def generation_flops(src: str, count: int = 2) -> float:
    """FLOPs per realization of one run's generator (torch's FlopCounterMode: matmuls and convolutions; iterative
    samplers with the snapshot's own sampler and step count, so every network call counts)."""
    from torch.utils.flop_counter import FlopCounterMode

    from genlab.facies.evaluation import sampler_options

    gen = api.load(api.find_snapshot(src), device="cpu")
    with FlopCounterMode(display=False) as counter:
        gen.generate_model_space(list(range(count)), batch_size=count, precision="fp32", **sampler_options(gen))
    return counter.get_total_flops() / count


def esmda_summary(run: str, truths: int, n_ens: int, n_assim: int, out_dir: Path,
                  truth_from: str = "held-out") -> dict[str, Any]:
    """ES-MDA against truths 0..truths−1 (held-out images of the run's data, or the unused procedural stream):
    prior and posterior numbers averaged over truths, and each history."""
    per_truth = []
    for t in range(truths):
        s = esmda_demo(run, truth_seed=t, n_ens=n_ens, n_assim=n_assim, out_dir=out_dir / f"truth{t}",
                       truth_from=truth_from)
        per_truth.append({"truth_seed": t, "history": s["history"], "seconds": s["seconds"],
                          "posterior_latent": s["posterior_latent"], "report": s["report"]["markdown"]})

    def mean_at(index: int) -> dict[str, float]:
        rows = [p["history"][index] for p in per_truth]
        out = {k: float(np.mean([r[k] for r in rows])) for k in ESMDA_KEYS}
        out.update({k: float(np.mean([r["extras"][k] for r in rows])) for k in ESMDA_EXTRAS})
        return out

    return {"truths": truths, "truth_from": truth_from, "n_ens": n_ens, "n_assim": n_assim, "prior": mean_at(0),
            "posterior": mean_at(-1),
            "posterior_sq_norm_per_dim": float(np.mean([p["posterior_latent"]["mean_sq_norm_per_dim"]
                                                        for p in per_truth])),
            "per_truth": per_truth}


def row_specs(sizes: list[int]) -> list[tuple[str, str, str, str]]:
    """The report's rows, with the step benchmark after the logged throughput and the ES-MDA rows at the end."""
    rows = list(rp.COMPARISON_ROWS)
    at = next(i for i, r in enumerate(rows) if r[1] == "realizations_per_s") + 1
    rows[at:at] = [("generation GFLOP per realization", "generation_gflop", ".3f", ""),
                   ("fraction of this CPU's fp32 matmul peak while generating", "matmul_peak_fraction", ".3f",
                    "higher")]
    at = next(i for i, r in enumerate(rows) if r[1] == "train_images_per_s") + 1
    rows[at - 1] = ("training images/s (logged during training, per wall-clock second)", *rows[at - 1][1:])
    step_rows = []
    for s in sizes:
        step_rows += [(f"train step s, {s}×{s} (benchmark)", f"train_step.{s}.seconds", ".2f", "lower"),
                      (f"train images/s, {s}×{s} (benchmark)", f"train_step.{s}.images_per_s", ".1f", "higher")]
    rows[at:at] = step_rows
    for when in ("prior", "posterior"):
        rows += [(f"ES-MDA {when}: mismatch O_N mean", f"esmda.{when}.mismatch_mean", ".2f", "lower"),
                 (f"ES-MDA {when}: mismatch O_N median", f"esmda.{when}.mismatch_median", ".2f", "lower"),
                 (f"ES-MDA {when}: latent std", f"esmda.{when}.m_std", ".3f", "no collapse"),
                 (f"ES-MDA {when}: facies pixel std", f"esmda.{when}.pixel_std_mean", ".3f", "no collapse"),
                 (f"ES-MDA {when}: well facies match", f"esmda.{when}.well_facies_match", ".3f", "higher"),
                 (f"ES-MDA {when}: field accuracy vs truth", f"esmda.{when}.field_accuracy_vs_truth", ".3f",
                  "higher")]
    rows.append(("ES-MDA posterior mean ‖z‖²/D", "esmda.posterior_sq_norm_per_dim", ".2f", "≈ 1 (prior)"))
    return rows


def without_curves(value: Any) -> Any:
    """A copy of the result without the per-lag curves (they stay in the report directory's comparison.json)."""
    if isinstance(value, dict):
        return {k: without_curves(v) for k, v in value.items() if k not in ("curves", "reference_curves")}
    if isinstance(value, list):
        return [without_curves(v) for v in value]
    return value


def markdown(result: dict[str, Any], sizes: list[int]) -> str:
    runs = result["runs"]
    header, rows = rp.comparison_table(runs, row_specs(sizes))
    first = runs[0]["metrics"]["counts"]
    blocks: list[rp.Block] = [
        ("h1", "Channel facies: the generators side by side"),
        ("p", (f"Command: `{result['command']}` (load average at start {result['load_average_start']}, "
               f"{result['threads']} thread(s), {result['seconds'] / 60:.1f} min). Real data: {result['data']}. "
               f"Samples: {result['n']} prior samples per model (seeds 0..{result['n'] - 1}) vs "
               f"{first['real_reference']} held-out real images; the floor compares {first['real_floor']} other "
               "held-out real images with the same reference, i.e. what a perfect generator would score. "
               f"Spanning: images with one 4-connected channel body touching both edges along flow "
               f"({'top to bottom' if runs[0]['metrics'].get('flow_axis', 'y') == 'y' else 'left to right'}, the "
               "direction along which more reference images are spanned). "
               f"Matmul peak: {result['matmul_peak_gflops']} GFLOP/s (fp32 1024² products on the same threads); "
               "the peak fraction is generation FLOPs (FlopCounterMode) × realizations/s over it. "
               + ("Train step: the engine's own optimisation step (fp32, the run's batch size), median of "
                  f"{result['step_timing_steps']} steps, every model timed in this run. "
                  if result["step_timing_steps"] else "Train step: not timed (--step-timing-steps 0). ")
               + "ES-MDA: "
               f"{result['esmda_truths']} truths ({result['esmda_truth_from']}), {result['esmda_n_ens']} members, "
               f"{result['esmda_n_assim']} assimilations; numbers are means over truths.")),
        ("table", header, rows),
    ]
    for r in runs:
        if r.get("esmda"):
            h, rs = rp.esmda_table(r["esmda"]["per_truth"][0]["history"])
            blocks += [("h2", f"ES-MDA history, {r['label']}, truth 0"), ("table", h, rs)]
    return rp.to_markdown(blocks)


def use_genlab_allocator() -> None:
    """Re-execute once with the glibc malloc setting `genlab train` uses (genlab.cli.main), so the step timings
    match training; GENLAB_MALLOC=default opts out, as for the CLI."""
    if (sys.platform.startswith("linux") and "GLIBC_TUNABLES" not in os.environ
            and os.environ.get("GENLAB_MALLOC", "") != "default"):
        os.execve(sys.executable, [sys.executable, *sys.argv], dict(os.environ, GLIBC_TUNABLES=_MALLOC_TUNABLES))


def main(argv: list[str] | None = None) -> None:
    if argv is None:
        use_genlab_allocator()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run directories (or snapshot files) of channel generators")
    ap.add_argument("-n", type=int, default=500, help="prior samples per model (2·n real images are used)")
    ap.add_argument("--reference", default=None, help="real images from this LTrace-format file (its first 2·n) "
                    "instead of the first run's held-out split (genlab channels compare --reference)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for every timing in this run")
    ap.add_argument("--step-sizes", default="", help="image sides for the train-step benchmark (default: the run's)")
    ap.add_argument("--step-timing-steps", type=int, default=3, help="0 skips the train-step timing")
    ap.add_argument("--esmda-truths", type=int, default=3, help="0 skips ES-MDA")
    ap.add_argument("--esmda-n-ens", type=int, default=100)
    ap.add_argument("--esmda-n-assim", type=int, default=4)
    ap.add_argument("--esmda-truth-from", default="held-out", choices=("held-out", "procedural"),
                    help="truths: held-out images of each run's data (issue 14) or the unused procedural stream")
    ap.add_argument("--report-dir", type=Path, default=None, help="grids, curves and HTML pages (default: a temp dir)")
    ap.add_argument("--out-json", default=str(RESULTS / "channels_compare.json"))
    ap.add_argument("--out-md", default=str(RESULTS / "channels_compare.md"))
    args = ap.parse_args(argv)
    if args.step_timing_steps < 0:
        ap.error(f"--step-timing-steps {args.step_timing_steps}: expected 0 (skip) or more steps")
    torch.set_num_threads(args.threads)
    t0, load = time.time(), [round(x, 2) for x in os.getloadavg()]
    report_dir = args.report_dir or Path(tempfile.mkdtemp(prefix="channels-compare-"))
    summary = compare_models(args.runs, n=args.n, out_dir=report_dir, seed=args.seed, device="cpu",
                             reference=args.reference)
    sizes = [int(s) for s in args.step_sizes.split(",") if s] or [summary["runs"][0]["image_shape"][1]]
    timed = sizes if args.step_timing_steps else []  # --step-timing-steps 0: no train-step timing
    peak = matmul_peak_gflops()
    for src, r in zip(args.runs, summary["runs"]):
        r["generation_gflop"] = generation_flops(src) / 1e9
        r["matmul_peak_fraction"] = r["generation_gflop"] * r["realizations_per_s"] / peak
        config = api.load(api.find_snapshot(src), device="cpu").header["config"]
        r["train_step"] = {str(s): train_step(config, s, args.threads, args.step_timing_steps) for s in timed}
        if args.esmda_truths > 0 and r.get("has_latent_code", True):  # diffusion: inpainting, channels_conditioning
            r["esmda"] = esmda_summary(src, args.esmda_truths, args.esmda_n_ens, args.esmda_n_assim,
                                       report_dir / f"esmda-{r['label']}", args.esmda_truth_from)
    result = {"benchmark": "channels_compare", "machine": machine_info(), "threads": args.threads,
              "load_average_start": load, "load_average_end": [round(x, 2) for x in os.getloadavg()],
              "matmul_peak_gflops": round(peak, 2),
              "n": args.n, "seed": args.seed, "data": summary["data"], "step_sizes": sizes,
              "step_timing_steps": args.step_timing_steps, "esmda_truths": args.esmda_truths,
              "esmda_n_ens": args.esmda_n_ens, "esmda_n_assim": args.esmda_n_assim,
              "esmda_truth_from": args.esmda_truth_from,
              "report_dir": str(report_dir), "runs": without_curves(summary["runs"]),
              "seconds": round(time.time() - t0, 1),
              "command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])}
    doc = json.dumps(result, indent=2, default=float)  # numpy scalars -> float
    print(doc, flush=True)
    for path, text in ((args.out_json, doc + "\n"), (args.out_md, markdown(result, timed))):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)


if __name__ == "__main__":
    main()

"""The README results table, regenerated from trained run directories.

For each run directory: FID, KID, IS, precision, recall (domain-classifier features, genlab.evaluation), the
real-vs-real floor at the same sample count, samples, sampler, steps, NFE and CPU training minutes (the snapshot
header's train_seconds). For diffusion runs also FID vs NFE for DDIM and DPM-Solver++(2M) at 5/10/20/50 steps, and a
1000-step DDPM reference on a small subset when the time budget allows. Writes JSON (--out, default
benchmarks/results/results_table.json; rewritten after every run, so an interrupted run keeps what it measured) and
the markdown beside it (same name, .md), and prints the published anchors beside ours.

Floors: one definition everywhere (genlab.metrics.image.real_floor): n training images drawn at random from the whole
training split against the same test set as the n generated images, for conditional and unconditional runs alike,
its FID the median of 25 draws (with the IQR); the same n and seed give the same floor as `genlab evaluate`. The
FID-vs-NFE sweep has its own floor at its own n.

    flock /tmp/genlab-cpu.lock python benchmarks/results_table.py /work/runs/mnist-diffusion-quick \\
        /work/runs/mnist-dcgan /work/runs/mnist-vae -n 1000 --nfe-n 500 --data-dir /work/shared/data --budget-min 15

Numbers at n=1000 are biased upwards relative to n=10000 (FID's bias falls roughly as 1/n): compare rows only at
equal n, and always against the floor printed beside them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from genlab import evaluation
from genlab.api import family_capabilities, find_snapshot
from genlab.checkpoints.snapshot import read_header
from genlab.errors import GenlabError
from genlab.utils.io import atomic_write_text, write_json

ANCHORS = [
    ("fastai course (2022-23, lesson 'DDPM' on Fashion-MNIST): FID 3.73 with 1000-step DDPM sampling, real-vs-real "
    "floor 1.91, DDIM 50 steps 11.15 — classifier-feature FID like ours, but with *their* classifier, so only the "
    "ratio to the floor is roughly comparable, not the raw values."),
    ("Lucic et al. 2018, 'Are GANs Created Equal?', Table 2 (best FID of a large hyperparameter search): "
    "Inception-V3-feature numbers — a different feature space and scale; NOT comparable with the classifier-feature "
    "numbers here, not even as a ratio (no floor is given)."),
]
# Published numbers printed beside ours: (source, dataset, model, features, FID, floor or None, comparable how).
ANCHOR_ROWS = [
    ("fastai DDPM lesson", "fashion-mnist", "DDPM, 1000 steps", "their classifier", 3.73, 1.91, "ratio to floor only"),
    ("fastai DDPM lesson", "fashion-mnist", "DDIM, 50 steps", "their classifier", 11.15, 1.91, "ratio to floor only"),
    ("Lucic et al. 2018", "mnist", "NS GAN", "Inception-V3", 6.8, None, "not comparable"),
    ("Lucic et al. 2018", "mnist", "WGAN GP", "Inception-V3", 20.3, None, "not comparable"),
    ("Lucic et al. 2018", "fashion-mnist", "NS GAN", "Inception-V3", 26.5, None, "not comparable"),
    ("Lucic et al. 2018", "fashion-mnist", "WGAN GP", "Inception-V3", 24.5, None, "not comparable"),
]
DEFAULT_RESULTS = Path(__file__).resolve().parent / "results"


class Budget:
    """Wall-clock budget in seconds; `allows(estimate)` says whether an estimated cost still fits."""

    def __init__(self, minutes: float) -> None:
        self.start, self.seconds = time.time(), minutes * 60.0

    def left(self) -> float:
        return self.seconds - (time.time() - self.start)

    def allows(self, estimate: float) -> bool:
        return estimate <= self.left()


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_settings(run: Path) -> dict[str, Any]:
    """Family, dataset, conditional guidance and training minutes from a run's snapshot header."""
    header = read_header(find_snapshot(run))
    sample = (header.get("config") or {}).get("sample", {})
    return {"family": header.get("family"), "dataset": header.get("dataset"),
            "guidance": float(sample.get("guidance", 1.0)), "train_minutes": (header.get("train_seconds") or 0) / 60,
            "train_cpu_minutes": (header["train_cpu_seconds"] / 60 if header.get("train_cpu_seconds") else None),
            "step": header.get("step"), "images_seen": header.get("images_seen")}


def main_row(run: Path, args: argparse.Namespace, facts: dict[str, Any]) -> dict[str, Any]:
    """One results-table row: every metric beside its floor, counts and settings."""
    takes = family_capabilities(facts["family"]).sampling_options  # a GAN takes no sampler options (refused)
    asked = {"sampler": args.sampler, "steps": args.steps, "guidance": facts["guidance"]}
    result = evaluation.evaluate(run, args.n, **{k: v for k, v in asked.items() if k in takes},
                                 seed=args.seed, data_dir=args.data_dir, max_train=args.max_train,
                                 batch_size=args.batch_size)
    m, floor = result["metrics"], result["metrics"]["floor"]
    return {"run": run.name, **facts, "fid": m["fid"], "kid": m["kid_mean"], "kid_std": m["kid_std"],
            "is": m["is_mean"], "precision": m["precision"], "recall": m["recall"], "floor_fid": floor["fid"],
            "floor_kid": floor["kid_mean"], "floor_is": floor["is_mean"], "floor_precision": floor["precision"],
            "floor_recall": floor["recall"], "floor_sampling": floor.get("sampling", "random"),
            "floor_draws": floor.get("draws", 1), "floor_fid_q25": floor.get("fid_q25"),
            "floor_fid_q75": floor.get("fid_q75"),
            "class_kl_uniform": m["class_kl_uniform"],
            "memorisation_median_ratio": m["memorisation"]["median_ratio"], "samples": m["num_fake"],
            "num_real": m["num_real"], "sampler": result["sampler"], "steps": result["steps"], "nfe": result["nfe"],
            "generate_seconds": result["generate_seconds"], "metric_seconds": result["metric_seconds"],
            "feature_net_sha256": (result["feature_net"] or {}).get("sha256")}


def _cpu_minutes(row: dict[str, Any]) -> str:
    """The training process's CPU minutes, or "—" for snapshots written before they were recorded."""
    return f"{row['train_cpu_minutes']:.1f}" if row.get("train_cpu_minutes") else "—"


def nfe_sweep(run: Path, args: argparse.Namespace, facts: dict[str, Any], row: dict[str, Any], budget: Budget
              ) -> dict[str, Any]:
    """FID vs NFE (DDIM, DPM-Solver++ at args.nfe_steps) on args.nfe_n samples, if the estimated time fits."""
    # Seconds per network call on a batch of `measured` images; a smaller batch is assumed to cost as much (per-call
    # overhead dominates small batches on a CPU), so estimates err on the expensive side.
    measured = min(row["samples"], args.batch_size)
    per_call = row["generate_seconds"] / (row["nfe"] or 1) / math.ceil(row["samples"] / args.batch_size)
    mult = 2 if facts["guidance"] not in (0.0, 1.0) else 1

    def cost(n: int, steps: int) -> float:
        return per_call * max(1.0, n / measured) * steps * mult * 1.15

    estimate = sum(cost(args.nfe_n, k) for k in args.nfe_steps) * len(args.nfe_samplers)
    out: dict[str, Any] = {"estimated_seconds": round(estimate), "seconds_per_call": per_call, "call_batch": measured}
    if not budget.allows(estimate):
        out["skipped"] = f"estimated {estimate / 60:.1f} min > {budget.left() / 60:.1f} min left in the budget"
        return out
    sweep = evaluation.fid_vs_steps(run, args.nfe_samplers, args.nfe_steps, args.nfe_n, guidance=facts["guidance"],
                                    seed=args.seed, data_dir=args.data_dir, max_train=args.max_train,
                                    batch_size=args.batch_size, progress=_log)
    floor = sweep["floor"] or {}
    out.update(rows=sweep["rows"], floor_fid=floor.get("fid"), floor_sampling=floor.get("sampling"),
               num_samples=args.nfe_n, num_real=floor.get("num_real"))
    ddpm_estimate = cost(args.ddpm_n, 1000)
    out["ddpm_1000"] = {"estimated_seconds": round(ddpm_estimate), "num_samples": args.ddpm_n}
    if args.ddpm_n >= evaluation.MIN_SAMPLES and budget.allows(ddpm_estimate):
        ref = evaluation.fid_vs_steps(run, ("ddpm",), (1000,), args.ddpm_n, guidance=facts["guidance"],
                                      seed=args.seed, data_dir=args.data_dir, max_train=args.max_train,
                                      batch_size=args.batch_size, output=DEFAULT_RESULTS / f"{run.name}-ddpm1000.json")
        out["ddpm_1000"].update(ref["rows"][0], floor_fid=(ref["floor"] or {}).get("fid"))
    else:
        out["ddpm_1000"]["skipped"] = (f"{args.ddpm_n} samples x 1000 steps estimated {ddpm_estimate / 60:.1f} min; "
                                       f"{budget.left() / 60:.1f} min left")
    return out


def _f(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else f"{value:.{digits}g}"
    return "—" if value is None else str(value)


def _ratio(fid: Any, floor: Any) -> str:
    ok = isinstance(fid, float) and isinstance(floor, float) and floor > 0
    return f"{fid / floor:.3g}×" if ok else "—"


def anchors_table(rows: list[dict[str, Any]]) -> list[str]:
    """Our rows and the published anchors, per dataset, side by side (FID, floor, FID / floor)."""
    lines = ["| dataset | source | model | features | FID | floor | FID / floor | comparable |", "|" + "---|" * 8]
    for dataset in sorted({r["dataset"] for r in rows} | {a[1] for a in ANCHOR_ROWS}):
        for r in (r for r in rows if r["dataset"] == dataset):
            setting = f"{r['sampler']} {r['steps']} steps" if r["steps"] else "one pass"
            lines.append(f"| {dataset} | genlab (this table) | {r['run']}, {setting} | genlab classifier | "
                         f"{_f(r['fid'])} | {_f(r['floor_fid'])} | {_ratio(r['fid'], r['floor_fid'])} | — |")
        for source, _, model, features, fid, floor, how in (a for a in ANCHOR_ROWS if a[1] == dataset):
            lines.append(f"| {dataset} | {source} | {model} | {features} | {_f(fid, 4)} | {_f(floor, 4)} | "
                         f"{_ratio(fid, floor)} | {how} |")
    return lines


def markdown(rows: list[dict[str, Any]], sweeps: dict[str, dict[str, Any]], args: argparse.Namespace,
             command: str, started: str) -> str:
    """The README table, the FID-vs-NFE tables, ours beside the anchors, and the command, as markdown."""
    lines = [("| run | family | dataset | FID | floor FID (IQR) | floor drawn | KID ×10³ | floor KID ×10³ | IS | "
              "precision | recall | samples | sampler | steps (NFE) | train min (wall / process CPU) |"), "|" + "---|" * 15]
    for r in rows:
        steps = f"{r['steps']} ({r['nfe']})" if r["steps"] else "1 (1)"
        iqr = (f" ({_f(r['floor_fid_q25'])}–{_f(r['floor_fid_q75'])})"
               if isinstance(r.get("floor_fid_q25"), float) else "")
        lines.append(f"| {r['run']} | {r['family']} | {r['dataset']} | {_f(r['fid'])} | {_f(r['floor_fid'])}{iqr} | "
                     f"{r.get('floor_sampling', 'random')} | {_f(r['kid'] * 1e3)} | {_f(r['floor_kid'] * 1e3)} | "
                     f"{_f(r['is'])} | {_f(r['precision'], 2)} | {_f(r['recall'], 2)} | {r['samples']} | "
                     f"{r['sampler'] or '—'} | {steps} | {r['train_minutes']:.1f} / "
                     f"{_cpu_minutes(r)} |")
    lines += ["", (f"Features: genlab's shipped domain classifier per dataset (128-d embedding; sha256 in the JSON). "
              f"n={args.n} generated vs the full test split; floor = n={args.n} training images drawn at random vs the "
              "same test split (genlab.metrics.image.real_floor, as in `genlab evaluate`): its FID is the median of "
              f"{rows[0].get('floor_draws', 1) if rows else 1} draw(s) with the interquartile range in brackets, its "
              "KID the first draw's. CPU minutes are wall-clock training time on a shared 2-core VM.")]
    for name, sweep in sweeps.items():
        n = sweep.get("num_samples", args.nfe_n)
        lines += ["", (f"FID vs NFE — {name}: {n} generated vs the {sweep.get('num_real', 'full')} test images per "
                       f"point; floor = {n} {sweep.get('floor_sampling') or 'random'} training images vs the same "
                       "test images"), "",
                  "| sampler | steps | NFE | samples | FID | floor FID (same n) | generate s |", "|" + "---|" * 7]
        if "skipped" in sweep:
            lines.append(f"| (skipped: {sweep['skipped']}) | | | | | | |")
        for p in sweep.get("rows", []):
            lines.append(f"| {p['sampler']} | {p['steps']} | {p['nfe']} | {p.get('num_samples', n)} | {_f(p['fid'])} | "
                         f"{_f(sweep.get('floor_fid'))} | {_f(p['generate_seconds'])} |")
        ddpm = sweep.get("ddpm_1000", {})
        lines.append(f"| ddpm (reference) | 1000 | {_f(ddpm.get('nfe'))} | {ddpm.get('num_samples', '—')} | "
                     f"{_f(ddpm.get('fid'))} | {_f(ddpm.get('floor_fid'))} | "
                     f"{ddpm.get('skipped', _f(ddpm.get('generate_seconds')))} |")
    lines += ["", "Ours beside published anchors (their numbers are not measured here):", "", *anchors_table(rows),
              "", *[f"- {a}" for a in ANCHORS],
              "", f"Command: `{command}` (started {started}; this markdown is written by the script with its JSON)."]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="Run directories (any family, image datasets).")
    p.add_argument("-n", type=int, default=1000, help="Generated samples per run (floor uses as many).")
    p.add_argument("--sampler", default="dpmpp-2m")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--nfe-n", type=int, default=500, help="Samples per point of the FID-vs-NFE sweep.")
    p.add_argument("--nfe-steps", type=lambda s: [int(x) for x in s.split(",")], default=[5, 10, 20, 50])
    p.add_argument("--nfe-samplers", type=lambda s: s.split(","), default=["ddim", "dpmpp-2m"])
    p.add_argument("--ddpm-n", type=int, default=100, help="Samples for the 1000-step DDPM reference (0 = skip).")
    p.add_argument("--max-train", type=int, default=0,
                   help="Random training images for floor/memorisation (0 = all, as genlab evaluate).")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--budget-min", type=float, default=15.0, help="Skip sweeps whose estimate exceeds what is left.")
    p.add_argument("--reuse", action="store_true", help="Keep rows of an earlier --out file with equal settings.")
    p.add_argument("--out", type=Path, default=DEFAULT_RESULTS / "results_table.json")
    return p.parse_args(argv)


def previous_results(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Rows and sweeps of an earlier --out file measured with the same n/sampler/steps/seed, keyed by run name
    (with --reuse: a run whose snapshot step is unchanged is not measured again)."""
    if not args.reuse or not args.out.is_file():
        return {}, {}
    old = json.loads(args.out.read_text())
    same = all(old["settings"].get(k) == getattr(args, k) for k in ("n", "sampler", "steps", "seed", "nfe_n"))
    if not same:
        return {}, {}
    return {r["run"]: r for r in old["rows"]}, old.get("fid_vs_nfe", {})


def write_results(args: argparse.Namespace, payload: dict[str, Any], table: str | None) -> None:
    """The JSON (atomically, every call) and, at the end, the markdown beside it."""
    write_json(args.out, payload)
    if table is not None:
        atomic_write_text(args.out.with_suffix(".md"), table)
        _log(f"wrote {args.out} and {args.out.with_suffix('.md')}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    budget, rows, sweeps, errors = Budget(args.budget_min), [], {}, {}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = "python benchmarks/results_table.py " + " ".join(sys.argv[1:] if argv is None else argv)
    old_rows, old_sweeps = previous_results(args)

    def payload() -> dict[str, Any]:
        return {"settings": json.loads(json.dumps(vars(args), default=str)),  # Paths → str
                "command": command, "started": started, "rows": rows, "fid_vs_nfe": sweeps, "errors": errors,
                "anchors": ANCHORS, "anchor_rows": [dict(zip(("source", "dataset", "model", "features", "fid",
                                                              "floor_fid", "comparable"), a, strict=True))
                                                    for a in ANCHOR_ROWS],
                "seconds": round(time.time() - budget.start, 1)}

    for run in args.runs:
        try:
            facts = run_settings(run)
            if run.name in old_rows and old_rows[run.name].get("step") == facts["step"]:
                rows.append(old_rows[run.name])
                _log(f"{run.name}: reusing the earlier measurement (same step {facts['step']})")
                if run.name in old_sweeps:
                    sweeps[run.name] = old_sweeps[run.name]
                elif facts["family"] == "diffusion":  # an earlier budget skipped (or never ran) its sweep
                    sweeps[run.name] = nfe_sweep(run, args, facts, old_rows[run.name], budget)
                write_results(args, payload(), None)
                continue
            _log(f"{run.name}: {facts['family']} on {facts['dataset']}, n={args.n}")
            row = main_row(run, args, facts)
            rows.append(row)
            _log(f"{run.name}: FID {row['fid']:.3g} (floor {row['floor_fid']:.3g}, {row['floor_sampling']}) in "
                 f"{row['generate_seconds'] + row['metric_seconds']:.0f} s")
            if facts["family"] == "diffusion":
                write_results(args, payload(), None)
                sweeps[run.name] = nfe_sweep(run, args, facts, row, budget)
        except GenlabError as err:
            errors[str(run)] = str(err)
            _log(f"{run}: skipped ({err})")
        write_results(args, payload(), None)
    table = markdown(rows, sweeps, args, command, started)
    write_results(args, payload(), table)
    print(table)
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())

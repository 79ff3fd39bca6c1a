"""Diffusion quality per CPU-hour (issue 15): time-to-quality runs, FID vs classifier-free guidance, FID vs NFE.

Every FID is printed beside its real-vs-real floor at the same n (genlab.metrics.image.real_floor: n random
training images against the same test split as the n generated images) and the sample count. Results are merged into
benchmarks/results/diffusion_quality.json (rewritten after every point, so an interrupted run keeps what it
measured) and rendered to diffusion_quality.md beside it.

    # a time-to-quality training: genlab train on --threads threads (2: both cores of an idle machine) under nice 5
    # with the allocator setting, recording the process CPU time (user + system of the training process) beside the
    # wall time; options first, then the results key, the preset and its overrides
    python benchmarks/diffusion_quality.py train --threads 2 --run-dir /work/runs/q15/mnist --data-dir ../shared/data \\
        mnist-ttq mnist-diffusion-quick model.base_channels=32 train.max_steps=1800 train.time_limit_min=15 ...
    # one change at a time (ABLATION), two rows at once on one thread each
    python benchmarks/diffusion_quality.py ablate --run-root /work/runs/q15/ablation --data-dir ../shared/data \\
        --rows quick,base32,cosine
    # measure a snapshot: the headline FID (n >= 2000), a guidance sweep and an NFE sweep, one process
    python benchmarks/diffusion_quality.py measure /work/runs/q15/mnist --key mnist --n 2000 --sampler dpmpp-2m \\
        --steps 10 --guidance 1 --guidance-sweep 1,1.25,1.5,2,3 --sweep-n 500 --nfe 5,10,20,50 --nfe-n 200

NFE counts every network call: the sampler's denoiser calls (counted by running it on a counting denoiser, so
Heun's and DPM-Solver++(2S)'s two calls per step are included), doubled by classifier-free guidance (w not 0 or 1).
For a target NFE the sweep uses the most steps whose count stays within it.

Timings: CPU model and load are recorded beside them (the machine is shared; wall time is inflated by other work,
process CPU time is not, and with one thread CPU minutes approximate quiet single-core minutes).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from common import machine_info

from genlab.errors import GenlabError
from genlab.evaluation import _evaluate_loaded, real_data, sampling_options, train_pool
from genlab.inference import find_snapshot, load
from genlab.models.diffusion.objective import check_guidance_interval
from genlab.models.diffusion.samplers import SAMPLERS
from genlab.models.diffusion.schedules import sampling_timesteps

RESULTS = Path(__file__).resolve().parent / "results" / "diffusion_quality.json"
ALLOCATOR = "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296"


# ---------------------------------------------------------------------------------------------- results file

def read_results(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def store(path: Path, section: str, key: str, value: Any) -> None:
    """results[section][key] = value, written atomically, and the markdown beside it re-rendered (under a lock:
    ablation rows may run as parallel processes)."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = read_results(path)
        data.setdefault(section, {})[key] = value
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        tmp.replace(path)
        path.with_suffix(".md").write_text(markdown(data))


# ---------------------------------------------------------------------------------------------- NFE counting

def sampler_nfe(sampler: str, steps: int, num_train_steps: int = 1000, guided: bool = False,
                interval: tuple[float, float] | None = None) -> int:
    """Network calls of `sampler` with `steps` timesteps, counted on a zero denoiser (one image, 1x1 pixel): one per
    denoiser call, two when guided (classifier-free guidance's conditional + unconditional pass) at a noise level
    sigma/alpha inside `interval` (everywhere when None)."""
    from genlab.models.diffusion.schedules import make_alphas_cumprod
    ab = make_alphas_cumprod("cosine", num_train_steps)
    calls = [0]

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        level = float(((1 - ab[t[0]]) / ab[t[0]]).sqrt())
        calls[0] += 2 if guided and (interval is None or interval[0] < level <= interval[1]) else 1
        return torch.zeros_like(x)

    SAMPLERS[sampler](denoise, torch.randn(1, 1, 1, 1), sampling_timesteps(steps, num_train_steps), ab,
                      generators=[torch.Generator().manual_seed(0)])
    return calls[0]


def steps_for_nfe(sampler: str, nfe: int, guided: bool, num_train_steps: int = 1000,
                  interval: tuple[float, float] | None = None) -> tuple[int, int] | None:
    """(steps, actual NFE) with the most steps whose NFE (guided calls count twice) is <= nfe; None if even 1 step
    exceeds."""
    best = None
    for steps in range(1, nfe + 1):
        cost = sampler_nfe(sampler, steps, num_train_steps, guided, interval)
        if cost <= nfe:
            best = (steps, cost)
        elif best is not None:
            break
    return best


# ---------------------------------------------------------------------------------------------- measuring

def point(gen, real, n: int, sampler: str, steps: int, guidance: float, seed: int, batch_size: int,
          interval: tuple[float, float] | None = None, autoguide: Any = None, grid: str | None = None
          ) -> dict[str, Any]:
    """FID and the rest of one sampling setting at n; NFE is what the network was really called per image.
    autoguide: a loaded weaker model that guidance pulls away from (instead of the unconditional output)."""
    # no interval = guidance at every noise level, whatever the snapshot's own sample settings say
    options = sampling_options(gen, sampler, steps, guidance, guidance_interval=interval or (0.0, math.inf),
                               grid=grid)
    if "autoguide" in gen.capabilities.sampling_options:  # none unless asked, whatever the snapshot's settings say
        options["autoguide"] = autoguide.model if autoguide is not None else "none"
    c0, t0 = time.process_time(), time.perf_counter()
    result = _evaluate_loaded(gen, real, n=n, options=options, split="test", seed=seed, batch_size=batch_size,
                              progress=None)
    m = result["metrics"]
    floor = m["floor"]
    return {"sampler": sampler, "steps": steps, "guidance": guidance,
            **({"guidance_interval": list(interval)} if interval else {}), **({"grid": grid} if grid else {}),
            **({"autoguide_step": autoguide.info.step, "autoguide_images_seen": autoguide.info.images_seen}
               if autoguide else {}),
            "nfe": result["nfe"],
            "n": n, "fid": m["fid"], "floor_fid": floor["fid"], "floor_n": floor["n"],
            "floor_sampling": floor["sampling"], "floor_draws": floor.get("draws"),
            "floor_fid_q25": floor.get("fid_q25"), "floor_fid_q75": floor.get("fid_q75"),
            "fid_over_floor": m["fid"] / floor["fid"],
            "kid_mean": m["kid_mean"], "precision": m["precision"], "recall": m["recall"],
            "label_accuracy": m.get("label_accuracy"), "num_real": m["num_real"],
            "cpu_s": round(time.process_time() - c0, 1), "wall_s": round(time.perf_counter() - t0, 1)}


def measure(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    path = find_snapshot(args.snapshot)
    gen = load(path, device="cpu")
    weak_path = find_snapshot(args.autoguide) if args.autoguide else None
    weak = load(weak_path, device="cpu") if weak_path else None
    n_max = max([args.n or 0, args.sweep_n or 0, args.nfe_n or 0, 2])
    real = real_data(gen.info, path=path, data_dir=args.data_dir, max_train=train_pool(None, n_max), seed=args.seed,
                     device=gen.device)
    facts = {"snapshot": str(path), "dataset": real.dataset, "step": gen.info.step,
             "images_seen": gen.info.images_seen, "feature_net": real.net_info, "machine": machine_info(),
             "command": " ".join([Path(sys.executable).name, *sys.argv]),
             **({"autoguide": str(weak_path)} if weak_path else {})}
    say = (lambda s: print(s, file=sys.stderr, flush=True)) if not args.quiet else (lambda s: None)
    if args.n:
        row = point(gen, real, args.n, args.sampler, args.steps, args.guidance, args.seed, args.batch_size,
                    args.guidance_interval, weak, args.grid)
        store(args.out, "headline", args.key, {**facts, **row})
        say(f"{args.key}: FID {row['fid']:.3f} floor {row['floor_fid']:.3f} (n={args.n}) = {row['fid_over_floor']:.2f}x")
    if args.guidance_sweep:
        rows = []
        for g in args.guidance_sweep:
            rows.append(point(gen, real, args.sweep_n, args.sampler, args.sweep_steps or args.steps, g, args.seed,
                              args.batch_size, args.guidance_interval, weak, args.grid))
            store(args.out, "guidance", args.key, {**facts, "rows": rows})
            say(f"guidance {g}: FID {rows[-1]['fid']:.3f} / floor {rows[-1]['floor_fid']:.3f} (n={args.sweep_n})")
    if args.nfe:
        # rows of other NFE targets measured before on the same snapshot stay (a later run can add a column)
        before = read_results(args.out).get("nfe", {}).get(args.key, {})
        same = {k: before.get(k) for k in ("snapshot", "step")} == {k: facts[k] for k in ("snapshot", "step")}
        rows = [r for r in before.get("rows", []) if same and r["target_nfe"] not in args.nfe]
        samplers = list(SAMPLERS) if args.samplers == ["all"] else args.samplers
        guided = bool(gen.num_classes) and args.guidance not in (0.0, 1.0)
        for sampler in samplers:
            for target in args.nfe:
                chosen = steps_for_nfe(sampler, target, guided, interval=args.guidance_interval)
                if chosen is None:
                    continue
                steps, nfe = chosen
                rows.append({"target_nfe": target, **point(gen, real, args.nfe_n, sampler, steps, args.guidance,
                                                            args.seed, args.batch_size, args.guidance_interval,
                                                            weak)})
                store(args.out, "nfe", args.key, {**facts, "rows": rows})
                say(f"{sampler} NFE {nfe} ({steps} steps): FID {rows[-1]['fid']:.3f} / floor "
                    f"{rows[-1]['floor_fid']:.3f}")
    if args.interval_sweep:
        rows = []
        for interval in args.interval_sweep:
            for steps in args.interval_steps or [args.steps]:
                rows.append(point(gen, real, args.sweep_n, args.sampler, steps, args.guidance, args.seed,
                                  args.batch_size, interval, weak))
                store(args.out, "interval", args.key, {**facts, "rows": rows})
                say(f"interval {interval}, {steps} steps (NFE {rows[-1]['nfe']}): FID {rows[-1]['fid']:.3f} / floor "
                    f"{rows[-1]['floor_fid']:.3f} (n={args.sweep_n})")
    if args.ddpm_n:
        row = point(gen, real, args.ddpm_n, "ddpm", 1000, args.guidance, args.seed, args.batch_size,
                    args.guidance_interval, weak)
        store(args.out, "ddpm_1000", args.key, {**facts, **row})
        say(f"ddpm 1000 steps: FID {row['fid']:.3f} / floor {row['floor_fid']:.3f} (n={args.ddpm_n})")


def run_training(preset: str, run_dir: Path, overrides: list[str], threads: int, data_dir: Path | None
                 ) -> dict[str, Any]:
    """genlab train on `threads` threads, nice 5, allocator setting; returns the command, exit code and the
    training process's CPU and wall minutes."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GLIBC_TUNABLES": ALLOCATOR}
    cmd = ["nice", "-n", "5", sys.executable, "-m", "genlab", "train", preset, "--run-dir", str(run_dir),
           "-q", *(["--data-dir", str(data_dir)] if data_dir else []), f"train.threads={threads}", *overrides]
    before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    code = subprocess.call(cmd, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"command": " ".join(["genlab", "train", preset, *cmd[cmd.index("--run-dir"):]]),
            "exit_code": code, "cpu_minutes": round(cpu / 60, 2),
            "wall_minutes": round((time.perf_counter() - t0) / 60, 2), "machine": machine_info()}


def train(args: argparse.Namespace) -> None:
    """A time-to-quality training (run_training), recorded under `training`."""
    record = run_training(args.preset, args.run_dir, args.overrides, args.threads, args.data_dir)
    store(args.out, "training", args.key, record)
    print(json.dumps(record))
    if record["exit_code"]:
        sys.exit(record["exit_code"])


# One change at a time on MNIST, from the quick preset as it was first shipped towards the time-to-quality recipe
# (rows with `then` build on that row; the others are alternatives to the row they name). Every row trains the same
# number of steps at batch 64 and is measured the same way (--sampler/--steps/--guidance/--n).
ABLATION: dict[str, tuple[str | None, str, list[str]]] = {  # name -> (builds on, change, overrides)
    "quick": (None, "mnist-diffusion-quick as first shipped (U-Net 24/48/48, v-prediction, constant lr)", []),
    "base32": ("quick", "U-Net 32/64/64 channels (0.66 M -> 1.16 M parameters)", ["model.base_channels=32"]),
    "cosine": ("base32", "cosine learning-rate decay to 0 after warm-up", ["train.lr_schedule=cosine"]),
    "eps": ("cosine", "epsilon-prediction instead of v", ["model.prediction=eps"]),
    "edm": ("cosine", "EDM preconditioning and loss weighting instead of v", ["model.prediction=edm"]),
    "bf16": ("cosine", "bf16 autocast instead of fp32", ["train.precision=bf16"]),
    "edm-const": ("base32", "EDM preconditioning and loss weighting instead of v (constant lr)", ["model.prediction=edm"]),
    "minsnr": ("base32", "min-SNR-5 loss weighting (Hang et al. 2023) of the v loss", ["model.min_snr_gamma=5"]),
}


def ablation_overrides(name: str) -> list[str]:
    """The overrides of row `name`: its ancestors' then its own."""
    parent, _, own = ABLATION[name]
    return [*(ablation_overrides(parent) if parent else []), *own]


def ablate(args: argparse.Namespace) -> None:
    """Train and measure the ABLATION rows named by --rows (default all), in order, each in its own run dir."""
    torch.set_num_threads(args.threads)
    common = ["train.precision=fp32", f"train.max_steps={args.train_steps}", "train.epoch_images=64000",
              "sample.num_images=16"]
    real = None  # every row is MNIST: the real features are extracted once
    for name in args.rows:
        overrides = [*common, *ablation_overrides(name)]
        record = run_training("mnist-diffusion-quick", args.run_root / name, overrides, args.threads, args.data_dir)
        if record["exit_code"]:
            sys.exit(f"ablation row {name}: training failed (exit {record['exit_code']}); see {args.run_root / name}")
        path = find_snapshot(args.run_root / name)
        gen = load(path, device="cpu")
        if real is None:
            real = real_data(gen.info, path=path, data_dir=args.data_dir, max_train=train_pool(None, args.n),
                             seed=args.seed, device=gen.device)
        row = point(gen, real, args.n, args.sampler, args.steps, args.guidance, args.seed, args.batch_size)
        parent, change, _ = ABLATION[name]
        store(args.out, "ablation", name, {"builds_on": parent, "change": change, "overrides": overrides,
                                           "training": record, **row})
        print(json.dumps({"row": name, "fid": row["fid"], "floor": row["floor_fid"],
                          "cpu_minutes": record["cpu_minutes"]}), flush=True)


STEP_CONFIGS = {  # name -> (U-Net base channels, num_res_blocks, precision)
    "base24 fp32": (24, 1, "fp32"), "base24 bf16": (24, 1, "bf16"), "base32 fp32": (32, 1, "fp32"),
    "base32 bf16": (32, 1, "bf16"), "base48 fp32": (48, 1, "fp32"), "base48 bf16": (48, 1, "bf16"),
    "base32x2 bf16": (32, 2, "bf16"),
}


def step_cost(base: int, res_blocks: int, precision: str, batch: int = 64, steps: int = 6) -> dict[str, Any]:
    """Process CPU seconds per training step (forward + backward + AdamW) of the 28x28 class-conditional U-Net."""
    from genlab.nn.unet import UNet
    torch.manual_seed(0)
    net = UNet(in_channels=1, out_channels=1, base_channels=base, channel_mults=(1, 2, 2), num_res_blocks=res_blocks,
               attention_resolutions=(7,), num_classes=10, image_size=(28, 28), num_heads=4)
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    x, c, y = torch.randn(batch, 1, 28, 28), torch.rand(batch) * 1000, torch.randint(0, 11, (batch,))
    cast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else torch.autocast("cpu", enabled=False)
    for i in range(steps + 2):
        if i == 2:
            c0, t0 = time.process_time(), time.perf_counter()
        with cast:
            out = net(x, c, y)
        loss = (out.float() - x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"params_m": round(sum(p.numel() for p in net.parameters()) / 1e6, 2),
            "cpu_s_per_step": round((time.process_time() - c0) / steps, 3),
            "wall_s_per_step": round((time.perf_counter() - t0) / steps, 3), "batch": batch}


def steptime(args: argparse.Namespace) -> None:
    """CPU and wall s/step per STEP_CONFIGS entry at --batch on --threads threads, with and without the allocator
    setting (each in a fresh process); stored as step_cost["unet28"] (1 thread, batch 64) or
    step_cost["unet28-<T>t-b<B>"]."""
    if args.inner:
        torch.set_num_threads(args.threads)
        base, blocks, precision = STEP_CONFIGS[args.inner]
        print(json.dumps(step_cost(base, blocks, precision, batch=args.batch)))
        return
    key = "unet28" if (args.threads, args.batch) == (1, 64) else f"unet28-{args.threads}t-b{args.batch}"
    rows = []
    for name in STEP_CONFIGS:
        for allocator in (False, True):
            env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
            env.update({"OMP_NUM_THREADS": str(args.threads), **({"GLIBC_TUNABLES": ALLOCATOR} if allocator else {})})
            res = subprocess.run([sys.executable, __file__, "steptime", "--inner", name, "--threads",
                                  str(args.threads), "--batch", str(args.batch)], env=env, check=True,
                                 capture_output=True, text=True)
            rows.append({"config": name, "allocator": allocator, "threads": args.threads,
                         **json.loads(res.stdout.strip().splitlines()[-1])})
            print(json.dumps(rows[-1]), flush=True)
            store(args.out, "step_cost", key, {"rows": rows, "machine": machine_info()})


# ---------------------------------------------------------------------------------------------- publishing

HEADLINE_FIELDS = ("fid", "floor_fid", "floor_n", "floor_sampling", "fid_over_floor", "floor_fid_q25",
                   "floor_fid_q75", "floor_draws", "kid_mean", "precision", "recall", "label_accuracy", "sampler",
                   "steps", "guidance", "guidance_interval", "autoguide", "autoguide_step", "grid", "nfe", "num_real",
                   "feature_net", "dataset", "command")
SWEEP_FIELDS = ("guidance", "guidance_interval", "autoguide_step", "grid", "sampler", "steps", "nfe", "n", "fid",
                "floor_fid", "fid_over_floor")


def manifest_metrics(data: dict[str, Any], headline: str, sweeps: list[str]) -> dict[str, Any]:
    """The metrics a manifest entry carries: the headline row (n = `samples`, its floor at the same n) and, under
    "guidance_sweep", every row of the named guidance / interval sweeps and headline rows (one model, same seeds).
    KeyError names a key found in no section."""
    head = data["headline"][headline]
    out = {k: head[k] for k in HEADLINE_FIELDS if k in head} | {"samples": head["n"]}
    rows = []
    for key in sweeps:
        found = [data[sec][key]["rows"] for sec in ("guidance", "interval") if key in data.get(sec, {})]
        found += [[data["headline"][key]]] if key in data.get("headline", {}) else []
        if not found:
            raise KeyError(key)
        rows += [{k: r[k] for k in SWEEP_FIELDS if k in r} for block in found for r in block]
    if rows:
        out["guidance_sweep"] = {"note": "same seeds for every row; FID / floor at the row's n", "rows": rows}
    return out


# ---------------------------------------------------------------------------------------------- markdown

def _f(x: Any, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if isinstance(x, (int, float)) else "—"


def _interval(row: dict[str, Any]) -> str:
    """How a point was guided beyond w: its interval, its autoguide model's step, its grid ("" if plain)."""
    lo_hi = row.get("guidance_interval")
    out = f" in sigma/alpha ({lo_hi[0]}, {lo_hi[1]}]" if lo_hi else ""
    if row.get("autoguide_step") is not None:
        out += f", autoguided by the step-{row['autoguide_step']} snapshot"
    return out + (f", {row['grid']} grid" if row.get("grid") else "")


def markdown(data: dict[str, Any]) -> str:
    out = ["# Diffusion quality per CPU-hour (benchmarks/diffusion_quality.py)", ""]
    for key, r in data.get("headline", {}).items():
        out.append(f"- **{key}**: FID {_f(r['fid'])} vs floor {_f(r['floor_fid'])} (n = {r['n']}, floor n = "
                   f"{r['floor_n']} random training images, same test split) = {r['fid_over_floor']:.2f}× floor; "
                   f"{r['sampler']} {r['steps']} steps, guidance {r['guidance']}"
                   f"{_interval(r)}, NFE {r['nfe']}; step {r['step']}.")
    for key, r in data.get("training", {}).items():
        out.append(f"- training **{key}**: {r['cpu_minutes']} CPU min, {r['wall_minutes']} wall min; `{r['command']}`")
    for key, block in data.get("guidance", {}).items():
        head = ("| guidance | sampler | steps | NFE | n | FID | floor (same n) | FID / floor | label acc. | precision "
                "| recall |")
        out += ["", f"## FID vs guidance — {key}", "", head, "|" + "---|" * 11]
        out += [f"| {r['guidance']}{_interval(r)} | {r['sampler']} | {r['steps']} | {r['nfe']} | {r['n']} | "
                f"{_f(r['fid'])} | {_f(r['floor_fid'])} | {r['fid_over_floor']:.2f}× | {_f(r['label_accuracy'])} | "
                f"{_f(r['precision'], 2)} | {_f(r['recall'], 2)} |" for r in block["rows"]]
    for key, block in data.get("nfe", {}).items():
        head = "| sampler | target NFE | steps | NFE | n | FID | floor | FID / floor | CPU s |"
        out += ["", f"## FID vs NFE — {key}", "", head, "|" + "---|" * 9]
        out += [f"| {r['sampler']} | {r['target_nfe']} | {r['steps']} | {r['nfe']} | {r['n']} | {_f(r['fid'])} | "
                f"{_f(r['floor_fid'])} | {r['fid_over_floor']:.2f}× | {r['cpu_s']} |" for r in block["rows"]]
        ref = data.get("ddpm_1000", {}).get(key)
        if ref:
            out.append(f"| ddpm (ancestral reference) | 1000 | 1000 | {ref['nfe']} | {ref['n']} | {_f(ref['fid'])} | "
                       f"{_f(ref['floor_fid'])} | {ref['fid_over_floor']:.2f}× | {ref['cpu_s']} |")
    for key, block in data.get("interval", {}).items():
        head = "| guidance interval (sigma/alpha) | sampler | steps | w | NFE | n | FID | floor (same n) | FID / floor |"
        out += ["", f"## FID vs guidance interval — {key}", "", head, "|" + "---|" * 9]
        out += [f"| ({r['guidance_interval'][0]}, {r['guidance_interval'][1]}] | {r['sampler']} | {r['steps']} | "
                f"{r['guidance']} | {r['nfe']} | {r['n']} | {_f(r['fid'])} | {_f(r['floor_fid'])} | "
                f"{r['fid_over_floor']:.2f}× |" for r in block["rows"]]
    if data.get("ablation"):
        rows = data["ablation"]
        first = next(iter(rows.values()))
        steps = first["training"]["command"].split("max_steps=")[1].split()[0]
        title = (f"## One change at a time (MNIST, {steps} steps at batch 64; {first['sampler']} {first['steps']} "
                 f"steps, w = {first['guidance']}, NFE {first['nfe']}, n = {first['n']})")
        out += ["", title, "",
                "| row | change | builds on | training CPU min | FID | floor (same n) | FID / floor |",
                "|---|---|---|---|---|---|---|"]
        out += [f"| {k} | {r['change']} | {r['builds_on'] or '—'} | {r['training']['cpu_minutes']} | {_f(r['fid'])} "
                f"| {_f(r['floor_fid'])} | {r['fid_over_floor']:.2f}× |" for k, r in rows.items()]
    for key, block in data.get("step_cost", {}).items():
        first = block["rows"][0]
        threads, batch = first.get("threads", 1), first.get("batch", 64)
        cpu = block.get("machine", {}).get("cpu", "?")
        title = f"## Training step cost ({key}: 28x28 conditional U-Net, batch {batch}, {threads} thread(s), {cpu})"
        out += ["", title, "",
                "| config | params (M) | allocator setting | CPU s / step | wall s / step |", "|---|---|---|---|---|"]
        out += [f"| {r['config']} | {r['params_m']} | {'on' if r['allocator'] else 'off'} | {r['cpu_s_per_step']} | "
                f"{r['wall_s_per_step']} |" for r in block["rows"]]
    shown = ("cpu", "cores", "cpu_count", "avx512_bf16")  # "cores": results stored before machine_info was shared
    machines = {json.dumps({k: v for k, v in r.get("machine", {}).items() if k in shown})
                for section in data.values() for r in section.values() if isinstance(r, dict)}
    out += ["", "Machine: " + "; ".join(sorted(machines)) + ". Each timing's machine, load and thread count are in "
            "the JSON; on a shared machine wall times are inflated, CPU times are not. Floors: n random training "
            "images vs the same test split (real_floor)."]
    return "\n".join(out) + "\n"


def interval_arg(text: str) -> tuple[float, float]:
    try:
        interval = check_guidance_interval(text)
    except GenlabError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if interval is None:
        raise argparse.ArgumentTypeError("expected LO,HI")
    return interval


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=RESULTS, help="Results JSON (merged; markdown written beside it).")
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure", help="Headline FID, guidance sweep and NFE sweep of one diffusion snapshot.")
    m.add_argument("snapshot", help="Snapshot file, run directory or pretrained name.")
    m.add_argument("--key", required=True, help="Name of this model in the results file.")
    m.add_argument("--n", type=int, default=0, help="Samples for the headline FID (0 = skip).")
    m.add_argument("--sampler", default="dpmpp-2m")
    m.add_argument("--steps", type=int, default=10)
    m.add_argument("--guidance", type=float, default=1.0)
    m.add_argument("--guidance-sweep", type=lambda s: [float(x) for x in s.split(",")], default=[])
    m.add_argument("--sweep-n", type=int, default=500)
    m.add_argument("--sweep-steps", type=int, default=0, help="Steps of the guidance sweep (default --steps).")
    m.add_argument("--guidance-interval", type=interval_arg, default=None, metavar="LO,HI",
                   help="Guide only at noise levels sigma/alpha in (LO, HI] (every measurement of this call).")
    m.add_argument("--interval-sweep", type=lambda s: [interval_arg(x) for x in s.split(";")], default=[],
                   metavar="LO,HI;LO,HI", help="Guidance intervals to measure at --sweep-n, each at --interval-steps.")
    m.add_argument("--interval-steps", type=lambda s: [int(x) for x in s.split(",")], default=[],
                   help="Sampler steps of the interval sweep (default --steps).")
    m.add_argument("--grid", default=None, choices=["trailing", "karras"],
                   help="Noise-level grid of the headline and guidance-sweep points [default: trailing].")
    m.add_argument("--autoguide", default=None, metavar="SNAPSHOT",
                   help="Guide with this weaker snapshot (an earlier one of the same run) instead of the unconditional "
                        "output: autoguidance, Karras et al. 2024. Applies to every measured point.")
    m.add_argument("--nfe", type=lambda s: [int(x) for x in s.split(",")], default=[])
    m.add_argument("--samplers", type=lambda s: s.split(","), default=["all"])
    m.add_argument("--nfe-n", type=int, default=200)
    m.add_argument("--ddpm-n", type=int, default=0, help="Samples for the 1000-step ancestral reference (0 = skip).")
    m.add_argument("--data-dir", type=Path, default=None)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--batch-size", type=int, default=250)
    m.add_argument("--threads", type=int, default=1)
    m.add_argument("-q", "--quiet", action="store_true")
    t = sub.add_parser("train", help="genlab train with 1 thread / nice 5 / allocator, recording CPU minutes.")
    t.add_argument("key")
    t.add_argument("preset")
    t.add_argument("--run-dir", type=Path, required=True)
    t.add_argument("--data-dir", type=Path, default=None)
    t.add_argument("--threads", type=int, default=1, help="Training threads (the time-to-quality runs use both "
                   "cores of an otherwise idle machine: 2).")
    t.add_argument("overrides", nargs="*")
    a = sub.add_parser("ablate", help="One change at a time on MNIST: train each ABLATION row, measure its FID.")
    a.add_argument("--rows", type=lambda s: s.split(","), default=list(ABLATION),
                   help=f"Comma-separated rows (default all: {','.join(ABLATION)}).")
    a.add_argument("--run-root", type=Path, required=True, help="Each row trains in RUN_ROOT/ROW.")
    a.add_argument("--train-steps", type=int, default=600)
    a.add_argument("--n", type=int, default=2000)
    a.add_argument("--sampler", default="unipc")
    a.add_argument("--steps", type=int, default=10)
    a.add_argument("--guidance", type=float, default=1.0)
    a.add_argument("--data-dir", type=Path, default=None)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--batch-size", type=int, default=250)
    a.add_argument("--threads", type=int, default=1)
    st = sub.add_parser("steptime", help="CPU seconds per training step: U-Net sizes, fp32/bf16, allocator.")
    st.add_argument("--inner", choices=list(STEP_CONFIGS), help=argparse.SUPPRESS)
    st.add_argument("--threads", type=int, default=1)
    st.add_argument("--batch", type=int, default=64)
    mm = sub.add_parser("metrics", help="The manifest metrics of a snapshot to publish: a headline row and the "
                        "sweep rows of the same model, as JSON for scripts/publish_pretrained.py --metrics.")
    mm.add_argument("--headline", required=True, help="Key of the headline row in the results file.")
    mm.add_argument("--sweeps", type=lambda s: s.split(","), default=[],
                    help="Comma-separated guidance / guidance-interval sweep keys and headline keys to list.")
    mm.add_argument("-o", "--output", type=Path, required=True, help="JSON file to write.")
    sub.add_parser("markdown", help="Re-render the markdown from the JSON.")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.cmd == "measure":
        measure(args)
    elif args.cmd == "train":
        train(args)
    elif args.cmd == "ablate":
        unknown = [r for r in args.rows if r not in ABLATION]
        if unknown:
            sys.exit(f"--rows: unknown row(s) {', '.join(unknown)} (known: {', '.join(ABLATION)})")
        ablate(args)
    elif args.cmd == "steptime":
        steptime(args)
    elif args.cmd == "metrics":
        try:
            out = manifest_metrics(read_results(args.out), args.headline, args.sweeps)
        except KeyError as err:
            sys.exit(f"metrics: no results under {err} in {args.out}")
        args.output.write_text(json.dumps(out, indent=1) + "\n")
    else:
        args.out.with_suffix(".md").write_text(markdown(read_results(args.out)))


if __name__ == "__main__":
    main()

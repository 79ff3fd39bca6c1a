"""Add (or replace) a pretrained snapshot in the package's manifest, so `genlab sample NAME` finds it.

    python scripts/publish_pretrained.py mnist-ddpm runs/mnist-diffusion-quick \\
        --command "genlab train mnist-diffusion-quick" --metrics runs/mnist-diffusion-quick/eval-1000.json

Copies the run's final snapshot to src/genlab/assets/pretrained/NAME.safetensors (refusing snapshots over 20 MB) and
records sha256, size, family, dataset, steps / images / CPU minutes, the exact training command and the measured
metrics (a JSON written by `genlab evaluate --json` or a benchmark) in manifest.json (genlab.checkpoints.pretrained).

    python scripts/publish_pretrained.py mnist-dcgan --remeasure eval.json --command "genlab evaluate mnist-dcgan ..."

replaces a shipped entry's metrics with a new measurement of the same file (the old ones are kept as
metrics_superseded), e.g. after the floor definition changed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from genlab.checkpoints.pretrained import MAX_MB, publish, remeasure
from genlab.errors import GenlabError


def parse_sample(pairs: list[str]) -> dict[str, object]:
    """["sampler=unipc", "steps=5", "guidance=1.5"] -> {"sampler": "unipc", "steps": 5, "guidance": 1.5}."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise GenlabError(f"--sample {pair!r}: expected KEY=VALUE, e.g. --sample guidance=1.5")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", help="Pretrained name, e.g. mnist-ddpm.")
    ap.add_argument("source", nargs="?", help="Run directory or snapshot file (not with --remeasure).")
    ap.add_argument("--command", required=True,
                    help="The exact command that trained it (with --remeasure: the command that measured it).")
    ap.add_argument("--remeasure", type=Path, metavar="JSON",
                    help="Only replace the shipped entry's metrics with this JSON (genlab evaluate --json).")
    ap.add_argument("--metrics", type=Path, help="JSON of measured metrics (genlab evaluate --json, a benchmark).")
    ap.add_argument("--note", default="", help="One line on what the model is and how good it is.")
    ap.add_argument("--sample", action="append", default=[], metavar="KEY=VALUE",
                    help="A sampling default measured after training, written into the shipped copy's header "
                         "(repeatable), e.g. --sample sampler=unipc --sample steps=5 --sample guidance=1.5.")
    ap.add_argument("--max-mb", type=float, default=MAX_MB)
    ap.add_argument("--cpu-minutes", type=float, help="Measured process CPU minutes of the training.")
    ap.add_argument("--wall-minutes", type=float, help="Measured wall minutes of the training.")
    args = ap.parse_args(argv)
    if (args.source is None) == (args.remeasure is None):
        print("error: give either SOURCE (publish a run) or --remeasure JSON (new metrics for a shipped entry)",
              file=sys.stderr)
        return 2
    try:
        if args.remeasure is not None:
            entry = remeasure(args.name, json.loads(args.remeasure.read_text()), args.command)
            print(json.dumps({args.name: {"metrics_command": entry["metrics_command"]}}, indent=2))
            return 0
        metrics = json.loads(args.metrics.read_text()) if args.metrics else {}
        entry = publish(args.name, args.source, args.command, metrics, args.note, args.max_mb,
                        cpu_minutes=args.cpu_minutes, wall_minutes=args.wall_minutes,
                        sample=parse_sample(args.sample))
    except (GenlabError, OSError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({args.name: {k: v for k, v in entry.items() if k != "metrics"}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The training log, written three ways with the same rows: ``scalars.jsonl`` (genlab's own, one JSON object per
line), ``scalars.csv`` (for spreadsheets and pandas) and TensorBoard event files under ``tensorboard/``
(``tensorboard --logdir runs``).

Rows are flat dicts of numbers keyed by name, with ``step`` (optimiser steps) as the x axis. Families log different
keys (a GAN's ``loss/d``, a diffusion model's ``loss``), and a key may first appear late (``grad_norm/g``): the CSV
then gets the new column by being rewritten from the JSON lines, which stay the source of truth. On resume the rows
past the training state's step are dropped from all three (a run killed after its last state logged them; training
repeats those steps).
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any

from genlab.utils.io import append_jsonl, atomic_write_text, drop_jsonl_rows

JSONL, CSV, TENSORBOARD_DIR = "scalars.jsonl", "scalars.csv", "tensorboard"


class ScalarLog:
    """Appends rows to the run's JSONL, CSV and TensorBoard logs. `resume_step`: the step training (re)starts from
    (0 for a new run); rows logged past it by an interrupted run are dropped first."""

    def __init__(self, run_dir: str | Path, resume_step: int = 0):
        self.run_dir = Path(run_dir)
        self.jsonl, self.csv = self.run_dir / JSONL, self.run_dir / CSV
        drop_jsonl_rows(self.jsonl, lambda row: int(row.get("step", 0)) <= resume_step)
        self.columns = self._rewrite_csv()
        self.writer = _summary_writer(self.run_dir / TENSORBOARD_DIR, purge_step=resume_step + 1)

    def add(self, row: dict[str, Any]) -> None:
        """Append one row (must hold ``step``) to the three logs."""
        append_jsonl(self.jsonl, row)
        if set(row) - set(self.columns):
            self.columns = self._rewrite_csv()
        else:
            with self.csv.open("a", encoding="utf-8", newline="") as fh:
                csv.DictWriter(fh, self.columns).writerow(row)
        if self.writer is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(key, value, global_step=int(row["step"]))
            self.writer.flush()

    def add_text(self, tag: str, text: str, step: int = 0) -> None:
        """A text note in TensorBoard (e.g. the seed and config at training start)."""
        if self.writer is not None:
            self.writer.add_text(tag, text, global_step=step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def _rewrite_csv(self) -> list[str]:
        """scalars.csv regenerated from scalars.jsonl (columns: step first, then every key in first-seen order)."""
        rows = read_rows(self.jsonl)
        columns = ["step"]
        for row in rows:
            columns += [k for k in row if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, columns)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.csv, buf.getvalue())
        return columns


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines log (a missing file: none)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _summary_writer(log_dir: Path, purge_step: int):
    """torch's TensorBoard SummaryWriter, or None (with a warning) when the tensorboard package is missing.
    `purge_step` hides events a killed run wrote at or after that step."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # pragma: no cover - tensorboard is a dependency; a stripped environment still trains
        warnings.warn("tensorboard is not installed; training logs go to scalars.jsonl/csv only", stacklevel=3)
        return None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)

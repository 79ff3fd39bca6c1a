"""The fine-tuned classifier: a small PyTorch network over windows of pretrained pose-landmark features.

MediaPipe's BlazePose network is the frozen pretrained feature extractor (landmarks); this model is trained on top
of its 33-point output: two 1-D convolutions over time, a GRU, and three heads - exercise (softmax over
squat/push-up/deadlift/press), per-rep faults (5 sigmoids: depth, knee valgus, back, lockout, tempo) and misuse
(3 sigmoids: unsafe lift, wrong machine, drop). Saved as safetensors weights + a JSON config (never pickle).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gymchain.vision.features import FRAMES, N_FEATURES
from gymchain.vision.kinematics import ERRORS, EXERCISES
from gymchain.vision.misuse import MISUSE


class PoseSequenceNet(nn.Module):
    def __init__(self, features: int = N_FEATURES, hidden: int = 64, dropout: float = 0.1):
        super().__init__()
        self.config = {"features": features, "hidden": hidden, "dropout": dropout, "frames": FRAMES}
        self.conv = nn.Sequential(nn.Conv1d(features, hidden, 5, padding=2), nn.GELU(),
                                  nn.Conv1d(hidden, hidden, 5, padding=2), nn.GELU(), nn.Dropout(dropout))
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.exercise = nn.Linear(4 * hidden, len(EXERCISES))
        self.errors = nn.Linear(4 * hidden, len(ERRORS))
        self.misuse = nn.Linear(4 * hidden, len(MISUSE))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)
        out, _ = self.gru(h)
        pooled = torch.cat([out.mean(dim=1), out.max(dim=1).values], dim=1)
        return {"exercise": self.exercise(pooled), "errors": self.errors(pooled), "misuse": self.misuse(pooled)}


def save(model: PoseSequenceNet, directory: Path, metrics: dict | None = None) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(directory / "model.safetensors"))
    meta = {"config": model.config, "exercises": EXERCISES, "errors": ERRORS, "misuse": MISUSE,
            "metrics": metrics or {}}
    (directory / "config.json").write_text(json.dumps(meta, indent=2))


def load(directory: Path) -> PoseSequenceNet:
    """Load a saved model (safetensors + JSON only); ValueError naming the file on anything unexpected."""
    from safetensors.torch import load_file

    config_path, weights_path = directory / "config.json", directory / "model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ValueError(f"{path}: missing (train one with python -m gymchain.vision.train)")
    try:
        meta = json.loads(config_path.read_text())
        config = meta["config"]
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{config_path}: not a model config ({exc})") from None
    if tuple(meta.get("exercises", ())) != EXERCISES or tuple(meta.get("errors", ())) != ERRORS \
            or tuple(meta.get("misuse", ())) != MISUSE or config.get("features") != N_FEATURES:
        raise ValueError(f"{config_path}: labels or feature size differ from this code's (retrain the model)")
    model = PoseSequenceNet(config["features"], config["hidden"], config["dropout"])
    try:
        model.load_state_dict(load_file(str(weights_path)))
    except (RuntimeError, OSError) as exc:
        raise ValueError(f"{weights_path}: weights do not fit the config ({str(exc).splitlines()[0]})") from None
    model.eval()
    return model


@torch.no_grad()
def predict(model: PoseSequenceNet, windows: np.ndarray) -> dict[str, np.ndarray]:
    """Probabilities for windows ``(N, FRAMES, N_FEATURES)``."""
    if len(windows) == 0:
        return {"exercise": np.zeros((0, len(EXERCISES))), "errors": np.zeros((0, len(ERRORS))),
                "misuse": np.zeros((0, len(MISUSE)))}
    out = model(torch.from_numpy(np.asarray(windows, dtype=np.float32)))
    return {"exercise": torch.softmax(out["exercise"], 1).numpy(), "errors": torch.sigmoid(out["errors"]).numpy(),
            "misuse": torch.sigmoid(out["misuse"]).numpy()}

"""The calibration figure of a churn evaluation (PNG, matplotlib without a display)."""

from __future__ import annotations

from pathlib import Path


def calibration_figure(calibration: dict[str, dict[str, list[float]]], path: str | Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    top = max(max(c["predicted"] + c["observed"]) for c in calibration.values()) * 1.05
    ax.plot([0, top], [0, top], color="grey", linestyle="--", label="perfectly calibrated")
    for name, curve in calibration.items():
        ax.plot(curve["predicted"], curve["observed"], marker="o", label=name.replace("_", " "))
    ax.set_xlabel("predicted churn probability (decile mean)")
    ax.set_ylabel("observed churn rate")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

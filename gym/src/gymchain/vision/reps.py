"""Rep counting on a joint-angle signal: smoothing, then one rep per prominent extremum of the driving angle.

A rep is a trip from the start position to the far position and back (squat, push-up, deadlift: the far position
is a minimum of the driving angle; shoulder press: a maximum). Prominence (how far an extremum stands out from
the signal around it) instead of fixed thresholds lets shallow reps and reps without lockout still count, so the
per-rep rules can then say what was wrong with them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks


@dataclass(frozen=True)
class RepWindow:
    start: int
    far: int
    end: int


def smooth(signal: np.ndarray, fps: float, window_s: float = 0.2) -> np.ndarray:
    """Centred moving average over ``window_s`` (edges padded with the edge values); NaNs are interpolated."""
    x = np.asarray(signal, dtype=float)
    if x.size == 0:
        return x
    bad = ~np.isfinite(x)
    if bad.all():
        return np.zeros_like(x)
    if bad.any():
        idx = np.arange(x.size)
        x = x.copy()
        x[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    k = max(1, round(window_s * fps) | 1)
    padded = np.pad(x, k // 2, mode="edge")
    return np.convolve(padded, np.ones(k) / k, mode="valid")


def find_reps(signal: np.ndarray, fps: float, *, far_is_min: bool, min_amplitude: float,
              relative_prominence: float = 0.35, min_rep_s: float = 0.5) -> list[RepWindow]:
    """Rep windows of a driving-angle signal (raw, degrees or metres; smoothed here).

    An extremum counts when its prominence is at least ``min_amplitude`` and ``relative_prominence`` of the
    signal's 5-95 % range; two reps are at least ``min_rep_s`` apart.
    """
    s = smooth(signal, fps, 0.25)
    if s.size < 3:
        return []
    work = -s if far_is_min else s
    spread = float(np.percentile(s, 95) - np.percentile(s, 5))
    prominence = max(min_amplitude, relative_prominence * spread)
    peaks, _ = find_peaks(work, prominence=prominence, distance=max(1, int(min_rep_s * fps)))
    reps = []
    for i, far in enumerate(peaks):
        lo = peaks[i - 1] if i > 0 else 0
        hi = peaks[i + 1] if i + 1 < len(peaks) else len(s) - 1
        # the return stretches: from the previous valley of ``work`` to this peak, and from it to the next valley
        lo = lo + int(np.argmin(work[lo:far + 1]))
        hi = far + int(np.argmin(work[far:hi + 1]))
        start = far - _movement_length(work[lo:far + 1][::-1], fps)
        end = far + _movement_length(work[far:hi + 1], fps)
        reps.append(RepWindow(int(start), int(far), int(end)))
    return reps


def _movement_length(x: np.ndarray, fps: float, still_per_s: float = 0.15, still_s: float = 0.13) -> int:
    """Frames from x[0] (an extremum) until the first movement away from it stops: once it has moved (speed
    above three times the still speed), the first frame from which the speed stays below the still speed
    (``still_per_s`` of the stretch's amplitude per second) for ``still_s`` seconds."""
    if x.size < 3:
        return max(0, x.size - 1)
    amplitude = float(np.abs(x - x[0]).max())
    still_speed = still_per_s * amplitude / fps
    speed = np.abs(np.diff(x))
    moving = np.nonzero(speed > 3 * still_speed)[0]
    if not moving.size:
        return x.size - 1
    began = int(moving[0])
    frames = max(2, round(still_s * fps))
    slow = speed[began:] < still_speed
    run = np.convolve(slow.astype(int), np.ones(frames, dtype=int), mode="valid")
    still = np.nonzero(run == frames)[0]
    return began + int(still[0]) if still.size else x.size - 1


def phase_time(signal: np.ndarray, fps: float, a: int, b: int, low: float = 0.1, high: float = 0.9) -> float:
    """Seconds the smoothed signal takes to travel from ``low`` to ``high`` of its change between frames a and
    b (a monotone-ish stretch); 0 if it does not change."""
    s = smooth(signal, fps)[a:b + 1]
    if s.size < 2 or abs(s[-1] - s[0]) < 1e-9:
        return 0.0
    frac = (s - s[0]) / (s[-1] - s[0])
    t_low = np.argmax(frac >= low)
    t_high = np.argmax(frac >= high)
    return max(0.0, (t_high - t_low) / fps)

"""A/B tests of AI features: deterministic assignment, exposure and outcome logging, a significance readout.

- **Assignment**: ``sha256("<salt>:<experiment>:<member_id>")``'s first 8 bytes as a number in [0, 1) against the
  arms' cumulative weights - the same member always gets the same arm, with no table lookup, and a new salt
  reshuffles everyone.
- **Exposure**: ``ab_exposures`` keeps a member's first exposure (time, arm, what was shown) and a counter; only
  what the member saw counts (staff looking at a member's page is not an exposure).
- **Outcome**: ``ab_outcomes`` keeps the first time an exposed member converted. For the recommendation experiment
  the outcome ``booked_recommended`` is derived from the platform's bookings: a booking, within ``window_days``
  after the first exposure, of a class that was among the recommended items.
- **Readout**: conversion per arm, the difference B - A with its 95 % confidence interval (unpooled standard
  error), the two-proportion z-test (pooled) p-value, the relative lift, a sample-ratio-mismatch check (chi-square
  of the arm counts against the weights) and a power note: the minimum detectable difference at 80 % power for the
  current sample size, and the sample per arm the observed difference would need.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from scipy.stats import chisquare, norm


@dataclass(frozen=True)
class Experiment:
    name: str
    arms: tuple[str, ...]
    weights: tuple[float, ...]
    salt: str
    outcome: str
    window_days: int
    description: str


EXPERIMENTS = {
    "rec-strategy": Experiment("rec-strategy", ("popularity", "model"), (0.5, 0.5), "gymchain-rec-2026",
                               "booked_recommended", 14,
                               "recommendations by popularity (A) against the EASE model (B); outcome: the member "
                               "books a recommended class within 14 days of first seeing the list"),
}


def unit_interval(experiment: str, member_id: int, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{experiment}:{int(member_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(experiment: Experiment, member_id: int) -> str:
    u = unit_interval(experiment.name, member_id, experiment.salt)
    edges = np.cumsum(experiment.weights) / sum(experiment.weights)
    return experiment.arms[int(np.searchsorted(edges, u, side="right"))]


def assign_many(experiment: Experiment, member_ids) -> np.ndarray:
    """``assign`` for many members at once (same result, vectorised lookup)."""
    u = np.array([unit_interval(experiment.name, m, experiment.salt) for m in member_ids])
    edges = np.cumsum(experiment.weights) / sum(experiment.weights)
    return np.asarray(experiment.arms)[np.searchsorted(edges, u, side="right")]


def log_exposure(conn, experiment: Experiment, member_id: int, unit_id: int | None, arm: str, at: datetime,
                 details: dict | None = None) -> None:
    """First exposure wins (time, arm, details); later ones only count."""
    conn.execute(sa.text("""
        INSERT INTO ab_exposures (experiment, member_id, unit_id, arm, first_exposed_at, details)
        VALUES (:e, :m, :u, :arm, :at, CAST(:details AS jsonb))
        ON CONFLICT (experiment, member_id) DO UPDATE SET exposures = ab_exposures.exposures + 1"""),
        {"e": experiment.name, "m": member_id, "u": unit_id, "arm": arm, "at": at,
         "details": json.dumps(details or {})})


def record_booked_recommended(conn, experiment: Experiment) -> int:
    """Outcome rows from the platform's bookings: a recommended class booked within the window; returns rows added."""
    result = conn.execute(sa.text("""
        INSERT INTO ab_outcomes (experiment, member_id, outcome, occurred_at, details)
        SELECT DISTINCT ON (x.member_id) x.experiment, x.member_id, :o, b.created_at,
               jsonb_build_object('booking_id', b.id, 'class', s.title)
        FROM ab_exposures x
        JOIN bookings b ON b.member_id = x.member_id AND b.status <> 'cancelled'
             AND b.created_at >= x.first_exposed_at
             AND b.created_at < x.first_exposed_at + make_interval(days => :days)
        JOIN class_sessions s ON s.id = b.class_id
        WHERE x.experiment = :e AND (x.details -> 'items') ? ('class:' || lower(trim(s.title)))
        ORDER BY x.member_id, b.created_at
        ON CONFLICT DO NOTHING"""), {"e": experiment.name, "o": experiment.outcome, "days": experiment.window_days})
    return result.rowcount


def readout_counts(exposed: dict[str, int], converted: dict[str, int], arms: tuple[str, str],
                   weights: tuple[float, ...] = (0.5, 0.5), alpha: float = 0.05, power: float = 0.8) -> dict:
    """Two-proportion comparison of arm B (``arms[1]``) against arm A (``arms[0]``)."""
    a, b = arms
    n_a, n_b, x_a, x_b = exposed.get(a, 0), exposed.get(b, 0), converted.get(a, 0), converted.get(b, 0)
    out = {"arms": {arm: {"exposed": exposed.get(arm, 0), "converted": converted.get(arm, 0),
                          "rate": (converted.get(arm, 0) / exposed[arm]) if exposed.get(arm) else None}
                    for arm in arms}}
    total = n_a + n_b
    if total:
        expected = np.array(weights[:2]) / sum(weights[:2]) * total
        out["sample_ratio_p"] = float(chisquare([n_a, n_b], expected).pvalue)
    if min(n_a, n_b) == 0:
        return out | {"verdict": "no data in one arm yet"}
    p_a, p_b = x_a / n_a, x_b / n_b
    diff = float(p_b - p_a)
    se = float(np.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b))
    pooled = (x_a + x_b) / total
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = diff / se0 if se0 > 0 else 0.0
    p_value = float(2 * norm.sf(abs(z)))
    zc, zp = norm.ppf(1 - alpha / 2), norm.ppf(power)
    mde = float((zc + zp) * np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b)))
    needed = (float(np.ceil((zc + zp) ** 2 * (p_a * (1 - p_a) + p_b * (1 - p_b)) / diff ** 2))
              if diff != 0 else None)
    significant = bool(p_value < alpha)
    return out | {
        "difference": diff, "ci95": [float(diff - zc * se), float(diff + zc * se)], "z": float(z), "p_value": p_value,
        "relative_lift": diff / p_a if p_a > 0 else None, "alpha": alpha, "significant": significant,
        "power_note": {"min_detectable_difference": mde, "power": power,
                       "n_per_arm_for_observed_difference": needed},
        "verdict": (f"{b} {'beats' if diff > 0 else 'loses to'} {a} (p = {p_value:.3g})" if significant else
                    f"no significant difference yet (p = {p_value:.3g}); with {min(n_a, n_b)} per arm only a "
                    f"difference of about {mde:.3f} or more would be detected 80 % of the time")}


def readout(db: sa.Engine, experiment: Experiment, unit_id: int | None = None) -> dict:
    """The experiment's readout from ``ab_exposures`` / ``ab_outcomes`` (recording new outcomes first)."""
    with db.begin() as conn:
        if experiment.outcome == "booked_recommended":
            record_booked_recommended(conn, experiment)
        where = " AND x.unit_id = :unit" if unit_id is not None else ""
        rows = conn.execute(sa.text(f"""
            SELECT x.arm, count(*) AS exposed, count(o.member_id) AS converted
            FROM ab_exposures x LEFT JOIN ab_outcomes o ON o.experiment = x.experiment
                 AND o.member_id = x.member_id AND o.outcome = :o
            WHERE x.experiment = :e{where} GROUP BY x.arm"""),
            {"e": experiment.name, "o": experiment.outcome, "unit": unit_id}).all()
    exposed = {r.arm: r.exposed for r in rows}
    converted = {r.arm: r.converted for r in rows}
    return {"experiment": experiment.name, "description": experiment.description, "outcome": experiment.outcome,
            "unit_id": unit_id} | readout_counts(exposed, converted, experiment.arms[:2], experiment.weights)


_ARMS: dict = {}


def _arms_of_first(experiment: Experiment, members: int) -> np.ndarray:
    key = (experiment, members)
    if key not in _ARMS:
        _ARMS.clear()
        _ARMS[key] = assign_many(experiment, range(1, members + 1))
    return _ARMS[key]


def simulate_experiment(members: int, rate_a: float, rate_b: float, seed: int = 0,
                        experiment: Experiment = EXPERIMENTS["rec-strategy"]) -> dict:
    """A simulated experiment with known true rates: hash assignment of ``members`` ids, Bernoulli outcomes."""
    rng = np.random.default_rng(seed)
    arms = _arms_of_first(experiment, members)
    true = np.where(arms == experiment.arms[0], rate_a, rate_b)
    converted = rng.random(members) < true
    exposed = {arm: int((arms == arm).sum()) for arm in experiment.arms}
    conv = {arm: int(converted[arms == arm].sum()) for arm in experiment.arms}
    return readout_counts(exposed, conv, experiment.arms[:2], experiment.weights) | {
        "true_difference": rate_b - rate_a, "members": members}

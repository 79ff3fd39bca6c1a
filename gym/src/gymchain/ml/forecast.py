"""Demand forecast per class type x unit x slot: a Poisson GLM (statsmodels) against seasonal-naive, MASE.

Demand of a session = booked + wait-listed. The GLM (log link) pools the chain's sessions:

    log mu = unit x type  +  type x start time  +  weekday  +  yearly Fourier (2 harmonics)  +  holiday

(the yearly terms only with at least a year of history)
so a type's hour profile is learned from every unit that held it at that time, the weekly pattern from the weekday
terms and the yearly one from the Fourier terms (calendar holidays are known in advance). Over-dispersion is
estimated afterwards (negative binomial alpha by moments) for the expected attendance ``E[min(D, capacity)]``.
Why a GLM and not ETS/Prophet per series: each series (unit, type, weekday, start) has one point a week, a year or
two of history and many series share the same yearly and weekday shape - one pooled count model estimates those
shapes from all of them, handles zero counts and holidays, and predicts cells the unit has not held yet when the
chain has held that type at that hour (``supported``). Only sessions strictly before the cutoff are read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .simulator import holidays

FOURIER = 2
MIN_YEARLY_DAYS = 364  # history needed before the yearly Fourier terms are used
SERIES = ["unit_id", "class_type", "weekday", "start_time"]


def with_slots(sessions: pd.DataFrame) -> pd.DataFrame:
    """Sessions with demand, weekday and start time (``HH:MM``) columns."""
    return sessions.assign(demand=sessions.booked + sessions.waitlisted, weekday=sessions.starts_at.dt.day_of_week,
                           start_time=sessions.starts_at.dt.strftime("%H:%M"))


def _holiday(days: pd.Series) -> np.ndarray:
    years = range(int(days.dt.year.min()), int(days.dt.year.max()) + 1) if len(days) else range(0)
    hol = {pd.Timestamp(d) for y in years for d in holidays(y)}
    return days.dt.normalize().isin(hol).to_numpy(float)


@dataclass
class DemandForecast:
    columns: list[str]
    params: np.ndarray
    alpha: float
    cutoff: pd.Timestamp
    rows: int
    reference: dict[str, str]  # type -> its reference start time
    seconds: float = 0.0

    def design(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Design matrix of ``frame`` (unit_id, class_type, starts_at) and a mask of the supported rows."""
        return _design(frame, self.columns, self.reference)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Mean demand per row; NaN where the model has no data (a unit x type or type x start never held)."""
        x, ok = self.design(frame)
        mean = np.exp(np.clip(x @ self.params, -20, 20))
        return np.where(ok, mean, np.nan)


def _design(frame: pd.DataFrame, columns: list[str], reference: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    frame = frame.reset_index(drop=True)
    index = {c: i for i, c in enumerate(columns)}
    x = np.zeros((len(frame), len(columns)))
    rows = np.arange(len(frame))
    ok = np.ones(len(frame), dtype=bool)
    start = frame.starts_at.dt.strftime("%H:%M")
    ut = "ut:" + frame.unit_id.astype(str) + ":" + frame.class_type
    ts = "ts:" + frame.class_type + ":" + start
    for keys, required in ((ut, True), (ts, False)):
        pos = keys.map(index)
        known = pos.notna().to_numpy()
        x[rows[known], pos[known].astype(int).to_numpy()] = 1.0
        if required:
            ok &= known
        else:  # the reference start of the type has no column; any other start must have one
            ok &= known | (start == frame.class_type.map(reference)).to_numpy()
    weekday = frame.starts_at.dt.day_of_week
    for d in range(7):
        if f"wd:{d}" in index:
            x[:, index[f"wd:{d}"]] = (weekday == d).to_numpy(float)
        elif str(d) != reference.get("__weekday__"):
            ok &= (weekday != d).to_numpy()
    doy = frame.starts_at.dt.day_of_year.to_numpy(float)
    for j in range(1, FOURIER + 1):
        if f"sin{j}" in index:
            x[:, index[f"sin{j}"]] = np.sin(2 * np.pi * j * doy / 365.25)
            x[:, index[f"cos{j}"]] = np.cos(2 * np.pi * j * doy / 365.25)
    x[:, index["holiday"]] = _holiday(frame.starts_at)
    return x, ok


def fit_forecast(sessions: pd.DataFrame, cutoff: pd.Timestamp) -> DemandForecast:
    """Fit on sessions that started strictly before ``cutoff`` (nothing later is read)."""
    import time

    t0 = time.perf_counter()
    cutoff = pd.Timestamp(cutoff)
    train = with_slots(sessions[sessions.starts_at < cutoff])
    if len(train) < 50:
        raise ValueError(f"only {len(train)} class sessions before {cutoff.date()}; the forecast needs at least 50")
    ut = sorted(set("ut:" + train.unit_id.astype(str) + ":" + train.class_type))
    counts = train.groupby(["class_type", "start_time"]).size()
    reference = {k: counts[k].idxmax() for k in counts.index.get_level_values(0).unique()}
    ts = sorted(f"ts:{k}:{s}" for k, s in counts.index if reference[k] != s)
    reference["__weekday__"] = str(int(train.weekday.min()))  # Monday unless the history has none
    weekdays = sorted(set(train.weekday) - {int(train.weekday.min())})
    # a yearly shape needs a year of history: with less, the Fourier terms extrapolate wildly (seen on 20 weeks)
    span_days = (train.starts_at.max() - train.starts_at.min()).days
    harmonics = FOURIER if span_days >= MIN_YEARLY_DAYS else 0
    columns = ut + ts + [f"wd:{d}" for d in weekdays] + [f"{f}{j}" for j in range(1, harmonics + 1)
                                                         for f in ("sin", "cos")] + ["holiday"]
    x, _ok = _design(train, columns, reference)
    y = train.demand.to_numpy(float)
    keep = _independent_columns(x)
    xk = x[:, keep]
    # start from each unit x type's mean (its columns act as intercepts), so Newton needs no initial WLS fit; the
    # unit x type dummies sum to one, an implicit constant (statsmodels would otherwise look for one with an SVD
    # of the whole design - minutes at 100k members)
    start = np.zeros(len(keep))
    for i, column in enumerate(np.asarray(columns)[keep]):
        if column.startswith("ut:"):
            start[i] = np.log(max(y[xk[:, i] > 0].mean(), 0.1))
    result = _FullRankGLM(y, xk, family=sm.families.Poisson(), hasconst=True).fit(
        method="newton", start_params=start, maxiter=100, disp=0)
    params = np.zeros(x.shape[1])
    params[keep] = np.asarray(result.params)
    mu = np.exp(x @ params)
    alpha = max(0.0, float(((y - mu) ** 2 - mu).sum() / (mu**2).sum()))
    return DemandForecast(columns, params, alpha, cutoff, len(train), reference, time.perf_counter() - t0)


class _FullRankGLM(sm.GLM):
    """statsmodels' GLM for a design whose columns are known to be independent (``_independent_columns``): the
    rank is the column count, instead of an SVD of the whole design (about a minute at 100k members)."""

    def initialize(self) -> None:
        self.df_model = self.exog.shape[1] - 1
        self.wnobs = self.exog.shape[0]
        self.df_resid = self.exog.shape[0] - self.df_model - 1


def _independent_columns(x: np.ndarray) -> np.ndarray:
    """Columns of ``x`` that are linearly independent (rank-revealing QR of the Gram matrix): a type held at one
    start only on Saturdays makes its start column equal to the Saturday column, and Newton's Hessian singular."""
    from scipy.linalg import qr

    gram = x.T @ x
    _q, r, pivot = qr(gram, pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int((diag > diag[0] * 1e-9).sum()) if diag.size else 0
    return np.sort(pivot[:rank])


def expected_attendance(mean: np.ndarray, capacity: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """E[min(D, capacity)] and E[max(D - capacity, 0)] for D negative binomial (Poisson when alpha = 0)."""
    mean = np.asarray(mean, float)
    capacity = np.asarray(capacity, int)
    j = np.arange(int(capacity.max()) if capacity.size else 0)
    if alpha > 1e-9:
        n = 1.0 / alpha
        cdf = stats.nbinom.cdf(j[None, :], n, n / (n + mean[:, None]))
    else:
        cdf = stats.poisson.cdf(j[None, :], mean[:, None])
    served = ((1 - cdf) * (j[None, :] < capacity[:, None])).sum(axis=1)
    return served, mean - served


def seasonal_naive(sessions: pd.DataFrame, cutoff: pd.Timestamp, targets: pd.DataFrame,
                   season_weeks: int = 1) -> np.ndarray:
    """Per target session: demand of the same series (unit, type, weekday, start) ``season_weeks`` weeks before,
    or, when that falls on or after the cutoff, the last observed season before the cutoff (the standard
    seasonal-naive forecast for horizons beyond one season). NaN when there is no such session."""
    cutoff = pd.Timestamp(cutoff)
    train = with_slots(sessions[sessions.starts_at < cutoff])
    targets = with_slots(targets)
    lag = pd.Timedelta(weeks=season_weeks)
    back = np.ceil(((targets.starts_at - cutoff) / lag).clip(lower=0) + 1e-9).astype(int).clip(lower=1)
    source = targets.starts_at - back * lag
    lookup = train.set_index(["unit_id", "class_type", "starts_at"]).demand
    lookup = lookup[~lookup.index.duplicated()]
    key = pd.MultiIndex.from_arrays([targets.unit_id, targets.class_type, source])
    return lookup.reindex(key).to_numpy(float)


def mase(sessions: pd.DataFrame, cutoff: pd.Timestamp, held: pd.DataFrame, forecasts: dict[str, np.ndarray]
         ) -> dict[str, dict]:
    """MASE per method: per series, held-out MAE over the in-sample MAE of the one-week naive forecast, then the
    mean and median over series. Sessions where any method has no forecast are left out for every method."""
    cutoff = pd.Timestamp(cutoff)
    train = with_slots(sessions[sessions.starts_at < cutoff]).sort_values("starts_at")
    train["prev"] = train.groupby(SERIES).demand.shift(1)
    train["gap"] = train.groupby(SERIES).starts_at.diff()
    steps = train[train.gap == pd.Timedelta(weeks=1)]
    scale = (steps.demand - steps.prev).abs().groupby([steps[c] for c in SERIES]).mean()
    held = with_slots(held).reset_index(drop=True)
    usable = np.all([np.isfinite(f) for f in forecasts.values()], axis=0)
    key = pd.MultiIndex.from_frame(held[SERIES])
    s = scale.reindex(key).to_numpy()
    usable &= np.isfinite(s) & (s > 0)
    out = {}
    for name, f in forecasts.items():
        err = pd.Series(np.abs(held.demand.to_numpy() - f)[usable])
        per_series = (err / s[usable]).groupby([held[c][usable].to_numpy() for c in SERIES]).mean()
        out[name] = {"mase_mean": round(float(per_series.mean()), 4), "mase_median": round(float(per_series.median()), 4),
                     "mae": round(float(err.mean()), 3), "sessions": int(usable.sum()), "series": len(per_series)}
    return out


def evaluate_forecast(sessions: pd.DataFrame, cutoff: pd.Timestamp, horizon_weeks: int = 12
                      ) -> tuple[dict, DemandForecast, pd.DataFrame, dict[str, np.ndarray]]:
    """Fit before ``cutoff``, forecast the next ``horizon_weeks``; MASE of the GLM, seasonal-naive (last week) and
    yearly seasonal-naive (52 weeks back) on the same sessions. Returns (summary, model, held-out sessions,
    forecasts)."""
    cutoff = pd.Timestamp(cutoff)
    model = fit_forecast(sessions, cutoff)
    held = sessions[(sessions.starts_at >= cutoff) & (sessions.starts_at < cutoff + pd.Timedelta(weeks=horizon_weeks))]
    held = held.reset_index(drop=True)
    forecasts = {"glm": model.predict(held), "seasonal_naive_week": seasonal_naive(sessions, cutoff, held, 1),
                 "seasonal_naive_year": seasonal_naive(sessions, cutoff, held, 52)}
    both = mase(sessions, cutoff, held, {k: forecasts[k] for k in ("glm", "seasonal_naive_week")})
    three = mase(sessions, cutoff, held, forecasts)
    return {"cutoff": str(cutoff.date()), "horizon_weeks": horizon_weeks, "train_sessions": model.rows,
            "held_out_sessions": len(held), "parameters": len(model.params), "alpha": round(model.alpha, 4),
            "fit_seconds": round(model.seconds, 2), "mase": both, "mase_with_yearly_naive": three}, model, held, forecasts

"""Behavioural simulator of a gym chain with known ground truth (documented in gym/docs/analytics.md).

Week by week, vectorised over members with numpy: joins (seasonal, boosted by campaigns), a latent engagement per
member (segment-specific drift plus noise), visits (Poisson on engagement x yearly season, spread over weekdays with
holidays), class bookings (some land on the wait-list when the unit's classes are crowded), price increases, and a
weekly churn hazard whose drivers are known exactly (``TRUE_DRIVERS``). The output is the tabular schema of
``gymchain.ml.schema`` (pandas DataFrames) - the same tables a real chain's export fills - plus a ``truth`` table
(segment, churn date) that only evaluation code reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

SEGMENTS = ("regular", "class_lover", "casual", "resolution")
# per segment: share of joins, visits/week at engagement 1, class bookings/week, engagement drift/week,
# base weekly churn logit, preferred visit hour
SEGMENT_PARAMS = {
    "regular": (0.35, 3.2, 0.3, -0.002, -6.2, 18.5),
    "class_lover": (0.25, 2.0, 2.2, -0.004, -5.9, 19.0),
    "casual": (0.25, 1.2, 0.2, -0.010, -5.2, 12.0),
    "resolution": (0.15, 3.0, 0.8, -0.045, -5.5, 7.5),
}
# true effects on the weekly churn logit (see docs/analytics.md)
TRUE_EFFECTS = {
    "engagement_decline": 3.0,   # x (1 - engagement), engagement clipped to [0, 1.5]
    "early_tenure": 0.9,         # tenure under 13 weeks
    "annual_contract": -1.3,     # annual contracts (monthly = 0)
    "price_increase": 1.1,       # in the 8 weeks after a price increase
    "waitlisted_recent": 0.35,   # per wait-listed booking in the last 4 weeks, capped at 4
    "campaign_join": 0.4,        # joined during a campaign
    "december": 0.3,             # weeks in December
}
# the features each true driver shows up in (used by the SHAP check)
TRUE_DRIVERS = {
    "engagement_decline": {"visits_28d", "visits_prev_28d", "visits_baseline_28d", "visit_trend", "days_since_last_visit", "visits_7d",
                           "visits_84d", "bookings_28d"},
    "early_tenure": {"tenure_days"},
    "annual_contract": {"contract_annual"},
    "price_increase": {"price_increase_56d", "price_change_pct", "monthly_price"},
    "waitlisted_recent": {"waitlisted_28d", "waitlist_share_28d"},
    "campaign_join": {"joined_in_campaign"},
}
PLANS = [  # plan_code, contract_type, monthly_price, weekly_class_limit (0 = none)
    ("BASIC-M", "monthly", 99.9, 2),
    ("PLUS-M", "monthly", 149.9, 0),
    ("PLUS-A", "annual", 119.9, 0),
]
CLASS_TYPES = ("spinning", "yoga", "functional", "pilates", "dance")
# member taste (recommendations' ground truth): three latent dimensions (cardio/dance, mind-body, strength); a
# member's taste is the segment's mean plus N(0, TASTE_SD); an offering's appeal is taste . loading + its base
TASTE_SD = 0.8
SEGMENT_TASTE = {"regular": (0.0, -0.3, 1.0), "class_lover": (0.6, 0.6, 0.0), "casual": (0.3, 0.5, -0.3),
                 "resolution": (0.8, -0.2, 0.6)}
CLASS_LOADINGS = {"spinning": (1.5, 0.0, 0.3), "yoga": (0.0, 1.6, 0.0), "functional": (0.3, 0.0, 1.5),
                  "pilates": (0.0, 1.3, 0.4), "dance": (1.3, 0.2, 0.0)}
CLASS_TASTE_SHARE = 0.75  # share of bookings whose class type follows the member's taste (the rest: uniform)
# service: (loading, base appeal); bought Poisson(SERVICE_RATE x engagement) times a week
SERVICES = {"personal_training": ((0.0, 0.0, 1.4), 0.6), "nutrition": ((0.4, 0.2, 0.8), 0.6),
            "physiotherapy": ((0.0, 1.0, 0.2), 0.0), "massage": ((0.0, 1.2, 0.0), 0.3),
            "body_assessment": ((0.3, 0.3, 0.6), 1.0), "swim_lessons": ((1.0, 0.4, 0.0), 0.0),
            "running_club": ((1.4, 0.0, 0.2), 0.2), "meditation": ((0.0, 1.5, 0.0), -0.2),
            "boxing": ((0.8, 0.0, 1.0), 0.0), "outdoor_cycling": ((1.5, 0.0, 0.0), -0.2),
            "stretching": ((0.0, 1.0, 0.3), 0.2), "supplements": ((0.2, 0.0, 1.2), 0.3)}
SERVICE_RATE = 0.08
WEEKDAY_WEIGHTS = np.array([1.25, 1.2, 1.15, 1.1, 0.95, 0.55, 0.35])  # Monday..Sunday
BR_FIXED_HOLIDAYS = ((1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (11, 20), (12, 25))


@dataclass(frozen=True)
class SimConfig:
    members: int = 10_000
    units: int = 5
    start: date = date(2025, 1, 6)  # a Monday
    weeks: int = 78
    seed: int = 7
    initial_share: float = 0.4  # members already in the chain at the start
    # (date, increase, unit parity): monthly contracts of odd (1) or even (0) units get the increase
    price_increases: tuple[tuple[date, float, int], ...] = ((date(2025, 9, 1), 0.12, 1), (date(2026, 3, 2), 0.10, 0))
    effects: tuple[tuple[str, float], ...] = ()  # overrides of TRUE_EFFECTS, e.g. (("annual_contract", 0.0),)
    campaigns: tuple[tuple[str, date, date, float], ...] = (
        ("verao-2025", date(2025, 1, 6), date(2025, 2, 2), 0.8),
        ("inverno-2025", date(2025, 7, 7), date(2025, 7, 27), 0.6),
        ("verao-2026", date(2026, 1, 5), date(2026, 2, 1), 0.8),
    )


def yearly_season(d: np.ndarray | date) -> np.ndarray:
    """Attendance multiplier by day of year: a January peak, a July dip, a December low."""
    doy = np.asarray(pd.DatetimeIndex(np.atleast_1d(np.asarray(d, dtype="datetime64[D]"))).day_of_year)
    return 1.0 + 0.18 * np.cos(2 * np.pi * (doy - 20) / 365.25) - 0.08 * np.exp(-((doy - 355) / 10.0) ** 2)


def holidays(year: int) -> set[date]:
    """Brazilian national holidays (fixed ones plus Carnival Monday/Tuesday and Good Friday from Easter)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ll = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ll) // 451
    month, day = divmod(h + ll - 7 * m + 114, 31)
    easter = date(year, month, day + 1)
    moving = {easter - timedelta(days=2), easter - timedelta(days=47), easter - timedelta(days=48)}
    return {date(year, mo, dd) for mo, dd in BR_FIXED_HOLIDAYS} | moving


def simulate(config: SimConfig = SimConfig()) -> dict[str, pd.DataFrame]:
    """Run the simulation; returns the schema tables plus ``truth``."""
    rng = np.random.default_rng(config.seed)
    n = config.members
    seg_names = list(SEGMENT_PARAMS)
    params = np.array([SEGMENT_PARAMS[s] for s in seg_names])
    segment = rng.choice(len(seg_names), size=n, p=params[:, 0] / params[:, 0].sum())
    unit = rng.integers(1, config.units + 1, size=n)
    unit_crowding = rng.uniform(0.05, 0.35, size=config.units + 1)  # chance a booking is wait-listed, off-peak

    # joins: the first share before the start (tenure up to 3 years), the rest over the weeks
    week_starts = np.array([config.start + timedelta(weeks=w) for w in range(config.weeks)], dtype="datetime64[D]")
    n_initial = int(n * config.initial_share)
    campaign_boost = np.ones(config.weeks)
    campaign_of_week = np.full(config.weeks, -1)
    for c, (_, c_start, c_end, boost) in enumerate(config.campaigns):
        inside = (week_starts >= np.datetime64(c_start)) & (week_starts <= np.datetime64(c_end))
        campaign_boost[inside] += boost
        campaign_of_week[inside] = c
    join_weight = campaign_boost * yearly_season(week_starts) ** 3
    join_week = np.full(n, -1)
    join_week[n_initial:] = rng.choice(config.weeks, size=n - n_initial, p=join_weight / join_weight.sum())
    # resolution members join in January / campaigns: re-draw their join week among January weeks
    january = np.flatnonzero(pd.DatetimeIndex(week_starts).month == 1)
    late_res = (segment == seg_names.index("resolution")) & (join_week >= 0)
    join_week[late_res] = rng.choice(january, size=int(late_res.sum()))
    join_day = np.where(join_week >= 0, week_starts[np.maximum(join_week, 0)] + rng.integers(0, 7, size=n),
                        np.datetime64(config.start) - rng.integers(14, 3 * 365, size=n))
    joined_in_campaign = (join_week >= 0) & (campaign_of_week[np.maximum(join_week, 0)] >= 0)

    plan = np.where(rng.random(n) < np.where(segment == seg_names.index("regular"), 0.45, 0.2), 2,
                    np.where(segment == seg_names.index("class_lover"), 1, rng.integers(0, 2, size=n)))
    annual = np.array([p[1] == "annual" for p in PLANS])[plan]
    base_price = np.array([p[2] for p in PLANS])[plan] * rng.uniform(0.9, 1.05, size=n)
    # each price increase hits monthly contracts of odd- or even-numbered units (a natural experiment)
    increased = [(~annual) & (unit % 2 == parity) for _, _, parity in config.price_increases]

    visit_rate = params[segment, 1] * rng.lognormal(0, 0.3, size=n)
    class_rate = params[segment, 2] * rng.lognormal(0, 0.3, size=n)
    drift = params[segment, 3]
    base_logit = params[segment, 4] + rng.normal(0, 0.3, size=n)
    engagement = np.clip(rng.normal(1.0, 0.1, size=n), 0.5, 1.5)
    # members who joined long ago have settled: their engagement starts near their long-run level
    pre = join_week < 0
    engagement[pre] = np.clip(engagement[pre] - rng.uniform(0, 0.2, size=int(pre.sum())), 0.4, 1.5)

    # taste draws use their own generator, so the main stream (and every churn/visit number) does not depend on them
    trng = np.random.default_rng([config.seed, 2])
    taste = np.array([SEGMENT_TASTE[s] for s in seg_names])[segment] + trng.normal(0, TASTE_SD, size=(n, 3))
    class_logits = taste @ np.array([CLASS_LOADINGS[c] for c in CLASS_TYPES]).T
    service_logits = (taste @ np.array([v[0] for v in SERVICES.values()]).T
                      + np.array([v[1] for v in SERVICES.values()]))
    services_out = []

    active = np.zeros(n, dtype=bool)
    churn_day = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    wait_hist = np.zeros((4, n))
    visits_out, bookings_out = [], []
    hol = set().union(*(holidays(y) for y in range(config.start.year, config.start.year + config.weeks // 52 + 2)))
    eff = TRUE_EFFECTS | dict(config.effects)
    for w in range(config.weeks):
        ws = week_starts[w]
        active |= join_week == w
        if w == 0:
            active |= pre
        idx = np.flatnonzero(active)
        engagement[idx] = np.clip(engagement[idx] + drift[idx] + rng.normal(0, 0.05, size=idx.size), 0.0, 1.5)
        days = ws + np.arange(7)
        day_w = WEEKDAY_WEIGHTS * np.array([0.3 if d.astype(object) in hol else 1.0 for d in days])
        season = float(yearly_season(ws)[0])
        expected = visit_rate[idx] * engagement[idx] * season * day_w.sum() / WEEKDAY_WEIGHTS.sum()
        n_visits = rng.poisson(expected)
        if n_visits.sum():
            who = np.repeat(idx, n_visits)
            day = rng.choice(7, size=who.size, p=day_w / day_w.sum())
            hour = np.clip(rng.normal(params[segment[who], 5], 2.0), 6, 22)
            visited = ws + day.astype("timedelta64[D]")
            ok = visited >= join_day[who]
            visits_out.append((who[ok], unit[who[ok]], visited[ok], hour[ok]))
        n_book = rng.poisson(class_rate[idx] * engagement[idx] * season)
        crowd = np.clip(unit_crowding[unit[idx]] * season ** 4, 0, 0.8)
        n_wait = rng.binomial(n_book, crowd)
        if n_book.sum():
            who = np.repeat(idx, n_book)
            position = np.arange(who.size) - np.repeat(np.cumsum(n_book) - n_book, n_book)
            waited = position < np.repeat(n_wait, n_book)
            day = rng.choice(7, size=who.size, p=WEEKDAY_WEIGHTS / WEEKDAY_WEIGHTS.sum())
            kind = rng.integers(0, len(CLASS_TYPES), size=who.size)
            by_taste = trng.random(who.size) < CLASS_TASTE_SHARE
            kind[by_taste] = _softmax_draw(trng, class_logits[who[by_taste]])
            starts = ws + day.astype("timedelta64[D]")
            ok = starts >= join_day[who]
            bookings_out.append((who[ok], unit[who[ok]], kind[ok], starts[ok], waited[ok]))
        n_serv = trng.poisson(SERVICE_RATE * engagement[idx])
        if n_serv.sum():
            who = np.repeat(idx, n_serv)
            bought = ws + trng.integers(0, 7, size=who.size).astype("timedelta64[D]")
            ok = bought >= join_day[who]
            services_out.append((who[ok], _softmax_draw(trng, service_logits[who[ok]]), bought[ok]))
        wait_hist = np.roll(wait_hist, 1, axis=0)
        wait_hist[0] = 0
        wait_hist[0, idx] = n_wait

        tenure_weeks = (ws - join_day[idx]).astype(int) / 7
        raised_now = np.zeros(idx.size, dtype=bool)
        for (on, _, _), hit in zip(config.price_increases, increased, strict=True):
            if np.datetime64(on) <= ws < np.datetime64(on) + np.timedelta64(56, "D"):
                raised_now |= hit[idx] & (join_day[idx] < np.datetime64(on))
        logit = (base_logit[idx]
                 + eff["engagement_decline"] * (1 - np.minimum(engagement[idx], 1.0))
                 + eff["early_tenure"] * (tenure_weeks < 13)
                 + eff["annual_contract"] * annual[idx]
                 + eff["price_increase"] * raised_now
                 + eff["waitlisted_recent"] * np.minimum(wait_hist[:, idx].sum(axis=0), 4)
                 + eff["campaign_join"] * joined_in_campaign[idx]
                 + eff["december"] * (pd.Timestamp(ws).month == 12))
        leaving = idx[rng.random(idx.size) < 1 / (1 + np.exp(-logit))]
        churn_day[leaving] = ws + rng.integers(0, 7, size=leaving.size)
        active[leaving] = False
    tables = _tables(config, rng, segment, unit, join_day, plan, annual, base_price, increased, churn_day,
                     joined_in_campaign, join_week, visits_out, bookings_out)
    tables["service_purchases"] = _service_table(services_out, unit, churn_day, tables["members"].member_id)
    tables["truth"]["taste"] = list(taste[tables["truth"].member_id.to_numpy() - 1].round(3))
    return tables


def _softmax_draw(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One category per row, with probabilities softmax(row)."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((cdf < rng.random((len(logits), 1))).sum(axis=1), logits.shape[1] - 1)


def _service_table(services_out, unit, churn_day, members: pd.Series) -> pd.DataFrame:
    """Optional table ``service_purchases`` (member_id, unit_id, service, bought_at): extra services bought."""
    if not services_out:
        return pd.DataFrame({"member_id": pd.Series(dtype="int64"), "unit_id": pd.Series(dtype="int64"),
                             "service": pd.Series(dtype=object), "bought_at": pd.Series(dtype="datetime64[ns]")})
    who, kind, day = (np.concatenate(x) for x in zip(*services_out, strict=True))
    keep = ~(day >= churn_day[who]) & np.isin(who + 1, members.to_numpy())
    frame = pd.DataFrame({"member_id": who[keep] + 1, "unit_id": unit[who[keep]],
                          "service": np.array(list(SERVICES), dtype=object)[kind[keep]],
                          "bought_at": day[keep].astype("datetime64[ns]") + np.timedelta64(10, "h")})
    return frame.sort_values("bought_at", kind="stable").reset_index(drop=True)


def _tables(config, rng, segment, unit, join_day, plan, annual, base_price, increased, churn_day,
            joined_in_campaign, join_week, visits_out, bookings_out) -> dict[str, pd.DataFrame]:
    n = segment.size
    member_id = np.arange(1, n + 1)
    end = np.datetime64(config.start) + np.timedelta64(7 * config.weeks, "D")
    started = join_day < end
    members = pd.DataFrame({"member_id": member_id, "unit_id": unit, "joined_on": join_day})[started]
    week_starts = np.datetime64(config.start) + 7 * np.maximum(join_week, 0).astype("timedelta64[D]")
    campaign = np.array([_campaign_at(config, d) for d in week_starts.astype(object)], dtype=object)
    contracts = pd.DataFrame({
        "contract_id": member_id, "member_id": member_id, "unit_id": unit,
        "plan_code": np.array([p[0] for p in PLANS])[plan], "contract_type": np.where(annual, "annual", "monthly"),
        "starts_on": join_day, "cancelled_on": churn_day,
        "campaign": np.where(joined_in_campaign, campaign, None)})[started]
    price_rows = [pd.DataFrame({"contract_id": member_id, "effective_from": join_day,
                                "monthly_price": np.round(base_price, 2)})]
    price = base_price.copy()
    for (on, pct, _), hit in zip(config.price_increases, increased, strict=True):
        raised = hit & (join_day < np.datetime64(on)) & (np.isnat(churn_day) | (churn_day > np.datetime64(on)))
        price[raised] *= 1 + pct
        price_rows.append(pd.DataFrame({"contract_id": member_id[raised], "effective_from": np.datetime64(on),
                                        "monthly_price": np.round(price[raised], 2)}))
    prices = pd.concat(price_rows, ignore_index=True)
    prices = prices[prices.contract_id.isin(contracts.contract_id)]
    who, vunit, vday, hour = (np.concatenate(x) for x in zip(*visits_out, strict=True))
    visits = pd.DataFrame({"member_id": member_id[who], "unit_id": vunit,
                           "visited_at": vday.astype("datetime64[s]") + (hour * 3600).astype("timedelta64[s]")})
    visits = visits[~(visits.visited_at.values.astype("datetime64[D]") >= churn_day[who])].sort_values("visited_at")
    bwho, bunit, kind, bday, waited = (np.concatenate(x) for x in zip(*bookings_out, strict=True))
    bookings = pd.DataFrame({"member_id": member_id[bwho], "unit_id": bunit,
                             "class_type": np.array(CLASS_TYPES)[kind],
                             "class_starts_at": bday.astype("datetime64[s]") + np.timedelta64(18, "h"),
                             "status": np.where(waited, "waitlisted", "booked")})
    bookings = bookings[~(bday >= churn_day[bwho])].sort_values("class_starts_at")
    units = pd.DataFrame({"unit_id": np.arange(1, config.units + 1),
                          "name": [f"Unidade {i}" for i in range(1, config.units + 1)]})
    plans = pd.DataFrame(PLANS, columns=["plan_code", "contract_type", "list_price", "weekly_class_limit"])
    campaigns = pd.DataFrame([(c[0], c[1], c[2]) for c in config.campaigns],
                             columns=["campaign", "starts_on", "ends_on"])
    truth = pd.DataFrame({"member_id": member_id, "segment": np.array(SEGMENTS)[segment],
                          "churned_on": churn_day})[started]
    return {"units": units.reset_index(drop=True), "plans": plans, "campaigns": campaigns,
            "members": members.reset_index(drop=True), "contracts": contracts.reset_index(drop=True),
            "contract_prices": prices.reset_index(drop=True), "visits": visits.reset_index(drop=True),
            "bookings": bookings.reset_index(drop=True), "truth": truth.reset_index(drop=True)}


def _campaign_at(config: SimConfig, day: date) -> str | None:
    for name, start, end, _ in config.campaigns:
        if start <= day <= end:
            return name
    return None

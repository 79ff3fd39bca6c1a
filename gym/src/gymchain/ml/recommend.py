"""Recommendations of classes, services and plans per member: EASE and item-kNN against a popularity baseline.

Interactions are implicit feedback from the analytics schema: class bookings (``class:<type>``), the optional
``service_purchases`` table (``service:<name>``) and contract starts (``plan:<code>``). The split is by time: the
models see interactions strictly before the split date; the held-out truth is, per member, the classes and services
they took in the following window **that they had not taken before** (discovery, the useful case: recommending what
a member already does is trivial). Metrics are recall@k (hits / held-out items) and NDCG@k with binary relevance.

- ``popularity``: items ranked by how many members took them in the last 180 days of training (the baseline).
- ``ease``: Steck's EASE (2019), a closed-form item-item ridge regression on the member x item matrix
  (log1p counts); ``B = -P / diag(P)`` with ``P = (X'X + lambda I)^-1`` and a zero diagonal.
- ``itemknn``: cosine similarity between item columns, the classic item-based collaborative filter.

A member's score for item i is ``sum_j x_j B_ji``; the reason given is the member's item j contributing most
("members who take yoga also take meditation"). Popularity breaks ties (and ranks for members with no history).
Saved as ``weights.safetensors`` (the matrices) plus ``model.json`` (items, kind, metrics); never pickle.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

KINDS = ("popularity", "ease", "itemknn")
ITEM_RE = re.compile(r"^(class|service|plan):[\w .\-áéíóúâêôãõçà]{1,80}$", re.IGNORECASE)


class RecommenderFileError(ValueError):
    """A saved recommender cannot be loaded; one line naming the file."""


def item_name(kind: str, label: str) -> str:
    return f"{kind}:{str(label).strip().lower()}"


def interactions(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (member_id, unit_id, item, at) from bookings, service purchases and contract starts."""
    bookings = tables["bookings"][tables["bookings"].status != "cancelled"]
    parts = [pd.DataFrame({"member_id": bookings.member_id, "unit_id": bookings.unit_id,
                           "item": "class:" + bookings.class_type.astype(str).str.strip().str.lower(),
                           "at": bookings.class_starts_at})]
    services = tables.get("service_purchases")
    if services is not None and len(services):
        parts.append(pd.DataFrame({"member_id": services.member_id, "unit_id": services.unit_id,
                                   "item": "service:" + services.service.astype(str).str.strip().str.lower(),
                                   "at": services.bought_at}))
    contracts = tables["contracts"]
    parts.append(pd.DataFrame({"member_id": contracts.member_id, "unit_id": contracts.unit_id,
                               "item": "plan:" + contracts.plan_code.astype(str).str.strip().str.lower(),
                               "at": contracts.starts_on}))
    out = pd.concat(parts, ignore_index=True)
    out["at"] = pd.to_datetime(out["at"])
    return out.sort_values("at", kind="stable").reset_index(drop=True)


@dataclass
class Recommender:
    kind: str
    items: list[str]
    popularity: np.ndarray  # per item, share of members who took it recently
    weights: np.ndarray | None = None  # item x item (None for popularity)
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    def matrix(self, history: pd.DataFrame, members: np.ndarray) -> np.ndarray:
        """The member x item matrix of log1p(counts) for ``members`` (items outside the catalogue ignored)."""
        index = {item: i for i, item in enumerate(self.items)}
        known = history[history.item.isin(index) & history.member_id.isin(members)]
        rows = np.searchsorted(members, known.member_id.to_numpy())
        cols = known.item.map(index).to_numpy()
        x = np.zeros((len(members), len(self.items)))
        np.add.at(x, (rows, cols), 1.0)
        return np.log1p(x)

    def scores(self, x: np.ndarray) -> np.ndarray:
        tie = 1e-6 * self.popularity / max(self.popularity.max(), 1e-12)
        if self.weights is None:
            return np.broadcast_to(self.popularity, x.shape).copy()
        return x @ self.weights + tie

    def recommend(self, x: np.ndarray, k: int = 5, item_prefixes: tuple[str, ...] = ("class:", "service:"),
                  exclude_seen: bool = True) -> list[list[dict]]:
        """Per row of ``x``, the top ``k`` items (of the given kinds) with a score and a short reason."""
        s = self.scores(x)
        allowed = np.array([it.startswith(item_prefixes) for it in self.items])
        s = np.where(allowed, s, -np.inf)
        if exclude_seen:
            s = np.where(x > 0, -np.inf, s)
        out = []
        for row, values in zip(x, s, strict=True):
            order = [i for i in np.argsort(-values, kind="stable")[:k] if np.isfinite(values[i])]
            out.append([{"item": self.items[i], "score": round(float(values[i]), 5),
                         "reason": self.reason(row, i)} for i in order])
        return out

    def reason(self, row: np.ndarray, i: int) -> str:
        if self.weights is not None and row.any():
            contrib = row * self.weights[:, i]
            j = int(np.argmax(contrib))
            if contrib[j] > 0:
                return f"members who take {label(self.items[j])} also take {label(self.items[i])}"
        return f"popular: {self.popularity[i]:.0%} of members took {label(self.items[i])} recently"


def label(item: str) -> str:
    kind, _, name = item.partition(":")
    return f"the {name} plan" if kind == "plan" else name.replace("_", " ")


def split(inter: pd.DataFrame, at: pd.Timestamp, window_days: int = 56) -> tuple[pd.DataFrame, dict[int, set]]:
    """Training interactions (before ``at``) and the held-out truth: per member with training history, the
    classes/services first taken in ``[at, at + window)``."""
    at = pd.Timestamp(at)
    train = inter[inter["at"] < at]
    test = inter[(inter["at"] >= at) & (inter["at"] < at + pd.Timedelta(days=window_days))
                 & ~inter.item.str.startswith("plan:")]
    seen = train.groupby("member_id").item.agg(set)
    truth: dict[int, set] = {}
    for member, items in test.groupby("member_id").item.agg(set).items():
        if member in seen.index:
            new = items - seen[member]
            if new:
                truth[int(member)] = new
    return train, truth


def fit(train: pd.DataFrame, kind: str = "ease", lam: float = 50.0, recent_days: int = 180,
        min_members: int = 5) -> Recommender:
    """Fit one recommender on training interactions (items taken by fewer than ``min_members`` are dropped)."""
    if kind not in KINDS:
        raise ValueError(f"recommender kind {kind!r}: expected one of {', '.join(KINDS)}")
    if train.empty:
        raise ValueError("no interactions to train a recommender on")
    counts = train.groupby("item").member_id.nunique()
    items = sorted(counts[counts >= min_members].index)
    if len(items) < 2:
        raise ValueError(f"only {len(items)} item(s) taken by {min_members}+ members; need at least 2")
    members = np.unique(train.member_id.to_numpy())
    recent = train[train["at"] >= train["at"].max() - pd.Timedelta(days=recent_days)]
    pop = recent.groupby("item").member_id.nunique().reindex(items).fillna(0).to_numpy() / max(
        recent.member_id.nunique(), 1)
    model = Recommender(kind, items, pop, params={"lambda": lam, "recent_days": recent_days,
                                                  "min_members": min_members, "members": len(members)})
    if kind == "popularity":
        return model
    x = model.matrix(train, members)
    gram = x.T @ x
    if kind == "ease":
        p = np.linalg.inv(gram + lam * np.eye(len(items)))
        b = -p / np.diag(p)[None, :]
    else:
        norm = np.sqrt(np.diag(gram))
        b = gram / np.maximum(np.outer(norm, norm), 1e-12)
    np.fill_diagonal(b, 0.0)
    model.weights = b
    return model


def evaluate(model: Recommender, train: pd.DataFrame, truth: dict[int, set], k: int = 5) -> dict:
    """recall@k and NDCG@k over the members with held-out new items (binary relevance)."""
    members = np.array(sorted(truth))
    if members.size == 0:
        raise ValueError("no member has held-out new items in the test window")
    x = model.matrix(train, members)
    recs = model.recommend(x, k=k)
    recall, ndcg = [], []
    discounts = 1 / np.log2(np.arange(2, k + 2))
    for member, rec in zip(members, recs, strict=True):
        relevant = truth[int(member)]
        hits = np.array([r["item"] in relevant for r in rec] + [False] * (k - len(rec)))
        recall.append(hits.sum() / len(relevant))
        ideal = discounts[:min(len(relevant), k)].sum()
        ndcg.append((hits * discounts).sum() / ideal)
    return {f"recall@{k}": float(np.mean(recall)), f"ndcg@{k}": float(np.mean(ndcg)), "members": int(members.size),
            "held_out_items": int(sum(len(v) for v in truth.values()))}


def train_and_compare(tables: dict[str, pd.DataFrame], at: str | pd.Timestamp, window_days: int = 56,
                      k: int = 5, lam: float = 50.0) -> tuple[Recommender, dict]:
    """Fit every kind before ``at``, evaluate on the window after it; returns the EASE model and all metrics."""
    train, truth = split(interactions(tables), pd.Timestamp(at), window_days)
    metrics = {}
    models = {}
    for kind in KINDS:
        models[kind] = fit(train, kind, lam=lam)
        metrics[kind] = evaluate(models[kind], train, truth, k)
    best = models["ease"]
    best.metrics = metrics
    best.params |= {"split_date": pd.Timestamp(at).date().isoformat(), "window_days": window_days,
                    "train_from": train["at"].min().date().isoformat()}
    return best, metrics


# ---- save / load: safetensors for the matrices, JSON for everything else --------------------------------------

def to_bytes(model: Recommender) -> tuple[bytes, str]:
    from safetensors.numpy import save

    tensors = {"popularity": model.popularity.astype(np.float64)}
    if model.weights is not None:
        tensors["weights"] = model.weights.astype(np.float64)
    meta = {"kind": model.kind, "items": model.items, "params": model.params, "metrics": model.metrics}
    return save(tensors), json.dumps(meta)


def from_bytes(blob: bytes, meta_text: str, where: str) -> Recommender:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        meta = json.loads(meta_text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise RecommenderFileError(f"{where}: metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("kind") not in KINDS or not isinstance(meta.get("items"), list):
        raise RecommenderFileError(f"{where}: metadata needs 'kind' (one of {', '.join(KINDS)}) and 'items'")
    items = meta["items"]
    if not all(isinstance(i, str) and ITEM_RE.match(i) for i in items):
        raise RecommenderFileError(f"{where}: 'items' must be 'class:|service:|plan:<name>' strings")
    try:
        tensors = load(blob)
    except (SafetensorError, ValueError, OSError) as exc:
        raise RecommenderFileError(f"{where}: not a safetensors file ({str(exc).splitlines()[0]})") from None
    n = len(items)
    pop = tensors.get("popularity")
    weights = tensors.get("weights")
    if pop is None or pop.shape != (n,) or (meta["kind"] != "popularity" and (weights is None or
                                                                                 weights.shape != (n, n))):
        raise RecommenderFileError(f"{where}: tensors must be popularity ({n},) and weights ({n}, {n})")
    return Recommender(meta["kind"], items, pop, weights, meta.get("params", {}), meta.get("metrics", {}))


def save_recommender(model: Recommender, folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    blob, meta = to_bytes(model)
    (folder / "weights.safetensors").write_bytes(blob)
    (folder / "model.json").write_text(meta)
    return folder


def load_recommender(folder: str | Path) -> Recommender:
    folder = Path(folder)
    weights, meta = folder / "weights.safetensors", folder / "model.json"
    for path in (weights, meta):
        if not path.is_file():
            raise RecommenderFileError(f"{path}: missing; expected weights.safetensors and model.json")
    try:
        meta_text = meta.read_text()
    except UnicodeDecodeError:
        raise RecommenderFileError(f"{meta}: not a text file") from None
    return from_bytes(weights.read_bytes(), meta_text, str(folder))

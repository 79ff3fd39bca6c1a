"""Train the recommender and register it: ``gymchain train-recommender`` (or ``python -m gymchain.ml.train_recommender``).

Data: ``--from-database`` (the platform's bookings and contracts), ``--csv DIR`` (a chain's export, with the optional
``service_purchases.csv``) or a simulated chain of ``--simulate N`` members (default). EASE, item-kNN and popularity
are fitted on the interactions before ``--split-date`` and evaluated on the ``--window-days`` after it (recall@k and
NDCG@k over items new to each member); the EASE model is registered (``ml_models`` name ``recommender``) unless
``--no-register``, and saved (``weights.safetensors`` + ``model.json``) under ``--out`` if given. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--simulate", type=int, default=20_000, metavar="N",
                        help="a simulated chain of N members (default 20000; 500..2000000)")
    source.add_argument("--csv", metavar="DIR", help="a folder with the analytics schema's CSV files")
    source.add_argument("--from-database", action="store_true", help="the platform's bookings and contracts")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed")
    parser.add_argument("--split-date", help="YYYY-MM-DD; default 2026-04-06 for the simulator, else today minus "
                                             "the window")
    parser.add_argument("--window-days", type=int, default=56, help="held-out window after the split (7..365)")
    parser.add_argument("--lambda", dest="lam", type=float, default=50.0, help="EASE ridge strength (> 0)")
    parser.add_argument("--out", metavar="DIR", help="also save weights.safetensors + model.json here")
    parser.add_argument("--no-register", action="store_true", help="do not write to the ml_models table")
    parser.add_argument("--database-url", help="default: GYM_DATABASE_URL / settings")


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    import sqlalchemy as sa

    from gymchain.common.settings import get_settings
    from gymchain.ml.loaders import load_postgres, validate_all
    from gymchain.ml.recommend import save_recommender, train_and_compare
    from gymchain.ml.registry import register_recommender
    from gymchain.ml.simulator import SimConfig, simulate
    from gymchain.ml.sources import load_source

    if not 7 <= args.window_days <= 365:
        return fail(f"--window-days {args.window_days}: expected 7..365")
    if not args.lam > 0:
        return fail(f"--lambda {args.lam}: expected a positive number")
    split = None
    if args.split_date:
        try:
            split = pd.Timestamp(datetime.strptime(args.split_date, "%Y-%m-%d"))
        except ValueError:
            return fail(f"--split-date {args.split_date!r}: expected YYYY-MM-DD")
    url = args.database_url or get_settings().database_url
    if args.csv:
        tables, source = load_source({"source": "csv", "path": args.csv}, None)
    elif args.from_database:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        tables, source = load_postgres(engine), "platform database"
        engine.dispose()
    else:
        if not 500 <= args.simulate <= 2_000_000:
            return fail(f"--simulate {args.simulate}: expected 500..2000000 members")
        raw = simulate(SimConfig(members=args.simulate, seed=args.seed))
        tables = validate_all(raw) | {"service_purchases": raw["service_purchases"]}
        source = f"simulator members={args.simulate} seed={args.seed}"
        split = split if split is not None else pd.Timestamp("2026-04-06")
    if split is None:
        split = pd.Timestamp(datetime.now(UTC).date() - timedelta(days=args.window_days))
    model, metrics = train_and_compare(tables, split, args.window_days, lam=args.lam)
    report = {"source": source, "split_date": split.date().isoformat(), "window_days": args.window_days,
              "items": len(model.items), "metrics": metrics}
    if args.out:
        report["saved_to"] = str(save_recommender(model, args.out))
    if not args.no_register:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            report["registered_version"] = register_recommender(engine, model, source)
        finally:
            engine.dispose()
    print(json.dumps(report, indent=1))
    return 0


def fail(message: str) -> int:
    print(f"train-recommender: {message}", file=sys.stderr)
    return 2


def execute(args: argparse.Namespace) -> int:
    """``run`` with every failure as one line on stderr and exit status 2."""
    try:
        return run(args)
    except (ValueError, OSError) as exc:
        return fail(str(exc).splitlines()[0])
    except Exception as exc:  # noqa: BLE001 - e.g. the database is unreachable: one line, not a traceback
        return fail(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gymchain.ml.train_recommender",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    return execute(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

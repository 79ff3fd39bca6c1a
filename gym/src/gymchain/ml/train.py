"""Train the churn model and register it: ``python -m gymchain.ml.train`` or ``gymchain train-churn``.

Data: ``--csv DIR`` (a chain's export in the analytics schema), ``--from-database`` (the platform's own tables) or,
by default, a simulated chain of ``--simulate N`` members. The model is evaluated on the window after
``--test-date`` against the logistic-regression baseline, saved under ``--out`` (LightGBM text + JSON metadata) if
given, and registered in PostgreSQL's ``ml_models`` unless ``--no-register``. Prints the metrics as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--simulate", type=int, default=20_000, metavar="N",
                        help="train on a simulated chain of N members (default 20000; 500..2000000)")
    source.add_argument("--csv", metavar="DIR", help="a folder with the analytics schema's CSV files")
    source.add_argument("--from-database", action="store_true", help="the platform's members/contracts/check-ins")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed")
    parser.add_argument("--test-date", help="YYYY-MM-DD; default 2026-05-04 for the simulator, else today minus "
                                            "the horizon")
    parser.add_argument("--horizon-days", type=int, default=28, help="churn within this many days (7..180)")
    parser.add_argument("--out", metavar="DIR", help="also save model.txt + metadata.json here")
    parser.add_argument("--no-register", action="store_true", help="do not write to the ml_models table")
    parser.add_argument("--database-url", help="default: GYM_DATABASE_URL / settings")


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    import sqlalchemy as sa

    from gymchain.common.settings import get_settings
    from gymchain.ml.churn import train_churn
    from gymchain.ml.loaders import load_csv_dir, load_postgres, validate_all
    from gymchain.ml.registry import metadata_of, register, save_model
    from gymchain.ml.simulator import SimConfig, simulate

    if not 7 <= args.horizon_days <= 180:
        return fail(f"--horizon-days {args.horizon_days}: expected 7..180")
    test_date = args.test_date
    if test_date is not None:
        try:
            test_date = pd.Timestamp(datetime.strptime(test_date, "%Y-%m-%d"))
        except ValueError:
            return fail(f"--test-date {args.test_date!r}: expected YYYY-MM-DD")
    url = args.database_url or get_settings().database_url
    if args.csv:
        tables, source = load_csv_dir(args.csv), f"csv:{args.csv}"
    elif args.from_database:
        tables, source = load_postgres(sa.create_engine(url, poolclass=sa.pool.NullPool)), "platform database"
    else:
        if not 500 <= args.simulate <= 2_000_000:
            return fail(f"--simulate {args.simulate}: expected 500..2000000 members")
        tables = validate_all(simulate(SimConfig(members=args.simulate, seed=args.seed)))
        source = f"simulator members={args.simulate} seed={args.seed}"
        test_date = test_date if test_date is not None else pd.Timestamp("2026-05-04")
    if test_date is None:
        test_date = pd.Timestamp(datetime.now(UTC).date() - timedelta(days=args.horizon_days))
    result = train_churn(tables, test_date, args.horizon_days)
    report = {k: v for k, v in metadata_of(result).items() if k not in ("calibration", "features")} | {
        "source": source}
    if args.out:
        report["saved_to"] = str(save_model(result, args.out))
    if not args.no_register:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            from gymchain.ml.drift import reference_profile

            report["registered_version"] = register(engine, result, source,
                                                    reference=reference_profile(tables, result))
        finally:
            engine.dispose()
    print(json.dumps(report, indent=1))
    return 0


def fail(message: str) -> int:
    print(f"train-churn: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gymchain.ml.train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return execute(parser.parse_args(argv))


def execute(args: argparse.Namespace) -> int:
    """``run`` with every failure as one line on stderr and exit status 2."""
    try:
        return run(args)
    except (ValueError, OSError) as exc:  # schema, model-file, too-few-churners and file errors: one line
        return fail(str(exc).splitlines()[0])
    except Exception as exc:  # noqa: BLE001 - e.g. the database is unreachable: one line, not a traceback
        return fail(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


if __name__ == "__main__":
    raise SystemExit(main())

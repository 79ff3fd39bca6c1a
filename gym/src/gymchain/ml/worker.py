"""The analytics worker: consumes the ``batch-scoring`` and ``retraining`` RabbitMQ queues (one thread each) and
keeps each job's status in the docstore ``jobs`` collection. ``python -m gymchain.ml.worker`` (started by
``gymchain start``); stops on SIGTERM/SIGINT after the job in hand."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from gymchain.common.messaging.rabbit import QueuePolicy, jobs_collection_status, run_worker

POLICY = QueuePolicy(max_attempts=3, base_delay_ms=2000)
HANDLERS = {"batch-scoring": "gymchain.ml.batch:score_unit", "retraining": "gymchain.ml.retrain:retrain"}


def handler(kind: str):
    import importlib

    module, _, name = HANDLERS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def start(stop: threading.Event, kinds: tuple[str, ...] = tuple(HANDLERS), suffix: str | None = None,
          policy: QueuePolicy = POLICY) -> list[threading.Thread]:
    """One daemon thread per kind consuming its queue until ``stop`` is set."""
    from gymchain.common.docstore import get_collection

    status = jobs_collection_status(get_collection("jobs"))
    threads = [threading.Thread(target=run_worker, args=(kind, handler(kind)), name=f"ml-worker-{kind}", daemon=True,
                                kwargs={"stop": stop, "policy": policy, "suffix": suffix, "on_status": status})
               for kind in kinds]
    for thread in threads:
        thread.start()
    return threads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gymchain.ml.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--kind", action="append", choices=sorted(HANDLERS), help="only this queue (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = start(stop, tuple(args.kind or HANDLERS))
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

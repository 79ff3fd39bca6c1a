"""A bounded job queue: N worker threads, at most `capacity` jobs admitted (waiting or running) at once.

A job beyond capacity is refused at once with `QueueFull` (HTTP 503 in the app), so an overloaded server answers
quickly instead of piling up work or running out of memory. Model inference runs in the worker threads (PyTorch
releases the GIL), the event loop only waits on futures.

A client that goes away gives its slot back: `run` polls `disconnected()` while it waits, cancels a job that has not
started and asks a running one to stop (its task calls `Job.step`, which raises `JobCancelled` at the next sampler
step). Each job carries a progress counter (step, total) that `GET /api/jobs/{key}` reads while the request waits.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.25  # how often a waiting request checks whether its client is still there
FINISHED_KEPT = 200  # finished jobs whose last progress stays readable (a late poll still sees "done")


class QueueFull(Exception):
    """The queue already holds `capacity` jobs."""


class JobCancelled(Exception):
    """The job's client went away; raised inside the job at its next progress step."""


@dataclass
class Job:
    """One admitted job: its state and progress, readable from any thread."""

    key: str | None = None
    state: str = "waiting"  # waiting | running | done | failed | cancelled
    step: int = 0
    total: int = 0
    stage: str = ""
    cancelled: threading.Event = field(default_factory=threading.Event)

    def step_to(self, step: int, total: int, stage: str = "") -> None:
        """Progress callback for the task: record (step, total); raise JobCancelled if the client has gone."""
        if self.cancelled.is_set():
            raise JobCancelled("the client went away")
        self.step, self.total = int(step), int(total)
        if stage:
            self.stage = stage

    def public(self) -> dict[str, Any]:
        return {"state": self.state, "step": self.step, "total": self.total, "stage": self.stage}


class JobQueue:
    def __init__(self, workers: int = 1, capacity: int = 20):
        if workers < 1 or capacity < 1:
            raise ValueError(f"workers and capacity must be >= 1, got {workers}, {capacity}")
        self.workers, self.capacity = workers, capacity
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genlab-web")
        self._lock = threading.Lock()
        self._admitted = self._running = self._completed = self._failed = self._refused = self._cancelled = 0
        self._busy_seconds = 0.0
        self._by_key: OrderedDict[str, Job] = OrderedDict()

    def submit(self, fn: Callable[..., T], *args: Any, job: Job | None = None) -> Future[T]:
        """Admit `fn(*args)` or raise QueueFull; the slot is freed when the job ends (or is cancelled unstarted).

        With `job`, fn is called as fn(*args, job) so it can report progress and notice cancellation."""
        with self._lock:
            if self._admitted >= self.capacity:
                self._refused += 1
                raise QueueFull(f"server busy: queue full ({self.capacity} jobs waiting or running); "
                                "try again in a moment")
            self._admitted += 1
            if job is not None and job.key:
                self._by_key[job.key] = job
                while len(self._by_key) > self.capacity + FINISHED_KEPT:
                    self._by_key.popitem(last=False)
        try:
            fut = self._pool.submit(self._timed, fn, args, job)
        except RuntimeError:  # the pool was shut down
            self._release(None, job)
            raise
        fut.add_done_callback(lambda f: self._release(f, job))
        return fut

    async def run(self, fn: Callable[..., T], *args: Any, job: Job | None = None,
                  disconnected: Callable[[], Awaitable[bool]] | None = None) -> T:
        """Submit and await the result in the event loop (QueueFull is raised before anything is queued).

        `disconnected` (e.g. Starlette's request.is_disconnected) is polled while waiting: when the client has gone,
        the job is cancelled (dropped if waiting, stopped at its next step if running) and JobCancelled raised."""
        job = job or Job()
        fut = self.submit(fn, *args, job=job)
        waiter = asyncio.wrap_future(fut)
        try:
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=POLL_SECONDS)
                if done:
                    return waiter.result()
                if disconnected is not None and await disconnected():
                    self.cancel(job, fut)
                    raise JobCancelled("the client went away")
        except asyncio.CancelledError:  # the server is cancelling this request: drop the job too
            self.cancel(job, fut)
            raise

    def cancel(self, job: Job, fut: Future) -> None:
        job.cancelled.set()
        if fut.cancel():  # never started: its slot is freed by the done callback
            job.state = "cancelled"

    def progress(self, key: str) -> dict[str, Any] | None:
        """The progress of the job submitted with `key` (waiting jobs also get their place in the queue)."""
        with self._lock:
            job = self._by_key.get(key)
            if job is None:
                return None
            out = job.public()
            if job.state == "waiting":
                out["ahead"] = sum(1 for j in self._by_key.values() if j.state in ("waiting", "running")
                                   and j is not job and self._submitted_before(j, job))
            return out

    def _submitted_before(self, a: Job, b: Job) -> bool:
        keys = list(self._by_key)
        return keys.index(a.key) < keys.index(b.key)

    def _timed(self, fn: Callable[..., T], args: tuple, job: Job | None) -> T:
        with self._lock:
            self._running += 1
        if job is not None:
            if job.cancelled.is_set():
                with self._lock:
                    self._running -= 1
                raise JobCancelled("the client went away")
            job.state = "running"
        t0 = time.perf_counter()
        try:
            return fn(*args, job) if job is not None else fn(*args)
        finally:
            with self._lock:
                self._running -= 1
                self._busy_seconds += time.perf_counter() - t0

    def _release(self, fut: Future | None, job: Job | None) -> None:
        with self._lock:
            self._admitted -= 1
            if fut is None:
                return
            if fut.cancelled() or isinstance(fut.exception(), JobCancelled):
                self._cancelled += 1
                state = "cancelled"
            elif fut.exception() is None:
                self._completed += 1
                state = "done"
            else:
                self._failed += 1
                state = "failed"
            if job is not None:
                job.state = state

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"workers": self.workers, "capacity": self.capacity, "admitted": self._admitted,
                    "running": self._running, "waiting": self._admitted - self._running,
                    "completed": self._completed, "failed": self._failed, "refused": self._refused,
                    "cancelled": self._cancelled, "busy_seconds": round(self._busy_seconds, 3)}

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

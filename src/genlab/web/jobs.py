"""A bounded job queue: N worker threads, at most `capacity` jobs admitted (waiting or running) at once.

A job beyond capacity is refused at once with `QueueFull` (HTTP 503 in the app), so an overloaded server answers
quickly instead of piling up work or running out of memory. Model inference runs in the worker threads (PyTorch
releases the GIL), the event loop only waits on futures.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    """The queue already holds `capacity` jobs."""


class JobQueue:
    def __init__(self, workers: int = 1, capacity: int = 20):
        if workers < 1 or capacity < 1:
            raise ValueError(f"workers and capacity must be >= 1, got {workers}, {capacity}")
        self.workers, self.capacity = workers, capacity
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genlab-web")
        self._lock = threading.Lock()
        self._admitted = self._running = self._completed = self._failed = self._refused = 0
        self._busy_seconds = 0.0

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Admit `fn(*args)` or raise QueueFull; the slot is freed when the job ends (or is cancelled unstarted)."""
        with self._lock:
            if self._admitted >= self.capacity:
                self._refused += 1
                raise QueueFull(f"server busy: queue full ({self.capacity} jobs waiting or running); "
                                "try again in a moment")
            self._admitted += 1
        try:
            fut = self._pool.submit(self._timed, fn, *args)
        except RuntimeError:  # the pool was shut down
            self._release(None)
            raise
        fut.add_done_callback(self._release)
        return fut

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Submit and await the result in the event loop (QueueFull is raised before anything is queued)."""
        fut = self.submit(fn, *args)
        try:
            return await asyncio.wrap_future(fut)
        except asyncio.CancelledError:  # the client went away: drop the job if it has not started
            fut.cancel()
            raise

    def _timed(self, fn: Callable[..., T], *args: Any) -> T:
        with self._lock:
            self._running += 1
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._running -= 1
                self._busy_seconds += time.perf_counter() - t0

    def _release(self, fut: Future | None) -> None:
        with self._lock:
            self._admitted -= 1
            if fut is not None and not fut.cancelled():
                if fut.exception() is None:
                    self._completed += 1
                else:
                    self._failed += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"workers": self.workers, "capacity": self.capacity, "admitted": self._admitted,
                    "running": self._running, "waiting": self._admitted - self._running,
                    "completed": self._completed, "failed": self._failed, "refused": self._refused,
                    "busy_seconds": round(self._busy_seconds, 3)}

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

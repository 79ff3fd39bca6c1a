"""Process CPU time, as opposed to wall-clock time.

`cpu_seconds()` is user + system time of this process (all its threads) plus that of its finished, waited-for
child processes (resource.getrusage RUSAGE_SELF + RUSAGE_CHILDREN). On a shared or loaded machine wall-clock time
overstates the work a training did; CPU time is what "CPU minutes" means. On platforms without `resource`
(Windows) it falls back to time.process_time(), which counts this process only.
"""

from __future__ import annotations

import time

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its reaped children (user + system)."""
    if resource is None:  # pragma: no cover
        return time.process_time()
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

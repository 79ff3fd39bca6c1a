"""Fixed-window rate limits in Redis: one counter per client and minute (INCR + EXPIRE in one pipeline)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int


async def hit(redis: Redis, prefix: str, client: str, limit: int, window_s: int = 60) -> Verdict:
    """Count one request of ``client`` in the current window; refuse once ``limit`` is passed."""
    now = time.time()
    window = int(now // window_s)
    key = f"{prefix}ratelimit:{client}:{window}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, window_s + 1)
        count, _ = await pipe.execute()
    retry = int((window + 1) * window_s - now) + 1
    return Verdict(count <= limit, limit, max(0, limit - count), retry)

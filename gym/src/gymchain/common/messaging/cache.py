"""Read-through cache on Redis with invalidation on writes.

``cached(key, ttl_s, loader)`` returns the cached JSON value or calls ``loader()``, stores its result for
``ttl_s`` seconds and returns it. ``invalidate(*keys)`` is called by the code that writes the underlying data
(after its transaction commits). A write racing a load cannot leave a stale value behind: every key has a version
counter that ``invalidate`` bumps, and a loaded value is stored only if the version is still the one read before
loading (one atomic Lua script).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache

import redis

from gymchain.common.settings import get_settings

MAX_TTL_S = 7 * 24 * 3600
MISSING = object()

# KEYS[1] value key, KEYS[2] version key; ARGV[1] version read before loading, ARGV[2] value, ARGV[3] ttl ms
_STORE_IF_CURRENT = """
local current = redis.call('GET', KEYS[2]) or '0'
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


@lru_cache
def default_client() -> redis.Redis:
    return redis.Redis.from_url(get_settings().redis_url)


def _keys(key: str, prefix: str | None) -> tuple[str, str]:
    if not isinstance(key, str) or not 0 < len(key) <= 300:
        raise ValueError(f"cache key {key!r}: expected a non-empty string of at most 300 characters")
    prefix = get_settings().redis_prefix if prefix is None else prefix
    return f"{prefix}cache:{key}", f"{prefix}cachever:{key}"


def cached(key: str, ttl_s: float, loader: Callable[[], object], *, client: redis.Redis | None = None,
           prefix: str | None = None) -> object:
    """The value of ``key``: from Redis when present, else ``loader()`` (stored unless invalidated meanwhile)."""
    if not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"cache ttl {ttl_s!r}: expected 0 < ttl <= {MAX_TTL_S} seconds")
    client = client or default_client()
    value_key, version_key = _keys(key, prefix)
    hit, version = client.mget(value_key, version_key)
    if hit is not None:
        return json.loads(hit)
    value = loader()
    client.eval(_STORE_IF_CURRENT, 2, value_key, version_key, (version or b"0").decode(),
                json.dumps(value, default=str), int(ttl_s * 1000))
    return value


def invalidate(*keys: str, client: redis.Redis | None = None, prefix: str | None = None) -> None:
    """Drop the cached values of ``keys`` and bump their versions (so an in-flight load does not store)."""
    client = client or default_client()
    pipe = client.pipeline(transaction=True)
    for key in keys:
        value_key, version_key = _keys(key, prefix)
        pipe.delete(value_key)
        pipe.incr(version_key)
        pipe.expire(version_key, MAX_TTL_S)
    pipe.execute()


def peek(key: str, *, client: redis.Redis | None = None, prefix: str | None = None) -> object:
    """The cached value, or MISSING (for tests and diagnostics)."""
    raw = (client or default_client()).get(_keys(key, prefix)[0])
    return MISSING if raw is None else json.loads(raw)

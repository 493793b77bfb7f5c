"""One-round-trip moving-window hits on limits' RedisStorage (its Lua scripts and keys)."""

from __future__ import annotations

from typing import Any

from limits import RateLimitItem
from redis.exceptions import NoScriptError


def pipelined_moving_window(
    storage: Any, entries: list[tuple[RateLimitItem, str]], now: float
) -> list[tuple[bool, float, int]]:
    """For each (item, key): acquire one entry, then read (window start, count).

    limits' own ``hit`` + ``get_window_stats`` would cost two round trips per key; here
    every script call for every key rides in a single pipeline.
    """
    for attempt in range(2):
        pipe = storage.get_connection().pipeline(transaction=False)
        for item, key in entries:
            full_key, expiry = storage.prefixed_key(key), item.get_expiry()
            acquire, window = storage.lua_acquire_moving_window, storage.lua_moving_window
            pipe.evalsha(acquire.sha, 1, full_key, now, item.amount, expiry, 1)
            pipe.evalsha(window.sha, 1, full_key, now - expiry, item.amount)
        replies = pipe.execute(raise_on_error=False)
        if not any(isinstance(r, NoScriptError) for r in replies):
            break
        if attempt:
            raise NoScriptError("scripts vanished twice")
        # First use on this server (or after SCRIPT FLUSH): load, then retry once.
        conn = storage.get_connection()
        conn.script_load(storage.lua_acquire_moving_window.script)
        conn.script_load(storage.lua_moving_window.script)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    out = []
    for index, (_item, _key) in enumerate(entries):
        acquired, window = replies[2 * index], replies[2 * index + 1]
        start, count = (float(window[0]), int(window[1])) if window else (now, 0)
        out.append((bool(acquired), start, count))
    return out

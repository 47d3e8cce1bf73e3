"""The shared rpm window paid in batches of permits: two RedisStates on one real Redis
never admit more than the limit in any window, and unspent permits go back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import redis
from gateway_harness import eventually

from provider_fallback import config_from_dict
from provider_fallback.state._redis import RedisState

pytestmark = pytest.mark.redis


def _settings(url: str, prefix: str):  # type: ignore[no-untyped-def]
    cfg = config_from_dict({
        "providers": [{"name": "p", "base_url": "http://127.0.0.1:9/v1"}],
        "models": {"chat": ["p/m"]},
        "state": {"backend": "redis", "url": url, "prefix": prefix, "cache_ttl": "50ms"}})
    return cfg.state


@asynccontextmanager
async def _states(url: str, prefix: str, n: int = 2,
                  validity: float = 1.0) -> AsyncIterator[list[RedisState]]:
    async with AsyncExitStack() as stack:
        states = []
        for _ in range(n):
            st = RedisState(_settings(url, prefix), permit_validity=validity)
            await st.start()
            stack.push_async_callback(st.aclose)
            assert st.connected
            states.append(st)
        yield states


async def test_a_burst_from_two_replicas_admits_exactly_the_limit(redis_url: str,
                                                                  prefix: str) -> None:
    async with _states(redis_url, prefix) as (a, b):
        results = await asyncio.gather(*(st.admit("p/m", 25) for _ in range(60)
                                         for st in (a, b)))
        admitted = [r for r in results if r is None]
        assert len(admitted) == 25                  # all 25, never 26
        assert all(r is not None and 0 < r <= 61 for r in results if r is not None)
        # batches: far fewer Lua calls than admissions
        assert a.admit_calls + b.admit_calls < 25


async def test_no_window_of_sends_ever_holds_more_than_the_limit(redis_url: str,
                                                                 prefix: str) -> None:
    """A compressed window (1 s, permits valid 0.2 s): every admission is timestamped when
    it returns, and every 1 s span of those timestamps holds at most the limit."""
    limit, window = 8, 1.0
    sent: list[float] = []

    async def client(st: RedisState, stop: float) -> None:
        while time.monotonic() < stop:
            if await st.admit("p/m", limit, window) is None:
                sent.append(time.monotonic())
            else:
                await asyncio.sleep(0.005)

    async with _states(redis_url, prefix, validity=0.2) as (a, b):
        stop = time.monotonic() + 3.5
        await asyncio.gather(*(client(st, stop) for st in (a, b, a, b)))
    sent.sort()
    assert len(sent) >= 2 * limit                      # the window did refill meanwhile
    for i, t in enumerate(sent):
        in_window = sum(1 for u in sent[i:] if u < t + window)
        assert in_window <= limit, (i, in_window)


async def test_unspent_permits_go_back_to_the_window(redis_url: str, prefix: str) -> None:
    async with _states(redis_url, prefix, n=1, validity=0.1) as (a,):
        assert await a.admit("p/m", 100) is None     # takes a batch of 5, spends 1
        client = redis.Redis.from_url(redis_url)
        try:
            key = f"{prefix}rl:p/m"
            assert client.zcard(key) == 5
            await eventually(lambda: client.zcard(key) == 1, timeout=5)
        finally:
            client.close()

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
        "state": {"backend": "redis", "url": url, "prefix": prefix, "cache_ttl": "50ms",
                  "timeout": "1s"}})
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
        # until the oldest credit leaves: 60 s + up to 1 s of validity + up to 2 s of buckets
        assert all(r is not None and 0 < r <= 63.5 for r in results if r is not None)
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


def _counted(client: redis.Redis, key: str) -> int:
    """What a shared window (hash of 1-second buckets) counts."""
    return sum(int(v) for v in client.hvals(key))


async def test_unspent_permits_go_back_to_the_window(redis_url: str, prefix: str) -> None:
    async with _states(redis_url, prefix, n=1, validity=0.1) as (a,):
        assert await a.admit("p/m", 100) is None     # takes a batch of 5, spends 1
        client = redis.Redis.from_url(redis_url)
        try:
            key = f"{prefix}rl:p/m"
            assert _counted(client, key) == 5
            await eventually(lambda: _counted(client, key) == 1, timeout=5)
        finally:
            client.close()


async def test_a_token_window_admits_whole_requests_up_to_the_limit(redis_url: str,
                                                                    prefix: str) -> None:
    async with _states(redis_url, prefix) as (a, b):
        results = await asyncio.gather(*(st.admit_tokens("p/m", 1000, 120)
                                         for _ in range(10) for st in (a, b)))
        holds = [hold for wait, hold in results if wait is None]
        assert len(holds) == 8                     # 8 x 120 = 960; a 9th would pass 1000
        assert all(wait is not None and wait > 0 for wait, _ in results if wait is not None)
        # answers used less than estimated: what they did not use goes back
        for hold in holds[:4]:
            a.settle_tokens(hold, 20)             # 4 x 100 unused tokens handed back
        await eventually(lambda: not a._permits.returns)
        wait, hold = await a.admit_tokens("p/m", 1000, 300)
        assert wait is None and hold is not None


async def test_tokens_used_beyond_the_estimate_are_counted(redis_url: str,
                                                           prefix: str) -> None:
    async with _states(redis_url, prefix) as (a, b):
        wait, hold = await a.admit_tokens("p/m", 1000, 100)
        assert wait is None
        a.settle_tokens(hold, 900)                # the answer was far longer
        wait, _ = await b.admit_tokens("p/m", 1000, 100)
        assert wait is None                       # 100 + 100 of 1000 as far as b knew...
        wait, _ = await a.admit_tokens("p/m", 1000, 100)   # ...a's next call adds its 800
        assert wait is not None


async def test_requests_sent_before_the_limit_was_known_count(redis_url: str,
                                                              prefix: str) -> None:
    async with _states(redis_url, prefix) as (a, b):
        assert await a.admit("p/m", 5, sent=3) is None   # 3 earlier sends + this one
        admitted = [await b.admit("p/m", 5) for _ in range(3)]
        assert admitted.count(None) == 1


async def test_small_requests_against_a_large_token_limit_are_all_admitted(
        redis_url: str, prefix: str) -> None:
    async with _states(redis_url, prefix, n=1) as (a,):
        results = [await a.admit_tokens("p/m", 1_000_000, 10) for _ in range(500)]
        assert all(wait is None for wait, _ in results)   # 5,000 of 1,000,000 tokens
        assert a.admit_calls <= 100                         # in batches of 5 at least

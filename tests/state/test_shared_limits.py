"""Two routers on one Redis, each with its own spend ledger (as on two machines): what one
learns about rate limits, uses of them and spends is known to the other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from gateway_harness import CHAT, Sleeps, eventually, make_config, sims_running

from provider_fallback import Router
from provider_fallback.errors import AllProvidersFailedError

pytestmark = pytest.mark.redis

PAID = {"provider": "paid", "model": "big", "price": {"input": 1000, "output": 2000}}
FREE = {"provider": "free", "model": "small:free", "free": True}


def _config(sims: dict[str, Any], chains: dict[str, list[Any]], url: str, prefix: str,
            data_dir: Path, **sections: Any) -> Any:
    state = {"backend": "redis", "url": url, "prefix": prefix, "cache_ttl": "100ms"}
    budget = {"data_dir": str(data_dir), **sections.pop("budget", {})}
    return make_config(sims, chains, sections={"state": state, "budget": budget,
                                               "queue": {"enabled": False}, **sections})


@asynccontextmanager
async def _two(make: Any, tmp_path: Path) -> AsyncIterator[tuple[Router, Router]]:
    """Two routers, each with a config of its own data dir (its own spend ledger)."""
    async with AsyncExitStack() as stack:
        routers = [await stack.enter_async_context(
            Router(make(tmp_path / name), sleep=Sleeps(), rand=lambda: 0.5))
            for name in ("a", "b")]
        yield routers[0], routers[1]


def _own(router: Router, key: str) -> tuple[int, int, int, int]:
    return dict(router.limits.usage(asyncio.get_running_loop().time())).get(key, (0, 0, 0, 0))


async def test_a_window_a_learned_is_spent_is_skipped_by_b(shared_redis: tuple[str, str], tmp_path: Path) -> None:
    redis_url, prefix = shared_redis
    # the provider allows 3 requests a minute and says so only in its response headers
    async with sims_running({"name": "primary", "models": ["m1"], "rpm": 3},
                            {"name": "backup", "models": ["b1"]}) as (p, b):
        chains = {"chat": ["primary/m1", "backup/b1"]}
        sims = {"primary": p, "backup": b}
        async with _two(lambda d: _config(sims, chains, redis_url, prefix, d),
                        tmp_path) as (ra, rb):
            for _ in range(3):
                assert (await ra.chat(model="chat", **CHAT)).provider == "primary"
            target = rb.config.chains["chat"].targets[0]
            # B never talked to primary, yet learns the limit and that it is spent
            await eventually(lambda: rb.limits.view(target, asyncio.get_running_loop().time())
                             ["rpm"]["remaining"] == 0)
            res = await rb.chat(model="chat", **CHAT)
            assert [a.provider for a in res.attempts] == ["backup"]
            assert p.count() == 3          # no request spent on a 429


async def test_a_token_limit_shared_by_two_replicas_is_not_spent_twice(shared_redis: tuple[str, str], tmp_path: Path) -> None:
    redis_url, prefix = shared_redis
    async with sims_running({"name": "primary", "models": ["m1"]}) as (p,):
        chains = {"chat": [{"provider": "primary", "model": "m1", "limits": {"tpm": 600}}]}
        ask = {**CHAT, "max_tokens": 50}
        async with _two(lambda d: _config({"primary": p}, chains, redis_url, prefix, d),
                        tmp_path) as (ra, rb):
            key = "primary/m1"
            for _ in range(5):
                await ra.chat(model="chat", **ask)
            a_tokens = _own(ra, key)[2]
            assert a_tokens > 0
            await eventually(lambda: rb.limits.view(rb.config.chains["chat"].targets[0],
                                                    asyncio.get_running_loop().time())
                             ["tpm"]["used"] >= a_tokens)
            refused = False
            for _ in range(40):
                try:
                    await rb.chat(model="chat", **ask)
                except AllProvidersFailedError as exc:
                    assert "limit" in " ".join(exc.skipped)
                    refused = True
                    break
            assert refused
            b_tokens = _own(rb, key)[2]
            # together within the limit; B alone would have gone on to 600
            assert a_tokens + b_tokens <= 600
            assert b_tokens < 600 - a_tokens + 60


async def test_spend_and_the_kill_switch_are_shared(shared_redis: tuple[str, str], tmp_path: Path) -> None:
    redis_url, prefix = shared_redis
    async with sims_running({"name": "paid", "models": ["big"]},
                            {"name": "free", "models": ["small:free"]}) as (paid, free):
        sims = {"paid": paid, "free": free}
        chains = {"chat": [PAID, FREE]}
        async with _two(lambda d: _config(sims, chains, redis_url, prefix, d,
                                          budget={"daily_usd": 0.05}), tmp_path) as (ra, rb):
            while ra.budget.view()["kill_switch"] is False:
                assert (await ra.chat(model="chat", **CHAT)).provider == "paid"
            spent = ra.budget.view()["spend_day_usd"]
            assert spent >= 0.05
            # B spent nothing itself; every replica's spend turns its kill switch on too
            await eventually(lambda: rb.budget.view()["kill_switch"] is True)
            assert rb.budget.ledger.day_total() == 0.0
            assert rb.budget.view()["spend_day_usd"] >= spent
            paid_calls = paid.count()
            assert (await rb.chat(model="chat", **CHAT)).provider == "free"
            assert paid.count() == paid_calls
            # an admin lifts it on A (API or CLI): B follows
            ra.budget.reset()
            await eventually(lambda: rb.budget.view()["kill_switch"] is False)
            assert (await rb.chat(model="chat", **CHAT)).provider == "paid"

"""Events travel between replicas through a Redis stream, so none are lost to a blip."""

from __future__ import annotations

import contextlib
import json
from contextlib import AsyncExitStack
from typing import Any

import pytest
import redis
from gateway_harness import Sleeps, eventually, make_config, sims_running
from redis_harness import CuttableLink, assert_every_key_has_a_ttl, new_prefix

from provider_fallback import Router

pytestmark = pytest.mark.redis

PRIMARY = {"name": "primary", "models": ["m1"]}


def _config(sim: Any, url: str, prefix: str) -> Any:
    state = {"backend": "redis", "url": url, "prefix": prefix, "cache_ttl": "100ms",
             "timeout": "1s"}
    return make_config({sim.name: sim}, {"chat": ["primary/m1"]}, sections={"state": state})


def _seen(router: Router, origin: str) -> list[int]:
    return [e.fields["n"] for e in router.events.recent(types=frozenset({"PROBE"}))
            if e.fields.get("origin") == origin]


def _last_n(url: str, key: str) -> int | None:
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        tail = client.xrevrange(key, count=1)
    finally:
        client.close()
    return json.loads(tail[0][1][b"m"])["fields"]["n"] if tail else None


async def test_a_replica_cut_off_from_redis_gets_the_events_it_missed(
        dedicated_redis: Any) -> None:
    prefix = new_prefix()
    link = CuttableLink(dedicated_redis.port)   # B reaches Redis only through this link
    await link.start()
    try:
        async with sims_running(PRIMARY) as (p,), AsyncExitStack() as stack:
            ra = await stack.enter_async_context(
                Router(_config(p, dedicated_redis.url, prefix), sleep=Sleeps()))
            rb = await stack.enter_async_context(
                Router(_config(p, link.url, prefix), sleep=Sleeps()))
            a_id, b_id = ra.state.replica, rb.state.replica  # type: ignore[attr-defined]
            ra.events.emit("PROBE", n=0)
            await eventually(lambda: _seen(rb, a_id) == [0])      # followed live

            link.cut()
            await eventually(lambda: not rb.status()["state"]["connected"])
            for n in range(1, 6):
                ra.events.emit("PROBE", n=n)
            await eventually(lambda: _last_n(dedicated_redis.url, f"{prefix}events") == 5)
            assert _seen(rb, a_id) == [0]                         # B is away meanwhile

            link.restore()
            await eventually(lambda: _seen(rb, a_id) == [0, 1, 2, 3, 4, 5])
            # the stream follower may catch up before the poll says it is connected again
            await eventually(lambda: rb.status()["state"]["connected"])
            # no echo: A never gets its own events back, and B's own come back to A tagged
            assert ra.events.count("PROBE") == 6 and _seen(ra, a_id) == []
            await eventually(lambda: any(e.type == "STATE_RESTORED"
                                         and e.fields.get("origin") == b_id
                                         for e in ra.events.recent()))
            assert not any(e.type == "STATE_RESTORED" for e in rb.events.recent()
                           if "origin" in e.fields)
    finally:
        await link.aclose()
    assert_every_key_has_a_ttl(dedicated_redis.url, prefix)


async def test_the_stream_is_capped(redis_url: str, prefix: str) -> None:
    async with sims_running(PRIMARY) as (p,), Router(_config(p, redis_url, prefix),
                                                     sleep=Sleeps()) as ra:
        for n in range(2500):
            ra.events.emit("PROBE", n=n)
        await eventually(lambda: _last_n(redis_url, f"{prefix}events") == 2499)
        client = redis.Redis.from_url(redis_url, socket_timeout=2)
        try:
            # MAXLEN ~ 1000 trims whole nodes of up to 100 entries
            assert 1000 <= client.xlen(f"{prefix}events") <= 1100
            assert client.pttl(f"{prefix}events") > 0
        finally:
            client.close()



async def test_a_failed_read_is_reported_with_the_epoch_it_was_issued_in(
        dedicated_redis: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Cluster client holds a CLUSTERDOWN back 0.25 s before raising, so a read issued
    during an outage can fail after the state is back (the `[cluster]` run of
    test_redis_killed_mid_run_then_back flapped: restored, degraded, restored). The
    follower says which connection epoch the failed read was issued in."""
    import asyncio

    import redis.asyncio as aioredis

    from provider_fallback.state import _redis_events
    from provider_fallback.telemetry import EventBus

    monkeypatch.setattr(_redis_events, "READ_BLOCK", 30.0)   # one read stays out
    client = aioredis.Redis.from_url(dedicated_redis.url)
    admin = redis.Redis.from_url(dedicated_redis.url, socket_timeout=2)
    epoch, failures = [0], []
    relay = _redis_events.EventRelay(EventBus(), "r1", [], lambda: None)
    task = asyncio.create_task(relay.follow(
        client, "pf-epoch:events", retry_after=30.0, epoch=lambda: epoch[0],
        on_error=lambda exc, issued: failures.append((type(exc).__name__, issued))))
    try:
        await eventually(lambda: any(c.get("cmd") == "xread" for c in admin.client_list()))
        epoch[0] = 1      # the state came back while the read was out
        admin.client_kill_filter(_type="normal", skipme=True)
        await eventually(lambda: failures)
        assert failures == [("ConnectionError", 0)]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()
        admin.close()


async def test_a_failure_from_before_the_last_reconnect_does_not_degrade_the_state(
        dedicated_redis: Any) -> None:
    prefix = new_prefix()
    async with sims_running(PRIMARY) as (p,), Router(
            _config(p, dedicated_redis.url, prefix), sleep=Sleeps()) as ra:
        state: Any = ra.state
        assert state.connected
        state._failed(ConnectionError("from the outage before"), state._epoch() - 1)
        assert state.connected and ra.events.count("STATE_DEGRADED") == 0
        state._failed(ConnectionError("now"), state._epoch())
        assert not state.connected and ra.events.count("STATE_DEGRADED") == 1

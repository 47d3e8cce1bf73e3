"""Two routers, each with its own RedisState, share one real Redis."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import pytest
from gateway_harness import CHAT, Sleeps, eventually, sims_running
from redis_harness import CuttableLink, assert_every_key_has_a_ttl, new_prefix
from state_gateways import BACKUP, PRIMARY, router_config, routers

from provider_fallback import Router
from provider_fallback.cli._status import state_line
from provider_fallback.errors import AllProvidersFailedError
from provider_fallback.sim import Fault
from provider_fallback.state._redis_url import effective_prefix

pytestmark = pytest.mark.redis


def _state(router: Router, key: str) -> str:
    c = router.state.circuit(key)
    return "closed" if c is None else c.state.value


async def test_status_reports_the_backend(shared_redis: tuple[str, str]) -> None:
    redis_url, prefix = shared_redis
    async with sims_running(PRIMARY, BACKUP) as sims:
        cfg = router_config(sims, redis_url, prefix)
        async with routers(cfg, 1) as (a,):
            view = a.status()["state"]
            assert view["backend"] == "redis" and view["connected"] is True
            assert view["replicas"] == 1
            assert view["prefix"] == effective_prefix(redis_url, prefix)   # {tagged} on a cluster
            async with routers(cfg, 1) as (b,):   # a second replica reports in
                await eventually(lambda: a.status()["state"]["replicas"] == 2)
            line = state_line(a.status()["state"])   # what `provider-fallback status` prints
            assert line.startswith("state: redis ") and "connected, " in line


async def test_circuit_opened_by_failures_in_a_makes_b_skip_the_target(shared_redis: tuple[str, str]) -> None:
    redis_url, prefix = shared_redis
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=503), model="m1")
        async with routers(router_config([p, b], redis_url, prefix)) as (ra, rb):
            for _ in range(3):
                assert (await ra.chat(model="chat", **CHAT)).provider == "backup"
            assert _state(ra, "primary/m1") == "open"
            await eventually(lambda: _state(rb, "primary/m1") == "open")
            seen = p.count()
            res = await rb.chat(model="chat", **CHAT)
            assert [a.provider for a in res.attempts] == ["backup"]
            assert p.count() == seen            # B never tried the dead target itself
            # the event A emitted shows up on B's bus, marked with A's replica id
            await eventually(lambda: any(e.type == "CIRCUIT_OPENED" and
                                         e.fields.get("origin") == ra.state.replica  # type: ignore[attr-defined]
                                         for e in rb.events.recent()))
            assert not any("origin" in e.fields for e in ra.events.recent()
                           if e.type == "CIRCUIT_OPENED")   # no echo back to A


async def test_a_shared_rpm_limit_admits_at_most_its_limit_across_both(shared_redis: tuple[str, str]) -> None:
    redis_url, prefix = shared_redis
    async with sims_running(PRIMARY) as (p,):
        chains = {"chat": [{"provider": "primary", "model": "m1", "limits": {"rpm": 30}}]}
        cfg = router_config([p], redis_url, prefix, chains, queue={"enabled": False})
        async with routers(cfg) as (ra, rb):
            answered = refused = 0
            for i in range(50):
                try:
                    await (ra if i % 2 else rb).chat(model="chat", **CHAT)
                    answered += 1
                except AllProvidersFailedError:
                    refused += 1
            assert p.count() == 30        # each process alone would have let 30 through
            assert answered == 30 and refused == 20


async def test_a_half_open_trial_happens_once_across_both(shared_redis: tuple[str, str]) -> None:
    redis_url, prefix = shared_redis
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        # a 429 opens the circuit at once, for exactly its Retry-After
        p.set_fault(Fault(status=429, retry_after=0.3), model="m1")
        async with routers(router_config([p, b], redis_url, prefix)) as (ra, rb):
            assert (await ra.chat(model="chat", **CHAT)).provider == "backup"
            await eventually(lambda: _state(rb, "primary/m1") == "open")
            loop = asyncio.get_running_loop()
            until = ra.state.circuit("primary/m1").open_until  # type: ignore[union-attr]
            await eventually(lambda: loop.time() > until + 0.01 and not any(
                r.health.blocked(r.config.chains["chat"].targets[0], loop.time())
                for r in (ra, rb)))
            seen = p.count()
            p.set_fault(Fault(latency=0.3), model="m1")    # a slow trial: others arrive meanwhile
            results = await asyncio.gather(*(r.chat(model="chat", **CHAT)
                                             for r in (ra, rb, ra, rb, ra, rb)))
            assert p.count() - seen == 1                    # one trial, not one per process
            trials = [a for res in results for a in res.attempts if "trial" in a.note]
            assert len(trials) == 1 and trials[0].provider == "primary"
            await eventually(lambda: _state(rb, "primary/m1") == "closed")


async def test_redis_killed_mid_run_then_back(killable_redis: tuple[Any, str]) -> None:
    server, prefix = killable_redis
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        cfg = router_config([p, b], server.url, prefix)
        async with routers(cfg) as (ra, rb):
            for r in (ra, rb):
                assert (await r.chat(model="chat", **CHAT)).provider == "primary"
            server.kill()
            # both keep answering on local state, and say they are degraded
            for _ in range(3):
                for r in (ra, rb):
                    assert (await r.chat(model="chat", **CHAT)).provider == "primary"
            await eventually(lambda: not ra.status()["state"]["connected"]
                             and not rb.status()["state"]["connected"])
            assert ra.events.count("STATE_DEGRADED") == 1
            # A learns something while Redis is away
            p.set_fault(Fault(status=503), model="m1")
            for _ in range(3):
                assert (await ra.chat(model="chat", **CHAT)).provider == "backup"
            assert _state(ra, "primary/m1") == "open" and _state(rb, "primary/m1") == "closed"
            await asyncio.to_thread(server.start)   # empty: no persistence (a cluster: same slots)
            await eventually(lambda: ra.status()["state"]["connected"]
                             and rb.status()["state"]["connected"], timeout=15)
            # once: its own (B's, relayed through the stream, carries B's origin; which of
            # the two reconnects first is a race)
            seen = [(e.type, e.fields.get("origin"), e.fields.get("error"))
                    for e in ra.events.recent() if e.type.startswith("STATE_")]
            assert [e.fields.get("origin") for e in ra.events.recent()
                    if e.type == "STATE_RESTORED"] in ([None], [None, rb.state.replica],  # type: ignore[attr-defined]
                                                       [rb.state.replica, None]), seen  # type: ignore[attr-defined]
            await eventually(lambda: _state(rb, "primary/m1") == "open", timeout=10)
            # what A emitted while Redis was away reaches B once it is back
            await eventually(lambda: {"STATE_DEGRADED", "CIRCUIT_OPENED"} <= {
                e.type for e in rb.events.recent()
                if e.fields.get("origin") == ra.state.replica})  # type: ignore[attr-defined]


async def test_two_replicas_share_a_circuit_through_sentinel(sentinel: Any,
                                                            dedicated_redis: Any) -> None:
    prefix = new_prefix()
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=503), model="m1")
        async with routers(router_config([p, b], sentinel.url, prefix)) as (ra, rb):
            assert ra.status()["state"]["connected"] and rb.status()["state"]["connected"]
            for _ in range(3):
                assert (await ra.chat(model="chat", **CHAT)).provider == "backup"
            assert _state(ra, "primary/m1") == "open"
            await eventually(lambda: _state(rb, "primary/m1") == "open")   # pushed via master
            seen = p.count()
            res = await rb.chat(model="chat", **CHAT)
            assert [a.provider for a in res.attempts] == ["backup"] and p.count() == seen
            await eventually(lambda: any(e.type == "CIRCUIT_OPENED" and "origin" in e.fields
                                         for e in rb.events.recent()))
    assert_every_key_has_a_ttl(dedicated_redis.url, prefix)


async def test_a_failure_rate_spread_over_two_replicas_opens_the_circuit(shared_redis: tuple[str, str]) -> None:
    redis_url, prefix = shared_redis
    # only the failure rate can open it: 10 calls at >= 50% failures, over every replica
    circuit = {"failure_threshold": 1000, "min_calls": 10, "failure_rate": 0.5}
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        p.set_fault(Fault(status=502), model="m1")   # a 503 would open at once (one strike)
        cfg = router_config([p, b], redis_url, prefix, circuit=circuit)
        async with routers(cfg) as (ra, rb):
            for _ in range(6):
                assert (await ra.chat(model="chat", **CHAT)).provider == "backup"
            assert _state(ra, "primary/m1") == "closed"   # 6 calls: too few alone
            await eventually(lambda: rb.state.circuit("primary/m1") is not None
                             and rb.state.circuit("primary/m1").peer_calls == 6)  # type: ignore[union-attr]
            tried = 0
            while _state(rb, "primary/m1") == "closed":
                await rb.chat(model="chat", **CHAT)
                tried += 1
            assert tried == 4          # 6 + 4 = min_calls; B alone would have needed 10
            await eventually(lambda: _state(ra, "primary/m1") == "open")


async def test_a_slow_redis_is_left_off_the_request_path_without_flapping(
        dedicated_redis: Any) -> None:
    prefix = new_prefix()
    link = CuttableLink(dedicated_redis.port)   # A reaches Redis only through this link
    await link.start()
    chains = {"chat": [{"provider": "primary", "model": "m1", "limits": {"rpm": 100_000}},
                       "backup/b1"]}
    try:
        async with sims_running(PRIMARY, BACKUP) as (p, b), AsyncExitStack() as stack:
            ra = await stack.enter_async_context(Router(router_config(
                [p, b], link.url, prefix, chains, timeout="50ms"), sleep=Sleeps()))
            rb = await stack.enter_async_context(Router(router_config(
                [p, b], dedicated_redis.url, prefix, chains, timeout="50ms"), sleep=Sleeps()))
            assert (await ra.chat(model="chat", **CHAT)).provider == "primary"
            link.delay = 0.05            # every round trip now takes 100 ms: over the 50 ms
            loop = asyncio.get_running_loop()
            for _ in range(10):          # each request waits at most the timeout, then goes on
                started = loop.time()
                assert (await ra.chat(model="chat", **CHAT)).provider == "primary"
                assert loop.time() - started < 0.25
            await eventually(lambda: ra.status()["state"]["slow"])
            assert not ra.status()["state"]["connected"]
            # background writes still go through: a circuit A opens reaches B
            p.set_fault(Fault(status=429, retry_after=120), model="m1")
            assert (await ra.chat(model="chat", **CHAT)).provider == "backup"
            await eventually(lambda: rb.state.circuit("primary/m1") is not None and
                             rb.state.circuit("primary/m1").state.value == "open",  # type: ignore[union-attr]
                             timeout=10)
            await asyncio.sleep(1.0)     # four polls: no flapping between degraded and back
            assert ra.events.count("STATE_DEGRADED") == 1
            assert ra.events.count("STATE_RESTORED") == 0
            link.delay = 0.0
            await eventually(lambda: ra.status()["state"]["connected"], timeout=10)
            assert ra.events.count("STATE_RESTORED") == 1
    finally:
        await link.aclose()
    assert_every_key_has_a_ttl(dedicated_redis.url, prefix)


async def test_a_redis_back_for_one_poll_between_outages_is_not_restored_until_it_holds(
        dedicated_redis: Any) -> None:
    """A Redis (or a Cluster settling after a restart) that answers one poll and fails the
    next must not flap the replica between degraded and restored: it comes back on the
    request path after two good polls in a row, announcing one outage and one return.
    Before, each good poll restored it and each failure degraded it again (two
    STATE_DEGRADED, two STATE_RESTORED here)."""
    prefix = new_prefix()
    link = CuttableLink(dedicated_redis.port)
    await link.start()
    # polls driven by the test: the poll loop's own first poll is 10 s away
    state = {"backend": "redis", "url": link.url, "prefix": prefix, "cache_ttl": "10s",
             "timeout": "500ms"}
    try:
        async with sims_running(PRIMARY, BACKUP) as (p, b):
            async with Router(router_config([p, b], link.url, prefix, state=state),
                              sleep=Sleeps()) as r:
                st: Any = r.state
                assert r.status()["state"]["connected"]
                link.cut()
                await st._sync()
                assert not st.connected and r.events.count("STATE_DEGRADED") == 1
                link.restore()
                await st._sync()                 # one good poll: not yet
                assert not st.connected and r.events.count("STATE_RESTORED") == 0
                link.cut()
                await st._sync()                 # down again: the same outage
                link.restore()
                await st._sync()
                assert not st.connected
                await st._sync()                 # two in a row: back
                assert st.connected and r.status()["state"]["connected"]
                assert r.events.count("STATE_DEGRADED") == 1
                assert r.events.count("STATE_RESTORED") == 1
                assert st.degradations == 1
                assert (await r.chat(model="chat", **CHAT)).provider == "primary"
    finally:
        await link.aclose()
    assert_every_key_has_a_ttl(dedicated_redis.url, prefix)


async def test_a_poll_that_fails_unexpectedly_does_not_end_the_polling(
        shared_redis: tuple[str, str], caplog: pytest.LogCaptureFixture) -> None:
    """An error past Redis's own (here: applying what the poll read raises once) is logged
    and the replica goes on polling: it still hears of what the other learned. Before,
    the poll task died silently and B never saw another change."""
    redis_url, prefix = shared_redis
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        async with routers(router_config([p, b], redis_url, prefix)) as (ra, rb):
            tables = rb.state._tables   # type: ignore[attr-defined]
            apply_rows, failed = tables.apply_rows, []

            def broken_once(table: str, rows: dict[Any, Any]) -> None:
                if not failed:
                    failed.append(table)
                    raise ValueError("a row that does not apply")
                apply_rows(table, rows)

            tables.apply_rows = broken_once
            await eventually(lambda: bool(failed))
            tables.apply_rows = apply_rows
            p.set_fault(Fault(status=503), model="m1")
            for _ in range(3):
                assert (await ra.chat(model="chat", **CHAT)).provider == "backup"
            await eventually(lambda: _state(rb, "primary/m1") == "open")
            assert any("a poll of Redis" in r.getMessage() for r in caplog.records)
            poll = rb.state._tasks[0]   # type: ignore[attr-defined]
            assert poll.get_name() == "pf-state-poll" and not poll.done()

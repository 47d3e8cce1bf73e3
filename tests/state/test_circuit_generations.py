"""Circuit generations in the shared state: the generation travels in the circuit row, a
row of an older generation never overwrites a newer one (in Redis or in a replica), and a
late answer in one replica cannot close a circuit another replica opened."""

from __future__ import annotations

import asyncio
import itertools

import pytest
import redis
from gateway_harness import CHAT, eventually, sims_running
from state_gateways import BACKUP, PRIMARY, router_config, routers

from provider_fallback import Router
from provider_fallback.health._breaker import Circuit, CircuitState, RollingWindow
from provider_fallback.sim import Fault
from provider_fallback.state import MemoryState
from provider_fallback.state._redis_scripts import PUT_LUA
from provider_fallback.state._redis_tables import SharedTables


def _tables() -> tuple[SharedTables, MemoryState]:
    local = MemoryState()
    ticks = itertools.count(1)
    return SharedTables("me", local, circuit_window=60, clock=lambda: 100.0,
                        wall=lambda: 1_700_000_000.0 + next(ticks)), local


def _row(tables: SharedTables, c: Circuit) -> dict:
    tables.put_circuit(c)
    return tables.take_dirty()[("circuits", c.key)]


def test_a_peer_row_of_an_older_generation_is_never_applied():
    writer, _ = _tables()
    mine, local = _tables()
    c = Circuit("p/m", RollingWindow(60), state=CircuitState.OPEN, generation=4, open_until=130)
    local.put_circuit(c)
    stale = _row(writer, Circuit("p/m", RollingWindow(60), state=CircuitState.CLOSED,
                                 generation=3))
    stale["rev"] += 1000                      # written later, but of an older generation
    mine.apply("circuits", "p/m", stale)
    assert local.circuit("p/m").state is CircuitState.OPEN
    assert local.circuit("p/m").generation == 4


def test_a_newer_generation_from_a_peer_wins_over_our_unsent_older_one():
    writer, _ = _tables()
    mine, local = _tables()
    c = Circuit("p/m", RollingWindow(60), state=CircuitState.OPEN, generation=1, open_until=105)
    mine.put_circuit(c)                        # queued, not yet written
    local.put_circuit(c)
    newer = _row(writer, Circuit("p/m", RollingWindow(60), state=CircuitState.HALF_OPEN,
                                 generation=2, trial_until=110))
    newer["rev"] -= 1000                       # an older clock on the peer
    mine.apply("circuits", "p/m", newer)
    assert local.circuit("p/m").generation == 2
    assert local.circuit("p/m").state is CircuitState.HALF_OPEN
    assert ("circuits", "p/m") not in mine.dirty


@pytest.mark.redis
def test_redis_keeps_the_higher_generation_whatever_the_revision(redis_url: str,
                                                                 prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    key, channel = f"{prefix}circuits", f"{prefix}state"

    def put(generation: int, rev: float) -> int:
        snap = f'{{"g": {generation}, "rev": {rev}, "s": "open"}}'
        return client.eval(PUT_LUA, 2, key, channel, "p/m", snap, repr(rev), 60_000, "{}",
                           generation)

    try:
        assert put(2, 10.0) == 1
        assert put(1, 20.0) == 0               # older generation, newer revision: refused
        assert put(2, 5.0) == 0                # same generation: the revision decides
        assert put(3, 1.0) == 1                # newer generation: taken
    finally:
        client.close()


@pytest.mark.redis
async def test_a_late_success_in_one_replica_does_not_close_what_another_opened(
        shared_redis: tuple[str, str]) -> None:
    redis_url, prefix = shared_redis
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        cfg = router_config([p, b], redis_url, prefix)
        async with routers(cfg) as (ra, rb):
            p.push_fault(Fault(first_token_delay=0.6), model="m1")   # A's stream is slow

            async def a_streams() -> str:
                stream = await ra.chat_stream(model="chat", **CHAT)
                async for _ in stream:
                    pass
                return stream.provider
            slow = asyncio.create_task(a_streams())
            await eventually(lambda: p.count(model="m1") == 1)   # A's request arrived
            p.set_fault(Fault(status=503), model="m1")
            for _ in range(3):                 # B opens it (one 503; three before issue 13)
                assert (await rb.chat(model="chat", **CHAT)).provider == "backup"
                if _state(rb) == "open":
                    break
            await eventually(lambda: _state(ra) == "open")
            assert not slow.done()
            assert await slow == "primary"                 # A's late success ...
            await asyncio.sleep(0.3)                       # (three polls)
            assert _state(ra) == "open" and _state(rb) == "open"   # ... closed nothing
            assert ra.state.circuit("primary/m1").generation == \
                rb.state.circuit("primary/m1").generation


def _state(router: Router) -> str:
    c = router.state.circuit("primary/m1")
    return "closed" if c is None else c.state.value

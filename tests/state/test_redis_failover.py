"""A Sentinel failover under the shared state: the master dies (SIGKILL) or hangs
(SIGSTOP), the sentinels promote the replica, and the replicas' shared state follows the
new master with no request-path call failing or hanging meanwhile (`failover_harness.py`
runs the group: a master, one replica, three sentinels with quorum 2).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
from failover_harness import SentinelGroup
from gateway_harness import eventually, sims_running
from redis_harness import assert_every_key_has_a_ttl, new_prefix
from state_gateways import chat, circuit, gateway, status, write_config

from provider_fallback import config_from_dict
from provider_fallback.health._breaker import Circuit, CircuitState, RollingWindow
from provider_fallback.sim import Fault
from provider_fallback.state._redis import RedisState
from provider_fallback.telemetry import EventBus

pytestmark = pytest.mark.redis

DEADLINE = 30.0        # for anything that waits on the failover: generous on a busy machine
CALL_TIMEOUT = 0.1     # state.timeout: what one request-path call may wait for Redis
CALL_SLACK = 0.5       # event-loop scheduling on a loaded machine, on top of CALL_TIMEOUT
RESUBSCRIBED = 10.0    # a listener resubscribes within ~1 s of reconnecting (its read timeout)


@pytest.fixture
def sentinel_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path / "sentinel-group", sentinels=3)
    group.start()
    try:
        yield group
    finally:
        group.stop()


def _settings(url: str, prefix: str) -> Any:
    cfg = config_from_dict({
        "providers": [{"name": "p", "base_url": "http://127.0.0.1:9/v1"}],
        "models": {"chat": ["p/m"]},
        "state": {"backend": "redis", "url": url, "prefix": prefix, "cache_ttl": "100ms",
                  "timeout": f"{int(CALL_TIMEOUT * 1000)}ms"}})
    return cfg.state


def _open(key: str, code: str) -> Circuit:
    now = time.monotonic()
    return Circuit(key, RollingWindow(60.0), state=CircuitState.OPEN, open_until=now + 600,
                   opened_at=now, reopens=1, code=code)


def _code(state: RedisState, key: str) -> str | None:
    """What opened `key` in this replica's view (None: it does not know the circuit)."""
    c = state.circuit(key)
    return c.code if c is not None and c.state is CircuitState.OPEN else None


def _types(bus: EventBus) -> list[str]:
    return [e.type for e in bus.recent()]


async def _redis_get(port: int, command: str, *args: Any) -> Any:
    """One command on a plain client to 127.0.0.1:`port`, off the event loop."""
    def run() -> Any:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2,
                             socket_connect_timeout=2, decode_responses=True)
        try:
            return client.execute_command(command, *args)
        finally:
            client.close()
    return await asyncio.to_thread(run)


@dataclass
class CallLog:
    """Request-path calls made while the failover runs: how long each took, what raised."""

    slowest: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    rounds: int = 0
    while_down: int = 0   # calls made by a state while it was degraded

    async def timed(self, call: Callable[..., Any], *args: Any) -> None:
        name = call.__name__
        t0 = time.monotonic()
        try:
            result = call(*args)
            if asyncio.iscoroutine(result):
                await result
        except Exception as exc:   # the request path must never see one
            self.errors.append(f"{name}: {exc!r}")
        took = time.monotonic() - t0
        self.slowest[name] = max(self.slowest.get(name, 0.0), took)


async def _request_path(states: list[RedisState], log: CallLog, stop: asyncio.Event) -> None:
    """What the router does per request, over and over: lease, admit, write, read."""
    n = 0
    while not stop.is_set():
        n += 1
        for i, st in enumerate(states):
            if not st.connected:
                log.while_down += 1
            await log.timed(st.lease, f"p/trial{i}", 0.05)
            await log.timed(st.admit, "p/rpm", 100_000)
            await log.timed(st.put_circuit, _open(f"p/churn{i}", f"churn-{n}"))
            await log.timed(st.circuit, "p/before")
            await log.timed(st.circuits)
            await log.timed(st.forced)
            await log.timed(st.disabled_until, "p")
        log.rounds += 1
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("death", [
    "killed",    # SIGKILL: the kernel resets every connection, clients notice at once
    "frozen",    # SIGSTOP: nothing closes; the listener resubscribes after reconnecting
])
async def test_shared_state_follows_a_sentinel_failover(sentinel_group: SentinelGroup,
                                                        death: str) -> None:
    """SIGSTOP ("frozen") is a hung master or a network partition: no connection is
    closed, clients only notice through their timeouts."""
    group = sentinel_group
    prefix = new_prefix()
    settings = _settings(group.url, prefix)
    bus_a, bus_b = EventBus(), EventBus()
    async with AsyncExitStack() as stack:
        a = RedisState(settings, events=bus_a, replica="A")
        b = RedisState(settings, events=bus_b, replica="B")
        for st in (a, b):
            await st.start()
            stack.push_async_callback(st.aclose)
            assert st.connected

        # 1. shared through the first master (and replicated to the replica)
        a.put_circuit(_open("p/before", "before"))
        await eventually(lambda: _code(b, "p/before") == "before", DEADLINE)

        # 2. a write the promoted replica will never have: async replication loses it
        await asyncio.to_thread(group.cut_replication)
        a.put_circuit(_open("p/lost", "lost"))
        await eventually(lambda: _code(b, "p/lost") == "lost", DEADLINE)  # on the old master
        assert await _redis_get(group.replica.port, "HGET", f"{prefix}circuits",
                                "p/lost") is None

        # 3. the master dies (or hangs); the request path keeps running throughout
        log, stop = CallLog(), asyncio.Event()
        traffic = asyncio.create_task(_request_path([a, b], log, stop))
        try:
            group.kill_master() if death == "killed" else group.freeze_master()
            await eventually(lambda: not a.connected and not b.connected, DEADLINE)
            b.put_circuit(_open("p/during", "during"))   # no await since: B is still cut off
            assert not b.connected
            await eventually(lambda: asyncio.to_thread(group.promoted), DEADLINE)
            await eventually(lambda: a.connected and b.connected, DEADLINE)
            rounds_at_reconnect = log.rounds
            await eventually(lambda: log.rounds >= rounds_at_reconnect + 5, DEADLINE)
        finally:
            stop.set()
            await traffic
        assert log.errors == []
        assert log.while_down > 0 and log.rounds > 0
        slow = {name: took for name, took in log.slowest.items()
                if took > CALL_TIMEOUT + CALL_SLACK}
        assert slow == {}, f"request-path calls waited longer than the timeout: {slow}"

        # 4. both said they were degraded, then restored
        for bus in (bus_a, bus_b):
            await eventually(lambda bus=bus: "STATE_RESTORED" in _types(bus), DEADLINE)
            assert _types(bus).index("STATE_DEGRADED") < _types(bus).index("STATE_RESTORED")
        assert a.degradations >= 1 and b.degradations >= 1

        # 5. on reconnect each pushed what the new master lacks: A the write the replica
        # lost, B the change made while it was down; each reached the other
        new = group.replica.port
        await eventually(lambda: _code(a, "p/during") == "during", DEADLINE)
        assert _code(b, "p/lost") == "lost" and _code(a, "p/before") == "before"

        async def on_new_master() -> bool:
            rows = await _redis_get(new, "HGETALL", f"{prefix}circuits")
            return {"p/before", "p/lost", "p/during"} <= set(rows)
        await eventually(on_new_master, DEADLINE)

        # 6. after the failover: pushed invalidation from the new master, both ways
        await eventually(lambda: _numsub(new, f"{prefix}state", 2), RESUBSCRIBED)
        a.put_circuit(_open("p/after-a", "after-a"))
        b.put_circuit(_open("p/after-b", "after-b"))
        await eventually(lambda: _code(b, "p/after-a") == "after-a", DEADLINE)
        await eventually(lambda: _code(a, "p/after-b") == "after-b", DEADLINE)

        # ... the trial lease is atomic again across both (one new master) ...
        async def a_holds_the_trial() -> bool:
            await a.lease("p/final", 30)
            token = await _redis_get(new, "GET", f"{prefix}lease:p/final")
            return isinstance(token, str) and token.startswith("A:")
        await eventually(a_holds_the_trial, DEADLINE)

        async def b_is_refused() -> bool:
            return await b.lease("p/final", 30) is False
        await eventually(b_is_refused, DEADLINE)

        # ... and events still travel through the stream on the new master
        bus_a.emit("PROBE", n=1)
        await eventually(lambda: any(e.type == "PROBE" and e.fields.get("origin") == "A"
                                     for e in bus_b.recent()), DEADLINE)
    await asyncio.to_thread(assert_every_key_has_a_ttl, f"redis://127.0.0.1:{new}/0", prefix)


async def _numsub(port: int, channel: str, want: int) -> bool:
    reply = await _redis_get(port, "PUBSUB", "NUMSUB", channel)
    return int(reply[1]) == want


# -- two gateway processes ---------------------------------------------------------------
@pytest.mark.slow
async def test_gateways_keep_answering_through_a_sentinel_failover(
        tmp_path: Path, sentinel_group: SentinelGroup) -> None:
    group = sentinel_group
    prefix = new_prefix()
    async with sims_running({"name": "primary", "models": ["m1"]},
                            {"name": "backup", "models": ["b1"]}) as (p, b):
        cfg = write_config(tmp_path / "provider_config.yaml", [p, b], group.url, prefix)
        async with gateway(cfg, timeout=DEADLINE) as ga, gateway(cfg, timeout=DEADLINE) as gb, aiohttp.ClientSession() as http:
            for g in (ga, gb):
                assert await chat(http, g) == "primary"
                assert (await status(http, g))["state"]["connected"] is True

            answered: list[str] = []
            failed: list[str] = []
            stop = asyncio.Event()

            async def clients() -> None:
                while not stop.is_set():
                    for g in (ga, gb):
                        try:
                            answered.append(await chat(http, g))
                        except Exception as exc:   # noqa: BLE001 - any failure counts
                            failed.append(f"{g}: {exc!r}")
                    await asyncio.sleep(0.01)

            traffic = asyncio.create_task(clients())
            try:
                await eventually(lambda: len(answered) >= 10, DEADLINE)
                group.kill_master()
                at_kill = len(answered)
                await eventually(lambda: asyncio.to_thread(group.promoted), DEADLINE)
                while_down = len(answered) - at_kill   # answered before any new master

                async def both_back() -> bool:
                    views = [(await status(http, g))["state"] for g in (ga, gb)]
                    return all(v["connected"] and v["degradations"] >= 1 for v in views)
                await eventually(both_back, DEADLINE)
                seen = len(answered)
                await eventually(lambda: len(answered) >= seen + 10, DEADLINE)
            finally:
                stop.set()
                await traffic
            assert failed == []
            assert while_down > 0 and set(answered) == {"primary"}

            # after the failover a circuit opened in A still reaches B through the new master
            p.set_fault(Fault(status=429, retry_after=120), model="m1")
            assert await chat(http, ga) == "backup"

            async def b_sees_it() -> bool:
                return await circuit(http, gb, "primary/m1") == "open"
            await eventually(b_sees_it, DEADLINE)
            calls = p.count()
            assert await chat(http, gb) == "backup"
            assert p.count() == calls   # B skipped the open target without trying it
    await asyncio.to_thread(assert_every_key_has_a_ttl,
                            f"redis://127.0.0.1:{group.replica.port}/0", prefix)

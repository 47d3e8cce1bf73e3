"""Routing state shared through Redis by every worker and replica.

Reads never touch Redis: they are served from a local `MemoryState` that is kept fresh by
pushed invalidations (pub/sub, one message per circuit change) and a poll every
`cache_ttl` (250 ms by default) that also detects outages. Writes apply locally at once
and are written through by a background task. Only two kinds of call wait for Redis on
the request path, because only they need cluster-wide atomicity: the half-open trial lease
(`SET NX PX`) and the shared per-minute request and token windows (Lua sliding windows,
paid in batches: `_redis_permits.py`). Both give up after `timeout` (50 ms) and fall back
to local state, so Redis is never why a request fails: while it is unreachable the
gateway runs on its local state, emits STATE_DEGRADED (code `state_unreachable`), and on
reconnect pushes its newer entries and pulls the others' (STATE_RESTORED).

The rows replicated by revision (circuits, overrides, limit facts a replica learned) are
kept in `_redis_tables.py`; what replicas trade on each poll besides them (rate-limit use
per target, spend totals) in `_redis_exchange.py`.

Keys (all under `prefix`, all with a TTL): `circuits`, `overrides`, `limits` and `usage`
hashes, `lease:<key>` strings, `rl:<target>` and `tk:<target>` window hashes (1-second
buckets), `spend:m:<month>` and `spend:d:<day>` strings, the `events` stream
(`_redis_events.py`); channel `state` for pushed invalidation.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _json
from ..health._breaker import Circuit, CircuitState, RollingWindow
from ._base import TargetStats
from ._memory import MemoryState
from ._redis_exchange import Exchange
from ._redis_permits import PERMIT_VALIDITY, PermitBatcher
from ._redis_scripts import PUT_LUA, RELEASE_LUA
from ._redis_tables import TABLES, SharedTables
from ._redis_url import open_client, redact_url

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from ..config import StateSettings
    from ..limits import LimitFacts
    from ..telemetry import EventBus
    from ._base import Peers
    from ._redis_events import EventRelay

__all__ = ["RedisState", "redact_url"]

log = logging.getLogger("provider_fallback.state")

RISE = 2    # good polls in a row that bring a degraded replica back on the request path

class RedisState:
    """`RoutingState` on Redis with a local read cache. Start it with `await start()`."""

    shared = True

    def __init__(self, settings: StateSettings, *, circuit_window: float = 60.0,
                 events: EventBus | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, replica: str | None = None,
                 permit_validity: float = PERMIT_VALIDITY) -> None:
        if settings.url is None:
            raise ValueError("RedisState needs state.url")
        self.settings = settings
        self.replica = replica or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.connected = False      # fast enough for the request path: it asks Redis
        self._reachable = False     # answering at all: background writes go through
        self._synced = False        # a first poll succeeded
        self._good_polls = 0        # good polls in a row while off the request path
        self._url = settings.url
        self._prefix = settings.key_prefix   # hash-tagged on a Redis Cluster: _redis_url.py
        self._local = MemoryState()
        self._window = circuit_window
        self._clock = clock
        self._wall = wall
        self._events = events
        self._relay: EventRelay | None = None
        self._redis: aioredis.Redis | None = None
        self._closer: Any = None                 # closes the client (and any sentinels)
        self._tables = SharedTables(self.replica, self._local, circuit_window=circuit_window,
                                    clock=clock, wall=wall)
        self._releases: dict[str, str] = {}      # lease key -> our token, to delete
        self._leases: dict[str, str] = {}        # circuit key -> token of a lease we hold
        self._outbox: list[str] = []             # messages for the events stream
        self._ids = itertools.count(1)
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._announced_down = False
        self._reconnects = 0                     # (re)connections: the listener resubscribes
        self.degradations = 0                    # outages seen (STATE_DEGRADED), for metrics
        self._permits = PermitBatcher(self.replica, validity=permit_validity, clock=clock)
        self.lease_calls = 0
        self._exchange = Exchange(self.replica, self._key, cache_ttl=settings.cache_ttl,
                                  wall=wall, windows=self._own_windows,
                                  peer_windows=self._peer_windows)

    def _key(self, name: str) -> str:
        return f"{self._prefix}{name}"

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        if self._tasks:
            return
        # no client-side retries: a slow or dead Redis must fall back fast, the poll retries
        self._redis, self._closer = open_client(
            self._url.reveal(), socket_timeout=1.0, socket_connect_timeout=1.0,
            retry=Retry(NoBackoff(), 0), health_check_interval=0)
        self._wake = asyncio.Event()
        if self._events is not None:
            from ._redis_events import EventRelay

            self._relay = EventRelay(self._events, self.replica, self._outbox, self._wake.set)
        await self._sync()   # first pull before serving, if Redis is there
        if self._relay is not None and self.connected:
            with contextlib.suppress(Exception):   # else the follower positions itself
                async with asyncio.timeout(max(1.0, self.settings.timeout)):
                    await self._relay.position(self._redis, self._key("events"))
        self._tasks = [asyncio.create_task(self._poll_loop(), name="pf-state-poll"),
                       asyncio.create_task(self._write_loop(), name="pf-state-write"),
                       asyncio.create_task(self._listen_loop(), name="pf-state-listen")]
        if self._relay is not None and self._redis is not None:
            self._tasks.append(asyncio.create_task(
                self._relay.follow(self._redis, self._key("events"), on_error=self._failed,
                                   epoch=self._epoch, retry_after=self.settings.cache_ttl),
                name="pf-state-events"))

    @property
    def admit_calls(self) -> int:
        """Lua round trips taken for shared rpm windows (each buys a batch of permits)."""
        return self._permits.calls

    async def aclose(self) -> None:
        if self._relay is not None:
            self._relay.close()
        self._permits.release_all()
        if self._reachable and (self._tables.dirty or self._permits.returns):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self._flush()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []
        if self._closer is not None:
            with contextlib.suppress(Exception):
                await self._closer.aclose()
        self._redis = self._closer = None

    def view(self) -> dict[str, Any]:
        return {"backend": "redis", "connected": self.connected,
                "slow": self._reachable and not self.connected, "replica": self.replica,
                "replicas": 1 + self._exchange.peers_seen, "degradations": self.degradations,
                "window_calls": self._permits.calls,
                "url": redact_url(self._url.reveal()), "prefix": self._prefix}

    # -- reads: local only -------------------------------------------------------------
    def circuit(self, key: str) -> Circuit | None:
        return self._local.circuit(key)

    def circuits(self) -> dict[str, Circuit]:
        return self._local.circuits()

    def disabled_until(self, provider: str) -> float | None:
        return self._local.disabled_until(provider)

    def forced(self) -> str | None:
        return self._local.forced()

    def stats(self, target_key: str) -> TargetStats | None:
        return self._local.stats(target_key)

    def record(self, target_key: str, *, ok: bool, code: str, ms: float, wall: float,
               ttft_ms: float | None = None) -> None:
        self._local.record(target_key, ok=ok, code=code, ms=ms, wall=wall,
                           ttft_ms=ttft_ms)   # per replica

    # -- writes: local at once, Redis in the background --------------------------------
    def put_circuit(self, circuit: Circuit) -> None:
        self._local.put_circuit(circuit)
        if not self._tables.put_circuit(circuit):
            return   # only the local rolling window moved: nothing to share
        key = circuit.key
        if circuit.state is not CircuitState.HALF_OPEN and key in self._leases:
            self._releases[self._key(f"lease:{key}")] = self._leases.pop(key)
        self._wake_writer()

    def set_disabled(self, provider: str, until: float | None) -> None:
        self._local.set_disabled(provider, until)
        self._tables.put_disabled(provider, until)
        self._wake_writer()

    def set_forced(self, provider: str | None) -> None:
        self._local.set_forced(provider)
        self._tables.put_forced(provider)
        self._wake_writer()

    def attach(self, peers: Peers) -> None:
        self._tables.peers = self._exchange.peers = peers

    def share_limits(self, target_key: str, facts: LimitFacts) -> None:
        self._tables.put_limits(target_key, facts)
        self._wake_writer()

    def share_override(self, name: str, value: str | None) -> None:
        self._tables.put_override(name, value)
        self._wake_writer()

    def add_spend(self, usd: float, wall: float) -> None:
        self._exchange.add_spend(usd, wall)   # written by the next poll, not per answer

    def spend_totals(self, wall: float) -> tuple[float, float] | None:
        return self._exchange.spend_totals(wall, self.connected)

    def _own_windows(self) -> dict[str, tuple[int, int]]:
        """(calls, failures) per circuit in this replica's rolling windows, for the others."""
        now = self._clock()
        out = {}
        for key, c in self._local.circuits().items():
            calls, failures, _ = c.window.totals(now)
            if calls:
                out[key] = (calls, failures)
        return out

    def _peer_windows(self, windows: dict[str, tuple[int, int]]) -> None:
        """The other replicas' (calls, failures) onto every local circuit, creating the
        circuits of targets used elsewhere and not yet here."""
        circuits = self._local.circuits()
        for key in circuits.keys() | windows.keys():
            c = circuits.get(key)
            if c is None:
                c = Circuit(key, RollingWindow(self._window))
                self._local.put_circuit(c)
            c.peer_calls, c.peer_failures = windows.get(key, (0, 0))

    def _wake_writer(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- the two atomic calls on the request path --------------------------------------
    async def lease(self, key: str, ttl: float) -> bool:
        """Take the half-open trial of `key` cluster-wide for `ttl` s (SET NX PX)."""
        if not self.connected or self._redis is None:
            return True   # degraded: this process's circuit record serialises its own trials
        token = f"{self.replica}:{next(self._ids)}"
        self.lease_calls += 1
        try:
            async with asyncio.timeout(self.settings.timeout):
                got = await self._redis.set(self._key(f"lease:{key}"), token, nx=True,
                                            px=max(1, int(ttl * 1000)))
        except Exception as exc:
            self._lost(exc)
            return True
        if got:
            self._leases[key] = token
        return bool(got)

    def unlease(self, key: str) -> None:
        """Give back the trial lease of `key` if we hold it (deleted in the background)."""
        token = self._leases.pop(key, None)
        if token is not None:
            self._releases[self._key(f"lease:{key}")] = token
            self._wake_writer()

    async def admit(self, key: str, limit: int, window: float = 60.0,
                    sent: int = 0) -> float | None:
        """One request against the cluster-wide `limit` per `window` for `key`: None if
        admitted (or Redis unavailable), else seconds until a slot frees. Spends a locally
        held permit when there is one; otherwise one Lua call takes a batch. `sent`:
        requests sent earlier in the window without asking (the limit was unknown)."""
        if not self.connected or self._redis is None:
            return None   # degraded: the local ledger still applies its own limit
        try:
            return await self._permits.admit(self._redis, self._key(f"rl:{key}"), limit,
                                             window, self.settings.timeout, sent)
        except Exception as exc:
            self._lost(exc)
            return None

    async def admit_tokens(self, key: str, limit: int, tokens: int, window: float = 60.0,
                           sent: int = 0) -> tuple[float | None, Any]:
        """Take `tokens` (an estimate) from the cluster-wide tokens-per-`window` `limit` of
        `key`: (None, hold) if they fit (or Redis is unavailable: hold None), else (seconds
        until they could, None). `sent`: tokens sent earlier in the window without asking
        (the limit was unknown)."""
        if not self.connected or self._redis is None:
            return None, None
        rkey = self._key(f"tk:{key}")
        self._permits.owe(rkey, sent)
        try:
            wait, hold = await self._permits.take(self._redis, rkey, limit, window,
                                                  self.settings.timeout, max(1, tokens))
        except Exception as exc:
            self._lost(exc)
            return None, None
        return wait, hold

    def settle_tokens(self, hold: Any, used: int | None) -> None:
        if hold is None or used is None:
            return
        taken = sum(piece[1] for piece in hold[1])
        if used < taken:
            self._permits.give_back(hold, taken - used)
        else:
            self._permits.owe(hold[0], used - taken)

    # -- background: write-through, pushed invalidation, poll --------------------------
    async def _write_loop(self) -> None:
        assert self._wake is not None
        while True:
            _raise_if_cancelling()
            await self._wake.wait()
            self._wake.clear()
            if not self._reachable:
                continue   # the poll flushes dirty entries and queued events on reconnect
            try:
                await self._flush()
            except Exception as exc:
                self._down(exc)

    async def _flush(self) -> None:
        redis = self._redis
        returns = self._permits.returns
        if redis is None or not (self._tables.dirty or self._releases or self._outbox
                                 or returns or self._exchange.has_writes):
            return
        dirty = self._tables.take_dirty()
        releases, self._releases = self._releases, {}
        outbox, self._outbox[:] = list(self._outbox), []
        ttl = int(self.settings.key_ttl)
        spend: dict[str, float] = {}
        credit: dict[str, dict[int, int]] = {}
        try:
            pipe = redis.pipeline(transaction=False)
            spend = self._exchange.queue_writes(pipe)
            credit = self._permits.queue_returns(pipe)   # unspent credit back to windows
            for (table, field), snap in dirty.items():
                pipe.eval(PUT_LUA, 2, self._key(table), self._key("state"), field,
                          _json.dumps(snap).decode(), repr(snap["rev"]), ttl * 1000,
                          _json.dumps({"t": table, "f": field, "v": snap}).decode(),
                          int(snap.get("g", -1)) if table == "circuits" else -1)
            for lease_key, token in releases.items():
                pipe.eval(RELEASE_LUA, 1, lease_key, token)
            if outbox:
                from ._redis_events import EventRelay

                EventRelay.append(pipe, self._key("events"), outbox, ttl * 1000)
            await pipe.execute()
        except BaseException:
            self._tables.restore(dirty)
            self._exchange.restore(spend)
            self._permits.restore_returns(credit)
            if outbox:   # events too, oldest first, within the outbox's bound
                from ._redis_events import OUTBOX_MAX

                self._outbox[:0] = outbox
                del self._outbox[:max(0, len(self._outbox) - OUTBOX_MAX)]
            raise

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cache_ttl)
            try:
                await self._sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # one poll that went wrong past Redis's own errors (an answer of a shape
                # not expected, a row that does not apply) must not end the polling: a
                # replica that stops polling never hears of the others again, silently
                log.exception("shared state: a poll of Redis at %s failed",
                              redact_url(self._url.reveal()))
                self._down(exc)
            _raise_if_cancelling()
            if (self._permits.sweep(self._clock()) or self._exchange.has_writes) \
                    and self._wake is not None:
                self._wake.set()

    async def _sync(self) -> None:
        """Pull every shared entry; on reconnect first push what changed here meanwhile."""
        redis = self._redis
        if redis is None:
            return
        started = time.perf_counter()
        try:
            async with asyncio.timeout(max(1.0, self.settings.timeout)):
                pipe = redis.pipeline(transaction=False)
                for table in TABLES:
                    pipe.hgetall(self._key(table))
                self._exchange.queue_poll(pipe, int(self.settings.key_ttl * 1000))
                results = await pipe.execute()
        except Exception as exc:
            self._down(exc)
            return
        rtt = time.perf_counter() - started
        self._reachable = True
        remote = dict(zip(TABLES, results, strict=False))
        # back on the request path only once Redis answers within its timeout again (a
        # slow Redis stays off it, instead of flapping between degraded and restored);
        # the very first poll also opened the connection, so its time is not judged
        restored = not self.connected and (rtt <= self.settings.timeout or not self._synced)
        if restored:
            from redis.exceptions import ClusterDownError

            from ._redis_cluster import cluster_whole  # redis-py's cluster client: lazily

            if not await cluster_whole(redis, max(0.5, self.settings.timeout)):
                # a Cluster coming back answers on our slot's node while others still
                # refuse (CLUSTERDOWN): restoring now would flap (restored, degraded, ...)
                self._down(ClusterDownError("a cluster node still reports cluster_state:fail"))
                return
            # back from an outage only after RISE good polls in a row (a Redis, or a
            # Cluster settling after a restart, that answers one poll and fails the next
            # stays off the request path: one outage, one return); the first connection
            # at start-up is taken at once
            self._good_polls += 1
            restored = self._good_polls >= RISE or not self._synced
        else:
            self._good_polls = 0
        self._synced = True
        self._exchange.take_poll(results)
        for table, rows in remote.items():
            self._tables.apply_rows(table, rows)
        if restored:
            self._tables.push_newer(remote)
            self.connected = True
            self._reconnects += 1
            if self._announced_down:
                self._announced_down = False
                log.warning("shared state: Redis at %s is back; resynchronised",
                            redact_url(self._url.reveal()))
                if self._events is not None:
                    self._events.emit("STATE_RESTORED", backend="redis", replica=self.replica)
            self._wake_writer()

    async def _listen_loop(self) -> None:
        """Pushed invalidation: apply other replicas' changes as they happen.

        After every reconnection the subscription is made again: the old one may sit on a
        server that is no longer the master. A frozen or cut-off master that Sentinel
        replaced sends nothing and closes nothing, so its subscriber would wait on it for
        ever while the others publish on the new master."""
        while True:
            redis = self._redis
            if redis is None:
                return
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            subscribed_at = self._reconnects
            try:
                await pubsub.subscribe(self._key("state"))
                while subscribed_at == self._reconnects:
                    _raise_if_cancelling()
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is not None:
                        self._on_message(msg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(exc, subscribed_at)
                await asyncio.sleep(self.settings.cache_ttl)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _on_message(self, msg: dict[str, Any]) -> None:
        try:
            data = _json.loads(msg["data"])
        except (_json.JSONDecodeError, TypeError, KeyError):
            return
        snap = data.get("v") or {}
        if snap.get("o") != self.replica:
            self._tables.apply(str(data.get("t")), str(data.get("f")), snap)

    def _epoch(self) -> int:
        return self._reconnects

    def _failed(self, exc: BaseException, epoch: int) -> None:
        """A background call issued in connection `epoch` failed. If the state came back
        since (the poll restored it), the failure belongs to the outage before: ignored,
        else a replica just restored would flap (restored, degraded, restored); the next
        call judges Redis as it is now."""
        if epoch == self._reconnects:
            self._down(exc)

    def _lost(self, exc: BaseException) -> None:
        """A request-path call failed: a timeout means Redis is slow, anything else down."""
        self._down(exc, slow=isinstance(exc, TimeoutError))

    def _down(self, exc: BaseException, *, slow: bool = False) -> None:
        """Off the request path: Redis failed (or, `slow`, a request-path call timed out:
        Redis still answers, so background writes go on)."""
        if isinstance(exc, asyncio.CancelledError):
            raise exc
        _raise_if_cancelling()
        if not slow:
            self._reachable = False
        self._good_polls = 0
        if self.connected or not self._announced_down:
            reason = (f"slow: no answer within {self.settings.timeout * 1000:.0f} ms" if slow
                      else type(exc).__name__)
            log.warning("shared state: Redis at %s unavailable (%s); serving on local state",
                        redact_url(self._url.reveal()), reason)
            if not self._announced_down:
                self.degradations += 1
            if not self._announced_down and self._events is not None:
                self._events.emit("STATE_DEGRADED", backend="redis", replica=self.replica,
                                  error=reason, code="state_unreachable")
            self._announced_down = True
        self.connected = False


def _raise_if_cancelling() -> None:
    """redis-py may swallow a cancellation that lands mid-command (or turn it into a
    connection error); a loop whose task is being cancelled must still stop, since
    `aclose` waits for it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError

"""Every replica's events on every replica's bus, through the Redis stream `events`.

Local events are queued for the state writer, which appends them to the stream
(`XADD ... MAXLEN ~ 1000`, the key's TTL renewed with each batch). Each replica follows
the stream in a background task (`XREAD BLOCK`) from the last entry id it saw, so a
replica whose connection dropped (Redis restart, network blip) catches up on the events it
missed once it is back, as long as the stream still holds them. Events from other replicas
are appended to the local bus with `origin` set to the replica that emitted them; entries
this replica wrote are skipped, and events that carry an `origin` are never sent again,
so nothing echoes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _json
from ..telemetry import Event, EventBus

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["EventRelay"]

log = logging.getLogger("provider_fallback.state")

OUTBOX_MAX = 1000      # while Redis is slow, older unsent events are dropped
STREAM_MAXLEN = 1000   # approximate: Redis trims whole nodes, so a few more may remain
READ_BLOCK = 0.5       # s an XREAD waits for new entries; below the client socket timeout
READ_COUNT = 200


class EventRelay:
    def __init__(self, bus: EventBus, replica: str, outbox: list[str],
                 wake: Callable[[], None]) -> None:
        self.bus = bus
        self.replica = replica
        self.last_id: str | None = None   # last stream entry seen; None: not yet positioned
        self._outbox = outbox
        self._wake = wake
        self._unsubscribe = bus.subscribe(self._publish)

    def close(self) -> None:
        self._unsubscribe()

    def _publish(self, event: Event) -> None:
        if "origin" in event.fields:
            return   # came from another replica
        try:
            message = _json.dumps({"o": self.replica, "type": event.type, "ts": event.ts,
                                   "fields": event.fields}).decode()
        except (TypeError, ValueError):
            return
        if len(self._outbox) >= OUTBOX_MAX:
            del self._outbox[0]
        self._outbox.append(message)
        self._wake()

    @staticmethod
    def append(pipe: Any, key: str, messages: list[str], ttl_ms: int) -> None:
        """Queue `messages` for the stream on a pipeline, and renew the stream's TTL."""
        for message in messages:
            pipe.xadd(key, {"m": message}, maxlen=STREAM_MAXLEN, approximate=True)
        if messages:
            pipe.pexpire(key, ttl_ms)

    async def position(self, redis: aioredis.Redis, key: str) -> None:
        """Start after the stream's last entry: a new replica gets what is emitted from now
        on, not the history. Until this succeeds (Redis down at start), `follow` does it."""
        tail = await redis.xrevrange(key, count=1)
        self.last_id = _text(tail[0][0]) if tail else "0-0"

    async def follow(self, redis: aioredis.Redis, key: str, *,
                     on_error: Callable[[BaseException, int], None],
                     epoch: Callable[[], int], retry_after: float) -> None:
        """Read the stream for ever; after a failure wait `retry_after` and resume from the
        last entry seen, so what was added meanwhile is still delivered. A failure goes to
        `on_error` with the connection `epoch()` the failed read was issued in: a Cluster
        client holds a CLUSTERDOWN back for 0.25 s, so a read issued during an outage can
        fail after the state is back, and that says nothing about Redis now."""
        while True:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError   # redis-py may swallow one mid-command
            issued = epoch()
            try:
                if self.last_id is None:
                    await self.position(redis, key)
                reply = await redis.xread({key: self.last_id}, count=READ_COUNT,
                                          block=int(READ_BLOCK * 1000))
                for _stream, entries in reply or []:
                    for entry_id, fields in entries:
                        self.last_id = _text(entry_id)
                        self._receive_entry(fields)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                on_error(exc, issued)
                await asyncio.sleep(retry_after)

    def _receive_entry(self, fields: Any) -> None:
        raw = fields.get(b"m", fields.get("m")) if isinstance(fields, dict) else None
        try:
            data = _json.loads(raw)
        except (_json.JSONDecodeError, TypeError, ValueError):
            return
        self.receive(data)

    def receive(self, data: Any) -> None:
        if not isinstance(data, dict) or data.get("o") == self.replica:
            return
        kind, fields = data.get("type"), data.get("fields")
        if not isinstance(kind, str) or not isinstance(fields, dict):
            return
        fields = {k: v for k, v in fields.items() if isinstance(k, str) and k != "type"}
        fields["origin"] = str(data.get("o"))
        self.bus.emit(kind, **fields)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

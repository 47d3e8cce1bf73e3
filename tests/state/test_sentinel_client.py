"""The Sentinel client keeps every sentinel when master lookups run concurrently (no Redis
needed: the sentinels are stand-ins)."""

from __future__ import annotations

import asyncio
from typing import Any

from provider_fallback.state._redis_url import SentinelClient, parse_sentinel_url


class StandInSentinel:
    """Answers SENTINEL MASTERS after `delay`, with the master up or (sdown) not."""

    def __init__(self, name: str, *, sees_master: bool, delay: float) -> None:
        self.name, self.sees_master, self.delay = name, sees_master, delay

    async def sentinel_masters(self) -> dict[str, Any]:
        await asyncio.sleep(self.delay)
        return {"mymaster": {"ip": "127.0.0.1", "port": 7000, "is_master": True,
                             "is_sdown": not self.sees_master, "is_odown": False,
                             "num-other-sentinels": 2}}

    def __repr__(self) -> str:
        return self.name


async def test_concurrent_master_lookups_keep_every_sentinel() -> None:
    """What RedisState's tasks do during a failover: all look the master up at once while
    the first sentinel still reports it down. redis-py's own reordering, interleaved,
    wrote one sentinel over another (['s1', 's1', 's2']): s0 was never asked again."""
    holder = SentinelClient(parse_sentinel_url("redis+sentinel://h:1,h:2,h:3/mymaster"), {})
    try:
        holder.sentinel.sentinels[:] = [StandInSentinel("s0", sees_master=False, delay=0.001),
                                        StandInSentinel("s1", sees_master=True, delay=0.003),
                                        StandInSentinel("s2", sees_master=True, delay=0.002)]
        found = await asyncio.gather(*(holder.sentinel.discover_master("mymaster")
                                       for _ in range(10)))
        assert found == [("127.0.0.1", 7000)] * 10
        assert sorted(map(repr, holder.sentinel.sentinels)) == ["s0", "s1", "s2"]
        assert repr(holder.sentinel.sentinels[0]) == "s1"   # who answered is asked first
    finally:
        await holder.aclose()

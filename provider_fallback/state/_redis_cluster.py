"""The client RedisState uses on a Redis Cluster: redis-py's asyncio `RedisCluster`, with
one difference in its pipelines.

redis-py refuses some commands in a cluster pipeline outright (`MGET`, `PUBLISH`,
`EVALSHA`, `SCAN`, ... in `redis.cluster.PIPELINE_BLOCKED_COMMANDS`), since in general
their keys may span slots. RedisState's keys all share the prefix's hash tag
(`_redis_url.effective_prefix`), so a multi-key read of them is a single-slot command like
any other: `StatePipeline` lets `MGET` through. A call whose keys do span slots still
fails (`RedisClusterException: ... all keys must map to the same key slot`), and the other
blocked commands stay blocked. Everything else RedisState does (EVAL with several keys,
pipelines without a transaction, pub/sub, XREAD BLOCK, SET NX PX) works on a plain
`RedisCluster` and is unchanged.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.exceptions import (
    ClusterDownError,
    NoPermissionError,
    RedisClusterException,
    ResponseError,
)

if TYPE_CHECKING:
    from ._redis_url import ClusterURL

__all__ = ["UNBLOCKED", "StateCluster", "StatePipeline", "cluster_whole", "open_cluster"]

UNBLOCKED = ("MGET",)   # pipeline commands allowed here although redis-py blocks them


class StatePipeline(ClusterPipeline):
    """A cluster pipeline (never a transaction) that also sends `MGET` of one slot."""

    __slots__ = ()

    def mget(self, keys: Any, *args: Any) -> Any:
        names = [*keys, *args] if isinstance(keys, list | tuple) else [keys, *args]
        return self.execute_command("MGET", *names)


class StateCluster(RedisCluster):
    """`RedisCluster` whose `pipeline()` is a `StatePipeline`."""

    def pipeline(self, transaction: Any | None = None,
                 shard_hint: Any | None = None) -> StatePipeline:
        if shard_hint:
            raise RedisClusterException("shard_hint is not supported on a Redis Cluster")
        return StatePipeline(self, transaction)


def open_cluster(parsed: ClusterURL, **options: Any) -> StateCluster:
    """A cluster client seeded with the URL's nodes. It learns the slot map from the first
    node that answers, follows MOVED/ASK redirects, and relearns the map after a failure."""
    return StateCluster(startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
                        username=parsed.username, password=parsed.password, ssl=parsed.tls,
                        **options)


async def cluster_whole(redis: Any, timeout: float) -> bool:
    """False while a Redis Cluster is not whole again: a node that answers reports
    `cluster_state:fail` (it refuses every command with CLUSTERDOWN until it has met the
    others). A node that does not answer within `timeout` is left out: with
    `cluster-require-full-coverage no` the rest serve without it. RedisState asks only on
    the way back from an outage; always True for a single Redis or Sentinel."""
    if not isinstance(redis, RedisCluster):
        return True

    async def state(node: Any) -> str | None:
        try:
            async with asyncio.timeout(timeout):
                info = await redis.execute_command("CLUSTER INFO", target_nodes=node)
        except ClusterDownError:
            return "fail"
        except (NoPermissionError, ResponseError):
            return None      # an ACL or a managed service refusing CLUSTER INFO
        except Exception:
            return None      # not answering: left out
        return str(info.get("cluster_state")) if isinstance(info, dict) else None

    states = await asyncio.gather(*(state(n) for n in redis.get_nodes()))
    return "fail" not in states

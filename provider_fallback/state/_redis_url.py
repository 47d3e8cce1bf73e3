"""Which Redis a `state.url` names, and the client that talks to it.

- `redis://`, `rediss://`, `unix://`: one server (redis-py's own URL format).
- `redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service_name[/db]`:
  the master that the Sentinel group elects for `service_name` (sentinel port 26379 by
  default, db 0 by default). The password authenticates to the master; the sentinels are
  asked without one. After a failover the client follows the new master on its next
  connection.
- `redis+cluster://[[user]:password@]host[:port][,host[:port]...][/]` (`rediss+cluster://`
  for TLS): a Redis Cluster, found through any of the listed seed nodes (port 6379 by
  default). A cluster has only database 0 and takes no `?options` here.

On a cluster, a Lua script or a multi-key call may only touch keys of one hash slot. All
of RedisState's keys and its channel share the prefix, so `effective_prefix` gives the
prefix a hash tag when it has none: `pf:` becomes `{pf}:` and every key hashes like `pf`
(one slot, one master). A prefix that already has a tag (`{gw1}:`) is kept as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["CLUSTER_SCHEMES", "SCHEMES", "ClusterURL", "SentinelURL", "effective_prefix",
           "has_hash_tag", "is_cluster_url", "open_client", "parse_cluster_url",
           "parse_sentinel_url", "redact_url"]

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", *CLUSTER_SCHEMES)
SENTINEL_PORT = 26379
REDIS_PORT = 6379
SENTINEL_SHAPE = "redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db]"
CLUSTER_SHAPE = "redis+cluster://[[user]:password@]host:port[,host:port...] (or rediss+cluster://)"


@dataclass(frozen=True, slots=True)
class SentinelURL:
    """A parsed `redis+sentinel://` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:   # never print the password
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return f"SentinelURL({hosts}/{self.service}/{self.db})"


@dataclass(frozen=True, slots=True)
class ClusterURL:
    """A parsed `redis+cluster://` or `rediss+cluster://` URL: the seed nodes."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    tls: bool = False

    def __repr__(self) -> str:   # never print the password
        hosts = ",".join(f"{h}:{p}" for h, p in self.nodes)
        return f"ClusterURL({hosts}, tls={self.tls})"


def parse_sentinel_url(url: str) -> SentinelURL:
    """Split a `redis+sentinel://` URL; ValueError names what is wrong (never the password)."""
    shape = SENTINEL_SHAPE
    parts = urlsplit(url)
    if parts.scheme != "redis+sentinel":
        raise ValueError(f"not a Sentinel URL: use {shape}")
    username, password, hostlist = _userinfo(parts.netloc)
    sentinels = _host_list(hostlist, "Sentinel", shape, SENTINEL_PORT)
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError(f"Sentinel URL needs the service name after the hosts: {shape}")
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise ValueError(f"Sentinel URL database '{path[1]}' is not a number: {shape}")
        db = int(path[1])
    return SentinelURL(sentinels, unquote(path[0]), db, username, password)


def parse_cluster_url(url: str) -> ClusterURL:
    """Split a cluster URL; ValueError names what is wrong (never the password)."""
    shape = CLUSTER_SHAPE
    parts = urlsplit(url)
    if parts.scheme not in CLUSTER_SCHEMES:
        raise ValueError(f"not a Cluster URL: use {shape}")
    if parts.query or parts.fragment:
        raise ValueError(f"Cluster URL takes no '?options' or '#': use {shape}")
    username, password, hostlist = _userinfo(parts.netloc)
    nodes = _host_list(hostlist, "Cluster", shape, REDIS_PORT)
    if parts.path.strip("/") not in ("", "0"):
        raise ValueError(f"Cluster URL path '{parts.path}': a cluster has only database 0, "
                         f"so end the URL after the hosts: {shape}")
    return ClusterURL(nodes, username, password, tls=parts.scheme == "rediss+cluster")


def is_cluster_url(url: str | None) -> bool:
    """True for `redis+cluster://` and `rediss+cluster://` URLs."""
    return url is not None and urlsplit(url).scheme in CLUSTER_SCHEMES


def has_hash_tag(prefix: str) -> bool:
    """True if every key starting with `prefix` hashes by a tag inside it: Redis hashes
    the text between the first `{` and the first `}` after it, when that is not empty."""
    start = prefix.find("{")
    return start != -1 and prefix.find("}", start + 1) > start + 1


def effective_prefix(url: str | None, prefix: str) -> str:
    """The key prefix RedisState uses for `prefix` on `url`: unchanged, except on a Redis
    Cluster where a prefix without a hash tag is wrapped in one (trailing `:` stay
    outside): `pf:` -> `{pf}:`, so all keys and the channel share one slot."""
    if not is_cluster_url(url) or has_hash_tag(prefix):
        return prefix
    stem = prefix.rstrip(":") or prefix
    return f"{{{stem}}}{prefix[len(stem):]}"


def _userinfo(netloc: str) -> tuple[str | None, str | None, str]:
    """(username, password, host list) of a URL's netloc; the password may contain `@`."""
    userinfo, _, hostlist = netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, sep, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if sep else None
    return username, password, hostlist


def _host_list(hostlist: str, kind: str, shape: str,
               default_port: int) -> tuple[tuple[str, int], ...]:
    return tuple(_host_port(item.strip(), kind, shape, default_port)
                 for item in hostlist.split(","))


def _host_port(item: str, kind: str, shape: str, default_port: int) -> tuple[str, int]:
    if not item:
        raise ValueError(f"{kind} URL lists no {kind.lower()} host: {shape}")
    if item.startswith("["):             # [::1]:26379
        host, _, rest = item[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = item.rpartition(":") if ":" in item else (item, "", "")
    if not host:
        raise ValueError(f"{kind} URL host '{item}' has no name: {shape}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{kind} URL port '{port_text}' is not a port number: {shape}")
    return host, int(port_text)


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and status (works on host lists)."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:[secret]@{hosts}").geturl()


class SentinelClient:
    """The master's client, plus the sentinel connections to close with it.

    Master lookups take turns: redis-py's asyncio `Sentinel.discover_master` moves the
    sentinel that answered to the front of its list by a swap that reads the list before
    an await and writes it after. RedisState's tasks reconnect at the same time during a
    failover (the first sentinels asked report the master down), and two interleaved
    swaps write one sentinel over another: that sentinel is never asked again and its
    connections are never closed (redis-py 8.1)."""

    def __init__(self, parsed: SentinelURL, options: dict[str, Any]) -> None:
        import asyncio

        from redis.asyncio.sentinel import Sentinel

        sentinel_options = {k: v for k, v in options.items()
                            if k.startswith("socket_") or k == "retry"}
        self.sentinel = Sentinel(list(parsed.sentinels), sentinel_kwargs=sentinel_options,
                                 **options)
        self._sentinels = list(self.sentinel.sentinels)   # to close, in whatever order
        self._discover = self.sentinel.discover_master
        self._turn = asyncio.Lock()
        self.sentinel.discover_master = self._discover_master  # type: ignore[method-assign]
        self.master = self.sentinel.master_for(parsed.service, db=parsed.db,
                                               username=parsed.username,
                                               password=parsed.password, **options)

    async def _discover_master(self, service_name: str) -> Any:
        async with self._turn:
            return await self._discover(service_name)

    async def aclose(self) -> None:
        errors: list[Exception] = []
        for client in (self.master, *self._sentinels):   # each, even if one fails
            try:
                await client.aclose()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


def open_client(url: str, **options: Any) -> tuple[aioredis.Redis, Any]:
    """A client for `url`, and the object whose `aclose()` releases everything it opened.

    For a cluster URL the client is a `RedisCluster` (`_redis_cluster.py`), typed as `Redis`:
    it has every command RedisState and EventRelay send (tests/state/test_redis_cluster.py
    runs them on a real cluster), as long as each call's keys share a slot
    (`effective_prefix`)."""
    scheme = urlsplit(url).scheme
    if scheme == "redis+sentinel":
        holder = SentinelClient(parse_sentinel_url(url), options)
        return holder.master, holder
    if scheme in CLUSTER_SCHEMES:
        from ._redis_cluster import open_cluster

        cluster = open_cluster(parse_cluster_url(url), **options)
        return cast("aioredis.Redis", cluster), cluster
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, **options)
    return client, client

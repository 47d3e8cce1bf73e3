"""Which Redis a `state.url` names, and the client that talks to it.

- `redis://`, `rediss://`, `unix://`: one server (redis-py's own URL format).
- `redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service_name[/db]`:
  the master that the Sentinel group elects for `service_name` (sentinel port 26379 by
  default, db 0 by default). The password authenticates to the master; the sentinels are
  asked without one. After a failover the client follows the new master on its next
  connection.

Cluster URLs are refused for now (`redis+cluster://`): the Lua scripts touch several keys,
which a cluster only allows when they share a hash slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["SCHEMES", "SentinelURL", "open_client", "parse_sentinel_url", "redact_url"]

SCHEMES = ("redis", "rediss", "unix", "redis+sentinel")
SENTINEL_PORT = 26379


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


def parse_sentinel_url(url: str) -> SentinelURL:
    """Split a `redis+sentinel://` URL; ValueError names what is wrong (never the password)."""
    shape = "redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db]"
    parts = urlsplit(url)
    if parts.scheme != "redis+sentinel":
        raise ValueError(f"not a Sentinel URL: use {shape}")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, sep, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if sep else None
    sentinels: list[tuple[str, int]] = []
    for item in hostlist.split(","):
        host, port = _host_port(item.strip(), shape)
        sentinels.append((host, port))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError(f"Sentinel URL needs the service name after the hosts: {shape}")
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise ValueError(f"Sentinel URL database '{path[1]}' is not a number: {shape}")
        db = int(path[1])
    return SentinelURL(tuple(sentinels), unquote(path[0]), db, username, password)


def _host_port(item: str, shape: str) -> tuple[str, int]:
    if not item:
        raise ValueError(f"Sentinel URL lists no sentinel host: {shape}")
    if item.startswith("["):             # [::1]:26379
        host, _, rest = item[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = item.rpartition(":") if ":" in item else (item, "", "")
    if not host:
        raise ValueError(f"Sentinel URL host '{item}' has no name: {shape}")
    if not port_text:
        return host, SENTINEL_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"Sentinel URL port '{port_text}' is not a port number: {shape}")
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
    """The master's client, plus the sentinel connections to close with it."""

    def __init__(self, parsed: SentinelURL, options: dict[str, Any]) -> None:
        from redis.asyncio.sentinel import Sentinel

        sentinel_options = {k: v for k, v in options.items()
                            if k.startswith("socket_") or k == "retry"}
        self.sentinel = Sentinel(list(parsed.sentinels), sentinel_kwargs=sentinel_options,
                                 **options)
        self.master = self.sentinel.master_for(parsed.service, db=parsed.db,
                                               username=parsed.username,
                                               password=parsed.password, **options)

    async def aclose(self) -> None:
        await self.master.aclose()
        for client in self.sentinel.sentinels:
            await client.aclose()


def open_client(url: str, **options: Any) -> tuple[aioredis.Redis, Any]:
    """A client for `url`, and the object whose `aclose()` releases everything it opened."""
    if urlsplit(url).scheme == "redis+sentinel":
        holder = SentinelClient(parse_sentinel_url(url), options)
        return holder.master, holder
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, **options)
    return client, client

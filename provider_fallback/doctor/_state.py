"""Doctor's check of the routing-state backend: is the shared Redis there, and able to do
what the shared state asks of it (Lua scripts, streams: Redis 5.0 or later)?"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any
from urllib.parse import urlsplit

from ..config import StateSettings
from ..errors import Facts
from ._findings import Finding, Severity

__all__ = ["check_state"]

MIN_VERSION = (5, 0)   # streams (XADD / XREAD) arrived in 5.0


async def check_state(settings: StateSettings, *, timeout: float = 5.0) -> Finding:
    """One finding about `state:`: OK with the server's version and round-trip time; a
    warning if Redis cannot be reached (the gateway would serve on local state); an error
    if it is too old or refuses Lua scripts."""
    if settings.backend != "redis" or settings.url is None:
        return Finding("state", "memory", Severity.OK,
                       "routing state is kept in each process (state.backend: memory); with "
                       "several workers or replicas use state: {backend: redis}")
    from redis.exceptions import (
        AuthenticationError,
        RedisClusterException,
        RedisError,
        ResponseError,
    )

    from ..state._redis_url import open_client, redact_url

    url = settings.url.reveal()
    shown = redact_url(url)
    started = time.perf_counter()
    client, closer = None, None
    try:
        async with asyncio.timeout(timeout):
            client, closer = open_client(url, socket_timeout=timeout,
                                         socket_connect_timeout=timeout)
            await client.ping()
            rtt_ms = (time.perf_counter() - started) * 1000
            version = _version(await client.info("server"))
            await client.eval("return 1", 0)
    except (TimeoutError, OSError, RedisError, RedisClusterException, ValueError) as exc:
        if isinstance(exc, ResponseError) and "script" in str(exc).lower():
            return Finding("state", shown, Severity.ERROR,
                           f"Redis at {shown} refuses Lua scripts ({exc}); the shared state "
                           "needs EVAL", code="state_unsupported")
        why = "wrong password or user in state.url" if isinstance(exc, AuthenticationError) \
            else (str(exc) or type(exc).__name__)
        return Finding("state", shown, Severity.WARNING,
                       f"Redis at {shown} unreachable ({why}): the gateway would serve on "
                       "local state, sharing nothing with other workers or replicas",
                       code="state_unreachable", detail={"error": type(exc).__name__},
                       facts=_where(url))
    finally:
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer.aclose()
    if version is not None and version < MIN_VERSION:
        text = ".".join(map(str, version))
        return Finding("state", shown, Severity.ERROR,
                       f"Redis {text} at {shown} is too old: the shared state needs 5.0 or "
                       "later (streams)", code="state_unsupported", detail={"version": text})
    text = "unknown version" if version is None else "Redis " + ".".join(map(str, version))
    return Finding("state", shown, Severity.OK,
                   f"{text} at {shown} answers in {rtt_ms:.1f} ms; keys under "
                   f"{settings.key_prefix!r}",
                   detail={"rtt_ms": round(rtt_ms, 2)})


def _where(url: str) -> Facts:
    """The first host and port of a Redis URL (never its password), for the fix steps."""
    try:
        parts = urlsplit(url.split(",", 1)[0])
        return Facts.of(host=parts.hostname, port=parts.port or 6379)
    except ValueError:
        return Facts()


def _version(info: Any) -> tuple[int, ...] | None:
    """`redis_version` from INFO; on a cluster (one INFO per node) the oldest node's."""
    if not isinstance(info, dict):
        return None
    if "redis_version" in info:
        infos = [info]
    else:
        infos = [v for v in info.values() if isinstance(v, dict)]
    versions = []
    for one in infos:
        with contextlib.suppress(ValueError, AttributeError, KeyError):
            versions.append(tuple(int(x) for x in str(one["redis_version"]).split(".")[:2]))
    return min(versions) if versions else None

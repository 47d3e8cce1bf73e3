"""Requests beside the request path (health probes, count_tokens, alert webhooks) on the
request path's own HTTP/1.1 client (`_http1.Pool`), one pool per origin and proxy.

So the serving process carries one HTTP client, not two: before, these went through an
aiohttp session, which cost every worker ~11 MiB of memory for a few requests a minute.
Same rules as aiohttp's sessions with `trust_env=False`: no proxy unless given, the
system's certificate store, redirects not followed (`_redirects.follow` decides).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from .. import _json
from ..errors._wire import InvalidURL
from ._answer import Response
from ._client import header_problem
from ._http1 import Pool, basic_credentials

__all__ = ["Fetcher"]

_MAX_POOLS = 64   # origins kept; past this the oldest pool is closed


class Fetcher:
    """`keepalive=False`: every request on a fresh connection (a probe that reuses one
    would not notice a host that stopped accepting new connections)."""

    def __init__(self, *, keepalive: bool = True) -> None:
        self._keepalive = keepalive
        self._pools: dict[tuple[str, str | None], Pool] = {}

    async def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                      data: bytes | str = b"", json: object = None,
                      proxy: str | None = None, allow_redirects: bool = False) -> Response:
        """The answer once its status and headers arrived: read its `content`, then
        `release()` it (or `async with` it). Bound the time with `asyncio.timeout`.
        Redirects are never followed here (`allow_redirects` is aiohttp's argument, for
        `_redirects.send`, which follows those it should)."""
        if allow_redirects:
            raise ValueError("Fetcher never follows redirects: use _redirects.send")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidURL(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
        sent = dict(headers or {})
        if parts.username is not None and not any(k.lower() == "authorization" for k in sent):
            # a webhook URL's own credentials (https://user:secret@host/hook), as HTTP Basic
            sent["Authorization"] = basic_credentials(parts)
        if json is not None:
            data = _json.dumps(json)
            sent.setdefault("Content-Type", "application/json")
        for name, value in sent.items():
            if header_problem(name) or header_problem(str(value)):
                raise ValueError(f"the header {name!r} has a character HTTP cannot send")
        key = (f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}", proxy)
        pool = self._pools.get(key)
        if pool is None or pool.closed:
            if len(self._pools) >= _MAX_POOLS:
                oldest = next(iter(self._pools))
                await self._pools.pop(oldest).aclose()
            pool = self._pools[key] = Pool(key[0], proxy, keepalive=self._keepalive)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        body = data.encode() if isinstance(data, str) else data
        return await pool.request(method, path, body, static=pool.static(sent),
                                  connect_timeout=None)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()

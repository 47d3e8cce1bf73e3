"""The provider boundary: pooled HTTP to each upstream, failures mapped to the registry here.

Every upstream failure leaves this module as an `UpstreamError` carrying a classified
`Failure`; nothing above it sees aiohttp exceptions.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ..config import ProviderSpec, Target
from ..errors import UpstreamError, classify_exception, classify_response
from ._dialects import dialect_for

__all__ = ["UpstreamClient", "proxy_for"]

_ERROR_BODY_LIMIT = 64 * 1024


def proxy_for(base_url: str) -> str | None:
    """The HTTP(S)_PROXY that applies to `base_url`, honouring NO_PROXY (read once, at startup)."""
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass_environment(parts.hostname or "", proxies):
        return None
    return proxy


class UpstreamClient:
    """One keep-alive connection pool per provider, created lazily inside the running loop."""

    def __init__(self, providers: Mapping[str, ProviderSpec]) -> None:
        self._providers = providers
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        # each provider's static headers in its API's dialect (Bearer, or x-api-key +
        # anthropic-version), computed once
        self._headers = {name: dialect_for(p).headers(p, False) for name, p in providers.items()}
        self._stream_headers = {name: dialect_for(p).headers(p, True)
                                for name, p in providers.items()}
        # Resolved once: aiohttp's trust_env would re-read the environment and ~/.netrc
        # on a worker thread for every request.
        self._proxies = {name: proxy_for(p.base_url) for name, p in providers.items()}
        # one ClientTimeout per provider for the usual connect timeout (not one per request)
        self._timeouts = {name: aiohttp.ClientTimeout(total=None,
                                                      sock_connect=p.policy.connect_timeout)
                          for name, p in providers.items()}

    def _session(self, provider: ProviderSpec) -> aiohttp.ClientSession:
        session = self._sessions.get(provider.name)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=provider.max_connections, limit_per_host=0,
                                             keepalive_timeout=30, ttl_dns_cache=300)
            session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=None),
                auto_decompress=True, trust_env=False, skip_auto_headers=("User-Agent",),
            )
            self._sessions[provider.name] = session
        return session

    async def open(self, target: Target, path: str, payload: bytes, *, stream: bool,
                   header_timeout: float | None, connect_timeout: float,
                   headers: Mapping[str, str] | None = None) -> aiohttp.ClientResponse:
        """Send one request; return the response once a 2xx status and headers arrived.

        A non-2xx answer is read (bounded), classified and raised as UpstreamError.
        `header_timeout` bounds the wait for the status line (time to first token for
        streams); None leaves it to the caller's own deadline. `headers` replaces the
        provider's static ones (an Anthropic target given the client's anthropic-beta).
        `path` is the upstream's own (the dialect's `path()`).
        """
        provider = target.provider
        session = self._session(provider)
        if headers is None:
            headers = self._stream_headers[provider.name] if stream else self._headers[provider.name]
        timeout = self._timeouts.get(provider.name)
        if timeout is None or timeout.sock_connect != connect_timeout:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout)
        phase = "first_token" if stream else "total"
        try:
            post = session.post(provider.base_url + path, data=payload, headers=headers,
                                timeout=timeout, proxy=self._proxies.get(provider.name))
            if header_timeout is None:
                resp = await post
            else:
                async with asyncio.timeout(header_timeout):
                    resp = await post
        except aiohttp.ConnectionTimeoutError as exc:
            raise UpstreamError(classify_exception(exc, provider=provider.name, model=target.model,
                                                   phase="connect")) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise UpstreamError(classify_exception(exc, provider=provider.name, model=target.model,
                                                   phase=phase)) from None
        if resp.status < 300:
            return resp
        await self._raise_for(resp, target)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _raise_for(self, resp: aiohttp.ClientResponse, target: Target) -> None:
        try:
            async with asyncio.timeout(5):
                body: Any = await resp.content.read(_ERROR_BODY_LIMIT)
        except (aiohttp.ClientError, OSError, TimeoutError):
            body = b""
        finally:
            resp.release()
        raise UpstreamError(classify_response(resp.status, resp.headers, body,
                                              provider=target.provider.name, model=target.model),
                            headers=resp.headers)

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            await s.close()

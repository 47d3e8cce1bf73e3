"""The provider boundary: pooled HTTP to each upstream, failures mapped to the registry here.

Every upstream failure leaves this module as an `UpstreamError` carrying a classified
`Failure`; nothing above it sees aiohttp exceptions. Redirects are followed only on the
same origin (`_redirects.py`): a provider that moved host is `provider_moved`.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import urllib.request
import weakref
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .._redact import REDACTOR
from .._secret import Secret
from ..config import ProviderSpec, Target
from ..errors import Failure, UpstreamError, classify_exception, classify_response, spec
from ._dialects import dialect_for
from ._redirects import REDIRECTS, moved, send

__all__ = ["UpstreamClient", "header_problem", "pool_exhausted", "proxy_for"]

_ERROR_BODY_LIMIT = 64 * 1024
# What HTTP/1.1 cannot carry in a header value (aiohttp refuses to send it): CR, LF, NUL
# and the other control characters but tab.
_UNSENDABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_NAMES = {"\r": "a carriage return", "\n": "a newline", "\x00": "a NUL byte"}


def header_problem(value: str) -> str | None:
    """Why `value` cannot be sent as an HTTP header value, or None when it can."""
    m = _UNSENDABLE.search(value)
    if m is None:
        return None
    ch = m.group()
    what = _CONTROL_NAMES.get(ch, f"the control character U+{ord(ch):04X}")
    return f"contains {what} at position {m.start() + 1} of {len(value)}"


def _unsendable(provider: ProviderSpec) -> str | None:
    """Why this provider's key or headers cannot be sent, for the error message."""
    if provider.api_key is not None:
        why = header_problem(provider.api_key.reveal())
        if why:
            source = provider.api_key_source or "the api_key"
            return f"its api_key ({source}) {why}"
    for name, value in provider.headers.items():
        why = header_problem(value.reveal() if isinstance(value, Secret) else value)
        if why:
            return f"its header {name} {why}"
    return None


def proxy_for(base_url: str) -> str | None:
    """The HTTP(S)_PROXY that applies to `base_url`, honouring NO_PROXY (read once, at startup)."""
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass_environment(parts.hostname or "", proxies):
        return None
    return proxy


class PoolExhausted(Exception):
    """No pooled connection to the provider came free within the connect timeout."""


POOL_WAIT_SHARE = 0.9
# how long the current request may wait for a free pooled connection
_POOL_WAIT: contextvars.ContextVar[float | None] = contextvars.ContextVar("pool_wait",
                                                                          default=None)


class _PoolConnector(aiohttp.TCPConnector):
    """aiohttp's connector, with the wait for a free pooled connection bounded by the
    request's connect timeout, and noting which requests were still waiting when their own
    time ran out: that wait is the gateway's own limit (`max_connections` per provider),
    not the provider being slow."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # weak: a request cancelled for another reason (client gone) is never asked about
        self.gave_up_waiting: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    async def _wait_for_available_connection(self, *args: Any, **kwargs: Any) -> None:
        wait = _POOL_WAIT.get()
        try:
            async with asyncio.timeout(wait):
                await super()._wait_for_available_connection(*args, **kwargs)  # type: ignore[misc]
        except TimeoutError:
            raise PoolExhausted from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                self.gave_up_waiting.add(task)
            raise

    def waited(self) -> bool:
        """True (once) if the current request timed out waiting for the pool."""
        task = asyncio.current_task()
        if task in self.gave_up_waiting:
            self.gave_up_waiting.discard(task)
            return True
        return False


def pool_exhausted(target: Target, waited: float | None) -> Failure:
    provider = target.provider
    return Failure(spec("gateway_overloaded"), provider=provider.name, model=target.model,
                   message=f"all {provider.max_connections} pooled connections to "
                           f"'{provider.name}' stayed busy for {waited or 0:g}s (raise its "
                           "max_connections)")


def _secret_values(provider: ProviderSpec) -> list[str]:
    values = [v.reveal() for v in provider.headers.values() if isinstance(v, Secret)]
    if provider.api_key is not None:
        values.append(provider.api_key.reveal())
    return values


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
        self._unsendable = {name: why for name, p in providers.items()
                            if (why := _unsendable(p)) is not None}
        # upstreams echo keys back in error messages: the classifier masks them where it
        # builds the message, for as long as this client lives
        REDACTOR.register(self, [v for p in providers.values() for v in _secret_values(p)])
        # one ClientTimeout per provider for the usual connect timeout (not one per request)
        self._timeouts = {name: aiohttp.ClientTimeout(total=None,
                                                      sock_connect=p.policy.connect_timeout)
                          for name, p in providers.items()}

    def _session(self, provider: ProviderSpec) -> aiohttp.ClientSession:
        session = self._sessions.get(provider.name)
        if session is None or session.closed:
            connector = _PoolConnector(limit=provider.max_connections, limit_per_host=0,
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
        # the wait for a free pooled connection ends a little before the connect timeout,
        # which may also be the whole attempt's deadline: so it is reported as the
        # gateway's own limit (gateway_overloaded), never as the provider timing out
        _POOL_WAIT.set(connect_timeout * POOL_WAIT_SHARE)
        try:
            post = send(session, "POST", provider.base_url + path, data=payload, headers=headers,
                        timeout=timeout, proxy=self._proxies.get(provider.name))
            if header_timeout is None:
                resp, url = await post
            else:
                async with asyncio.timeout(header_timeout):
                    resp, url = await post
        except PoolExhausted:
            raise UpstreamError(pool_exhausted(target, connect_timeout)) from None
        except aiohttp.ConnectionTimeoutError as exc:
            raise UpstreamError(classify_exception(exc, provider=provider.name, model=target.model,
                                                   phase="connect")) from None
        except TimeoutError as exc:
            connector = session.connector
            if isinstance(connector, _PoolConnector) and connector.waited():
                raise UpstreamError(pool_exhausted(target, header_timeout)) from None
            raise UpstreamError(classify_exception(exc, provider=provider.name, model=target.model,
                                                   phase=phase)) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamError(classify_exception(exc, provider=provider.name, model=target.model,
                                                   phase=phase)) from None
        except ValueError:  # after ClientError: aiohttp.InvalidURL is a ValueError too
            # aiohttp refuses to write a header with CR/LF or another control character:
            # this provider's configuration is broken, the next one may answer
            why = self._unsendable.get(provider.name, "a header value HTTP cannot send")
            raise UpstreamError(Failure(
                spec("invalid_api_key_format"), provider=provider.name, model=target.model,
                message=f"provider '{provider.name}' cannot be called: {why}")) from None
        if resp.status < 300:
            return resp
        if resp.status in REDIRECTS:   # to another host: the key is not sent after it
            resp.release()
            raise UpstreamError(moved(resp, url, provider.base_url, provider=provider.name,
                                      model=target.model), headers=resp.headers)
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

"""The provider boundary: pooled HTTP to each upstream, failures mapped to the registry here.

Every upstream failure leaves this module as an `UpstreamError` carrying a classified
`Failure`; nothing above it sees a transport exception. The wire is `_http1.py` (HTTP/1.1
keep-alive pools on httptools). Redirects are followed only on the same origin
(`_redirects.py`): a provider that moved host is `provider_moved`.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .._loop import running_loop
from .._redact import REDACTOR
from .._secret import Secret
from ..config import ProviderSpec, Target
from ..errors import Failure, UpstreamError, classify_exception, classify_response, spec
from ..errors._wire import ConnectTimeout, WireError
from ._dialects import dialect_for
from ._http1 import Pool, Response
from ._redirects import REDIRECTS, follow, moved

__all__ = ["UpstreamClient", "header_problem", "pool_exhausted", "proxy_for"]

_ERROR_BODY_LIMIT = 64 * 1024
# What HTTP/1.1 cannot carry in a header value: CR, LF, NUL
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


# The share of the connect timeout a request may wait for a free pooled connection (at
# its provider's gate, routing/_gate.py): a little less than the connect timeout, which may
# also be the whole attempt's deadline, so that wait is reported as the gateway's own limit
# (gateway_overloaded), never as the provider timing out.
POOL_WAIT_SHARE = 0.9


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
    """One keep-alive connection pool per provider (`_http1.Pool`), made on first use.
    How many connections are open at once is bounded in front of it, at the provider's
    gate (`routing/_gate.py`, `max_connections`)."""

    def __init__(self, providers: Mapping[str, ProviderSpec]) -> None:
        self._providers = providers
        self._pools: dict[str, Pool] = {}
        self._heads: dict[str, tuple[bytes, bytes]] = {}
        # each provider's request path prefix (`base_url`'s path), computed once
        self._prefix = {name: urlsplit(p.base_url).path.rstrip("/") for name, p in providers.items()}
        self._unsendable = {name: why for name, p in providers.items()
                            if (why := _unsendable(p)) is not None}
        # upstreams echo keys back in error messages: the classifier masks them where it
        # builds the message, for as long as this client lives
        REDACTOR.register(self, [v for p in providers.values() for v in _secret_values(p)])

    def _pool(self, provider: ProviderSpec) -> Pool:
        pool = self._pools.get(provider.name)
        if pool is None or pool.closed:
            # the proxy resolved once, from the environment at startup
            pool = self._pools[provider.name] = Pool(provider.base_url, proxy_for(provider.base_url))
            self._heads.pop(provider.name, None)
        return pool

    def _static(self, provider: ProviderSpec, pool: Pool, stream: bool) -> bytes:
        """The provider's static header lines in its API's dialect (Bearer, or x-api-key +
        anthropic-version), built once per pool."""
        heads = self._heads.get(provider.name)
        if heads is None:
            dialect = dialect_for(provider)
            heads = self._heads[provider.name] = (pool.static(dialect.headers(provider, False)),
                                                  pool.static(dialect.headers(provider, True)))
        return heads[stream]

    def adopt(self, name: str, other: UpstreamClient) -> Pool | None:
        """Take over `other`'s pool for provider `name` if it reaches the same origin the
        same way (a reload that kept the provider: no reconnect storm). None if not."""
        mine, pool = self._providers.get(name), other._pools.get(name)
        if mine is None or pool is None or pool.closed:
            return None
        proxy = proxy_for(mine.base_url)
        if Pool(mine.base_url, proxy).origin != pool.origin or proxy != pool.proxy_url:
            return None
        self._pools[name] = pool
        self._heads.pop(name, None)
        return pool

    def pools(self) -> list[Pool]:
        return list(self._pools.values())

    def forget_pools(self) -> None:
        self._pools.clear()
        self._heads.clear()

    async def open(self, target: Target, path: str, payload: bytes, *, stream: bool,
                   header_timeout: float | None, connect_timeout: float,
                   headers: Mapping[str, str] | None = None,
                   deadline: float | None = None) -> Response:
        """Send one request; return the response once a 2xx status and headers arrived.

        A non-2xx answer is read (bounded), classified and raised as UpstreamError.
        `header_timeout` bounds the wait for the status line (time to first token for
        streams): past it, an UpstreamError. Or `deadline` (loop time) bounds the whole
        exchange, its body's reading included: past it, TimeoutError is raised (here or
        from the body) for the caller to name. `headers` replaces the provider's static
        ones (an Anthropic target given the client's anthropic-beta). `path` is the
        upstream's own (the dialect's `path()`).
        """
        provider = target.provider
        why = self._unsendable.get(provider.name)
        if why is None and headers is not None:
            why = next((f"its header {k} {w}" for k, v in headers.items()
                        if (w := header_problem(v)) is not None), None)
        if why is not None:
            # a header with CR/LF or another control character cannot be sent: this
            # provider's configuration is broken, the next one may answer
            raise UpstreamError(Failure(
                spec("invalid_api_key_format"), provider=provider.name, model=target.model,
                message=f"provider '{provider.name}' cannot be called: {why}"))
        pool = self._pool(provider)
        prefix = self._prefix[provider.name]
        origin = pool.origin
        static = self._static(provider, pool, stream) if headers is None else pool.static(headers)

        whole = header_timeout is None
        if not whole:   # a timer on the connection (the head's), not a timeout scope here
            deadline = running_loop().time() + header_timeout

        def request(url: str) -> Any:
            return pool.request("POST", url[len(origin):] or "/", payload, static=static,
                                connect_timeout=connect_timeout, deadline=deadline,
                                whole=whole)

        phase = "first_token" if stream else "total"
        url = origin + prefix + path
        try:
            # asked here first, `follow` only for a redirect (one coroutine less per call)
            resp = await request(url)
            if resp.status in REDIRECTS:
                resp, url = await follow(request, url, resp)
        except ConnectTimeout as exc:
            raise UpstreamError(classify_exception(exc, provider=provider.name, model=target.model,
                                                   phase="connect")) from None
        except TimeoutError as exc:
            if whole:
                raise   # the caller's deadline: the caller names it
            raise UpstreamError(classify_exception(exc, provider=provider.name, model=target.model,
                                                   phase=phase)) from None
        except (WireError, OSError) as exc:
            raise UpstreamError(classify_exception(exc, provider=provider.name, model=target.model,
                                                   phase=phase)) from None
        if resp.status < 300:
            return resp
        if resp.status in REDIRECTS:   # to another host: the key is not sent after it
            resp.release()
            raise UpstreamError(moved(resp, url, provider.base_url, provider=provider.name,
                                      model=target.model), headers=resp.headers)
        await self._raise_for(resp, target)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _raise_for(self, resp: Response, target: Target) -> None:
        try:
            async with asyncio.timeout(5):
                body: Any = await resp.content.read(_ERROR_BODY_LIMIT)
        except (WireError, OSError, TimeoutError):
            body = b""
        finally:
            resp.release()
        raise UpstreamError(classify_response(resp.status, resp.headers, body,
                                              provider=target.provider.name, model=target.model),
                            headers=resp.headers)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()

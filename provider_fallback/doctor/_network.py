"""Per-provider checks, in order: DNS, TCP, TLS, GET /models with the key, models listed,
latency, the provider's clock; for a local LiteLLM proxy also its health endpoints.

Each step stops the provider's checks on failure (a refused port makes the rest noise).
Every failure is classified by the error registry, exactly as a request would be.
"""

from __future__ import annotations

import asyncio
import difflib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from .. import _json
from ..config import ProviderSpec
from ..config._step_facts import provider_facts
from ..errors import Facts, Failure, classify_exception, classify_response
from ..errors._wire import WireError
from ..health._probes import model_ids, probe_headers
from ..providers import proxy_for
from ..providers._fetch import Fetcher
from ..providers._redirects import REDIRECTS, moved, send
from ._findings import Finding, Severity, mask_key

__all__ = ["ProviderCheck", "check_provider", "is_litellm", "is_loopback"]

_BODY_LIMIT = 512 * 1024
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "0.0.0.0")


def is_loopback(host: str) -> bool:
    return host.lower() in _LOOPBACK or host.startswith("127.") or host.endswith(".localhost")


def is_litellm(provider: ProviderSpec) -> bool:
    """A LiteLLM proxy by name, by its health path, or on its usual local port 4000."""
    parts = urlsplit(provider.base_url)
    return ("litellm" in provider.name.lower() or "liveliness" in (provider.health_path or "")
            or (is_loopback(parts.hostname or "") and parts.port == 4000))


@dataclass
class ProviderCheck:
    """What one provider's checks found, plus facts the runner aggregates."""

    provider: str
    findings: list[Finding] = field(default_factory=list)
    healthy: bool = False
    ms: float | None = None
    clock_skew: float | None = None      # provider Date minus local time, seconds
    facts: Facts = Facts()               # the provider's URL, host, port, key variable

    def add(self, severity: Severity, message: str, code: str | None = None,
            *fix: str, **detail: Any) -> None:
        facts = self.facts
        if isinstance(detail.get("model"), str):
            facts = Facts(model=detail["model"]).merge(facts)
        self.findings.append(Finding("provider", self.provider, severity, message, code,
                                     tuple(fix), detail, facts))


def _fail(check: ProviderCheck, exc: BaseException, step: str) -> None:
    failure = classify_exception(exc, provider=check.provider, phase="connect")
    check.add(Severity.ERROR, f"{step} failed: {failure.message}", failure.code)


async def check_provider(provider: ProviderSpec, models: Sequence[str], *, timeout: float,
                         slow_threshold: float, key_missing: str | None = None,
                         now: Callable[[], float] = time.time) -> ProviderCheck:
    """Run every step against one provider; never raises."""
    check = ProviderCheck(provider.name, facts=provider_facts(provider))
    parts = urlsplit(provider.base_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy = proxy_for(provider.base_url)
    if proxy is None and not await _connect(check, host, port, parts.scheme == "https", timeout):
        return check
    if proxy is not None:
        check.add(Severity.INFO, "reached through the HTTP(S)_PROXY environment variable; "
                                 "DNS/TCP/TLS checked by the proxy, not here")
    session = Fetcher(keepalive=False)   # the gateway's own client, fresh connections
    try:
        await _models(check, session, provider, models, timeout=timeout, proxy=proxy,
                      slow_threshold=slow_threshold, key_missing=key_missing, now=now)
        if check.healthy and is_litellm(provider):
            await _litellm(check, session, provider, timeout=timeout, proxy=proxy)
    finally:
        await session.aclose()
    return check


async def _connect(check: ProviderCheck, host: str, port: int, tls: bool, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        check.add(Severity.ERROR, f"DNS lookup of {host} got no answer within {timeout:g}s",
                  "dns_temporary")
        return False
    except OSError as exc:
        _fail(check, exc, f"DNS lookup of {host}")
        return False
    addresses = sorted({str(info[4][0]) for info in infos})
    check.add(Severity.OK, f"DNS: {host} -> {', '.join(addresses[:3])}")
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        check.add(Severity.ERROR, f"TCP connect to {host}:{port} timed out after {timeout:g}s",
                  "connect_timeout")
        return False
    except OSError as exc:
        _fail(check, exc, f"TCP connect to {host}:{port}")
        return False
    try:
        check.add(Severity.OK, f"TCP: {host}:{port} accepts connections")
        if tls:
            try:
                async with asyncio.timeout(timeout):
                    await writer.start_tls(ssl.create_default_context(), server_hostname=host)
            except TimeoutError:
                check.add(Severity.ERROR, f"TLS handshake with {host} timed out", "tls_error")
                return False
            except (OSError, ssl.SSLError) as exc:
                _fail(check, exc, f"TLS handshake with {host}")
                return False
            check.add(Severity.OK, f"TLS: certificate for {host} verified")
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
    return True


async def _get(session: Fetcher, url: str, headers: dict[str, str],
               proxy: str | None, timeout: float,
               provider: ProviderSpec | None = None) -> tuple[int, Any, bytes, float]:
    """GET `url`, following redirects on the same host only; a redirect to another host
    raises `_Moved` (with `provider`) and is never followed with the key."""
    started = time.perf_counter()
    async with asyncio.timeout(timeout):
        resp, final = await send(session, "GET", url, headers=headers, proxy=proxy)
        async with resp:
            body = await resp.content.read(_BODY_LIMIT)
            if provider is not None and resp.status in REDIRECTS:
                raise _Moved(moved(resp, final, provider.base_url, provider=provider.name))
            return resp.status, resp.headers, body, (time.perf_counter() - started) * 1000


class _Moved(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


async def _models(check: ProviderCheck, session: Fetcher, provider: ProviderSpec,
                  models: Sequence[str], *, timeout: float, proxy: str | None,
                  slow_threshold: float, key_missing: str | None,
                  now: Callable[[], float]) -> None:
    url = provider.base_url + "/models"
    with_key = key_missing is None
    try:
        status, headers, body, ms = await _get(session, url, probe_headers(provider, with_key),
                                               proxy, timeout, provider)
    except _Moved as exc:
        new = exc.failure.detail.get("new_base_url")
        check.add(Severity.ERROR, exc.failure.message, "provider_moved",
                  f"set base_url: {new} for provider {provider.name}" if new else
                  "set base_url to the provider's new address", "then `provider-fallback reload`",
                  location=exc.failure.detail.get("location"))
        return
    except TimeoutError:
        check.add(Severity.ERROR, f"GET /models got no answer within {timeout:g}s",
                  "timeout_total", "raise `timeout` for this provider if it is always this slow")
        return
    except (WireError, OSError) as exc:
        _fail(check, exc, "GET /models")
        return
    except ValueError:  # a header HTTP cannot carry (CR/LF in the key): see `keys`
        check.add(Severity.ERROR, "GET /models not sent: the key or a header contains a "
                                  "character HTTP cannot send", "invalid_api_key_format")
        return
    check.ms = ms
    check.clock_skew = _skew(headers.get("Date"), now())
    if key_missing is not None:
        check.add(Severity.INFO, f"reachable (HTTP {status}); key and models not checked: "
                                 f"{key_missing} is not set")
        return
    if status >= 300:
        failure = classify_response(status, headers, body, provider=provider.name)
        message = f"GET /models answered HTTP {status}: {failure.message}"
        fix: tuple[str, ...] = ()
        if status in (401, 403) and provider.api_key is not None:
            source = provider.api_key_source or "the config file"
            message = (f"the key from {source} ({mask_key(provider.api_key.reveal())}) was "
                       f"rejected with HTTP {status}")
            fix = (f"check {source.removeprefix('os.environ/')} holds the key for "
                   f"{provider.name} ({provider.base_url})",)
        check.add(Severity.ERROR, message, failure.code, *fix, status=status)
        return
    check.healthy = True
    listed = model_ids(body)
    detail = {"ms": round(ms, 1), "status": status}
    if listed is None:
        check.add(Severity.WARNING, f"GET /models answered in {ms:.0f} ms but the model list "
                                    f"could not be read", "malformed_response", **detail)
    else:
        check.add(Severity.OK, f"GET /models answered in {ms:.0f} ms; {len(listed)} models "
                               f"listed", **detail)
        for model in models:
            if model in listed:
                continue
            near = difflib.get_close_matches(model, sorted(listed), n=3, cutoff=0.5)
            hint = f"; nearest: {', '.join(near)}" if near else ""
            fix = (f"use one of: {', '.join(near)}",) if near else ()
            check.add(Severity.ERROR, f"model {model!r} is not listed by {provider.name}{hint}",
                      "model_not_found", *fix, model=model, nearest=near)
    if ms > slow_threshold * 1000:
        check.add(Severity.WARNING, f"GET /models took {ms:.0f} ms (slower than "
                                    f"{slow_threshold:g}s)", "slow_provider", **detail)


async def _litellm(check: ProviderCheck, session: Fetcher, provider: ProviderSpec,
                   *, timeout: float, proxy: str | None) -> None:
    parts = urlsplit(provider.base_url)
    root = f"{parts.scheme}://{parts.netloc}"
    for path, with_key in (("/health/liveliness", False), ("/health", True)):
        try:
            status, headers, body, ms = await _get(session, root + path,
                                                   probe_headers(provider, with_key), proxy, timeout)
        except TimeoutError:
            note = " (LiteLLM's /health calls every model; it can be slow)" if with_key else ""
            check.add(Severity.WARNING, f"LiteLLM {path} got no answer within {timeout:g}s{note}",
                      "timeout_total")
            continue
        except (WireError, OSError) as exc:
            _fail(check, exc, f"LiteLLM {path}")
            continue
        if status >= 300:
            failure = classify_response(status, headers, body, provider=provider.name)
            code = "litellm_auth_failed" if status in (401, 403) else failure.code
            check.add(Severity.ERROR, f"LiteLLM {path} answered HTTP {status}", code)
            continue
        unhealthy = _unhealthy(body)
        if unhealthy:
            check.add(Severity.WARNING, f"LiteLLM {path}: {len(unhealthy)} unhealthy "
                                        f"deployments: {', '.join(unhealthy[:5])}",
                      "litellm_unhealthy_endpoints")
        else:
            check.add(Severity.OK, f"LiteLLM {path} answered in {ms:.0f} ms")


def _unhealthy(body: bytes) -> list[str]:
    try:
        data = _json.loads(body)
    except _json.JSONDecodeError:
        return []
    items = data.get("unhealthy_endpoints") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [str(i.get("model", "?")) if isinstance(i, dict) else str(i) for i in items]


def _skew(date: str | None, local: float) -> float | None:
    if not date:
        return None
    try:
        return parsedate_to_datetime(date).timestamp() - local
    except (TypeError, ValueError, IndexError, OverflowError):
        return None

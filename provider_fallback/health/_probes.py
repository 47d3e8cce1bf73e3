"""The three probe tiers against one provider: quick ping, full health, API validation.

Each returns a `ProbeResult`; none raises. Probes use their own small connection pool so
they never take a connection a request is waiting for.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from .. import _json
from .._secret import Secret
from ..config import ProviderSpec
from ..errors import classify_exception, classify_response
from ..errors._wire import WireError
from ..providers._dialects import dialect_for
from ..providers._fetch import Fetcher
from ..providers._redirects import REDIRECTS, moved, send

__all__ = ["TIERS", "ProbeResult", "probe"]

TIERS = ("quick", "full", "validate")
_BODY_LIMIT = 256 * 1024


@dataclass(frozen=True, slots=True)
class ProbeResult:
    provider: str
    tier: str
    ok: bool
    code: str | None = None       # registry code of the failure, None when ok
    status: int | None = None
    ms: float | None = None
    detail: str = ""
    models: frozenset[str] | None = field(default=None)   # ids listed by GET /models (full)


def probe_headers(provider: ProviderSpec, with_key: bool) -> dict[str, str]:
    """Headers for a probe of `provider` (also doctor's): its extra headers, and its key
    when `with_key`."""
    headers = {"Accept": "application/json"}
    for name, value in provider.headers.items():
        headers[name] = value.reveal() if isinstance(value, Secret) else value
    if with_key and provider.api_key is not None:
        # Bearer for OpenAI-style APIs; x-api-key + anthropic-version for `api: anthropic`
        headers.update(dialect_for(provider).auth_headers(provider))
    return headers


def _quick_url(provider: ProviderSpec) -> str:
    path = provider.health_path
    if not path:
        return provider.base_url + "/models"
    if path.startswith(("http://", "https://")):
        return path
    if path.startswith("/"):
        # an absolute path is relative to the host, not the /v1 base (LiteLLM's /health/liveliness)
        scheme, _, rest = provider.base_url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}{path}"
    return f"{provider.base_url}/{path}"


async def probe(session: Fetcher, provider: ProviderSpec, tier: str, *,
                timeout: float, proxy: str | None, model: str | None = None) -> ProbeResult:
    """Run one probe tier; classify any failure into the registry."""
    started = time.perf_counter()
    name = provider.name
    try:
        async with asyncio.timeout(timeout):
            if tier == "quick":
                # reachability: any answer below 500 means the host and server are up
                resp, url = await send(session, "GET", _quick_url(provider),
                                       headers=probe_headers(provider, True), proxy=proxy)
                async with resp:
                    await resp.content.read(_BODY_LIMIT)
                    ms = (time.perf_counter() - started) * 1000
                    if resp.status in REDIRECTS:
                        failure = moved(resp, url, provider.base_url, provider=name)
                        return ProbeResult(name, tier, False, failure.code, resp.status, ms,
                                           failure.message[:200])
                    if resp.status < 500:
                        return ProbeResult(name, tier, True, status=resp.status, ms=ms)
                    failure = classify_response(resp.status, resp.headers, b"", provider=name)
                    return ProbeResult(name, tier, False, failure.code, resp.status, ms,
                                       failure.message[:200])
            if tier == "full":
                resp, url = await send(session, "GET", provider.base_url + "/models",
                                       headers=probe_headers(provider, True), proxy=proxy)
                async with resp:
                    raw = await resp.content.read(_BODY_LIMIT)
                    ms = (time.perf_counter() - started) * 1000
                    if resp.status in REDIRECTS:
                        failure = moved(resp, url, provider.base_url, provider=name)
                        return ProbeResult(name, tier, False, failure.code, resp.status, ms,
                                           failure.message[:200])
                    if resp.status >= 300:
                        failure = classify_response(resp.status, resp.headers, raw, provider=name)
                        return ProbeResult(name, tier, False, failure.code, resp.status, ms,
                                           failure.message[:200])
                    return ProbeResult(name, tier, True, status=resp.status, ms=ms,
                                       models=model_ids(raw))
            dialect = dialect_for(provider)
            payload = dialect.encode({"model": model, "max_tokens": 1,
                                      "messages": [{"role": "user", "content": "ping"}]})
            headers = {**probe_headers(provider, True), "Content-Type": "application/json"}
            resp, url = await send(session, "POST",
                                   provider.base_url + dialect.path("/chat/completions"),
                                   data=payload, headers=headers, proxy=proxy)
            async with resp:
                raw = await resp.content.read(_BODY_LIMIT)
                ms = (time.perf_counter() - started) * 1000
                if resp.status in REDIRECTS:
                    failure = moved(resp, url, provider.base_url, provider=name, model=model)
                    return ProbeResult(name, tier, False, failure.code, resp.status, ms,
                                       failure.message[:200])
                if resp.status >= 300:
                    failure = classify_response(resp.status, resp.headers, raw, provider=name,
                                                model=model)
                    return ProbeResult(name, tier, False, failure.code, resp.status, ms,
                                       failure.message[:200])
                return ProbeResult(name, tier, True, status=resp.status, ms=ms)
    except TimeoutError:
        return ProbeResult(name, tier, False, "timeout_total", None,
                           (time.perf_counter() - started) * 1000,
                           f"{tier} probe got no answer within {timeout:g}s")
    except (WireError, OSError) as exc:
        failure = classify_exception(exc, provider=name, phase="connect")
        return ProbeResult(name, tier, False, failure.code, None,
                           (time.perf_counter() - started) * 1000, failure.message[:200])
    except ValueError:   # after ClientError (InvalidURL is one): a header HTTP cannot send
        return ProbeResult(name, tier, False, "invalid_api_key_format", None,
                           (time.perf_counter() - started) * 1000,
                           "the key or a header has a character HTTP cannot send")


def model_ids(raw: bytes) -> frozenset[str] | None:
    """Model ids listed in a `GET /models` body (OpenAI `{data: [{id}]}` or a bare list)."""
    try:
        body = _json.loads(raw)
    except _json.JSONDecodeError:
        return None
    data = body.get("data") if isinstance(body, dict) else body
    if not isinstance(data, list):
        return None
    return frozenset(str(m["id"]) for m in data if isinstance(m, dict) and "id" in m)

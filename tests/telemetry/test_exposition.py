"""The gateway's own text writer says exactly what prometheus_client's generate_latest says,
and /metrics gathers its gauges from the router in chunks without status()."""

from __future__ import annotations

import time

from prometheus_client import generate_latest

from provider_fallback import Router, config_from_dict
from provider_fallback.errors import Attempt
from provider_fallback.telemetry import Telemetry
from provider_fallback.telemetry._exposition import text_format
from provider_fallback.telemetry._metrics import gauges_of_router
from provider_fallback.telemetry._records import RequestRecord

ODD = 'we"ird\\model\nname'


def _router() -> Router:
    return Router(config_from_dict({
        "providers": [{"name": "p", "base_url": "http://127.0.0.1:9/v1"},
                      {"name": "q", "base_url": "http://127.0.0.1:9/v2"}],
        "models": {"chat": ["p/m", {"provider": "q", "model": ODD}]},
        "health": {"enabled": False}, "telemetry": {"enabled": False}}, environ={}),
        monitor=False)


def _without_timestamp(text: bytes) -> list[bytes]:
    return [line for line in text.splitlines()
            if not line.startswith(b"provider_fallback_scrape_timestamp")]


async def test_text_format_matches_generate_latest():
    router = _router()
    metrics = Telemetry(router).metrics
    assert metrics is not None
    for i in range(30):
        rec = RequestRecord(f"r{i}", "chat" if i % 3 else "made-up", "chat", False, time.time())
        rec.attempts = (Attempt("p", "m", "server_error", 500, 12.5),
                        Attempt("q", ODD, "ok", 200, 0.5 * i),
                        Attempt("p", "p/invented", "model_not_found", 404, 1.0))
        rec.outcome, rec.latency_ms, rec.prompt_tokens, rec.cost_usd = "ok", 20.0 + i, 7, 1e-7
        metrics.on_request(rec)
    metrics._snapshot = await gauges_of_router(router)
    ours = text_format(metrics.collect())
    theirs = generate_latest(metrics.registry)
    assert _without_timestamp(ours) == _without_timestamp(theirs)
    assert b'model="we\\"ird\\\\model\\nname"' in ours
    assert b'model="other"' in ours and b"invented" not in ours   # pass-through name bounded


async def test_render_async_matches_render_and_is_shared_within_a_second():
    router = _router()
    metrics = Telemetry(router).metrics
    assert metrics is not None
    metrics.router = router
    first = await metrics.render_async()
    assert _without_timestamp(first) == _without_timestamp(metrics.render())
    assert await metrics.render_async() is first           # reused, not rendered again
    metrics._rendered = (time.monotonic() - 2, first)
    assert await metrics.render_async() is not first

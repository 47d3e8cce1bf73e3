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


def test_one_attempt_requests_count_what_the_general_path_counts():
    """The one-attempt request (looked up once per label combination) is counted as the
    general per-attempt walk counts it, the lookups stay bounded whatever aliases clients
    make up, and an alias a reload added gets its own label at once."""
    from provider_fallback.telemetry import _metrics

    router = _router()
    fast = Telemetry(router).metrics
    walked = Telemetry(router).metrics
    assert fast is not None and walked is not None
    recs = []
    for i in range(_metrics.CELLS_MAX + 50):
        rec = RequestRecord(f"r{i}", "chat" if i % 2 else f"made-up-{i}", "chat", i % 3 == 0,
                            time.time())
        ok = i % 5 != 0
        rec.attempts = (Attempt("p" if i % 4 else "q", "m" if i % 7 else "invented",
                                "ok" if ok else "server_error", 200 if ok else 500, 1.0 + i),)
        rec.outcome = "ok" if ok else "server_error"
        rec.latency_ms, rec.ttft_ms = 2.0 + i, (0.5 if i % 3 == 0 else None)
        rec.prompt_tokens, rec.completion_tokens, rec.cost_usd = i % 4, i % 6, 1e-7 * (i % 2)
        rec.usage_estimated = i % 9 == 0
        recs.append(rec)
    for rec in recs:
        fast.on_request(rec)
        # the general walk, then what on_request adds after it, as the reference
        pm = walked._count_attempts(rec)
        walked.overhead.observe(rec.overhead_ms / 1000)
        if rec.ttft_ms is not None and pm[0] != "none":
            walked.ttft.setdefault(pm, _metrics.Histogram(_metrics.LATENCY_BUCKETS)).observe(
                rec.ttft_ms / 1000)
        for kind, n in (("prompt", rec.prompt_tokens), ("completion", rec.completion_tokens)):
            if n:
                walked.tokens[(*pm, kind)] = walked.tokens.get((*pm, kind), 0) + n
        if rec.cost_usd:
            walked.cost[pm] = walked.cost.get(pm, 0.0) + rec.cost_usd
        if rec.usage_estimated:
            walked.estimated[pm] = walked.estimated.get(pm, 0) + 1
    assert _without_timestamp(text_format(fast.collect())) == \
        _without_timestamp(text_format(walked.collect()))
    assert len(fast._cells) <= _metrics.CELLS_MAX
    assert fast.requests[("other", "p", "m", "ok", "chat")] > 0

    rec = RequestRecord("late", "made-up-1", "chat", False, time.time())
    rec.attempts = (Attempt("p", "m", "ok", 200, 1.0),)
    fast.on_request(rec)                       # counted as "other" and its lookup kept
    fast.count_aliases(frozenset({"made-up-1"}))
    fast.on_request(rec)
    assert fast.requests[("made-up-1", "p", "m", "ok", "chat")] == 1

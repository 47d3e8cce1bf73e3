"""Webhook alerts: rules, de-duplication, rate limit, retries, payload formats, and delivery
to a real webhook receiver on loopback while a provider goes down and comes back."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web
from gateway_harness import CHAT, eventually, gateway_running, make_config, sims_running
from openai import AsyncOpenAI

from provider_fallback._secret import Secret
from provider_fallback.config import AlertSettings, AlertSink
from provider_fallback.telemetry import Alert, Alerter, Event, alert_payload


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(settings: AlertSettings, states: dict[str, str] | None = None, *, post=None):
    clock, sleeps = Clock(), []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    async def ok(url, payload):
        return 200

    alerter = Alerter(settings, lambda: dict(states or {}), wall=clock, sleep=sleep,
                      post=post or ok)
    return alerter, clock, sleeps


SINK = AlertSink(Secret("http://127.0.0.1:9/hook-secret-token"), "generic")


def test_rules_dedup_and_rate_limit():
    states = {"groq": "UNHEALTHY", "or": "HEALTHY"}
    a, clock, _ = make(AlertSettings(webhooks=(SINK,), provider_down_after=60, high_fallback_rate=3,
                                     repeat_after=600, max_per_minute=3), states)
    a.check()
    clock.t += 30
    a.check()
    assert not a._queue                                  # down for 30 s: not yet
    clock.t += 31
    a.check()
    a.check()
    assert [x.name for x in a._queue] == ["ProviderDown"]   # once, not twice
    for i in range(4):
        a.on_event(Event(i, clock.t, "FALLBACK", {"from_provider": "groq", "to_provider": "or",
                                                   "reason": "rate_limit"}))
    assert [x.name for x in a._queue] == ["ProviderDown", "HighFallbackRate"]
    a.on_event(Event(9, clock.t, "ALL_DOWN", {"alias": "chat", "attempts": [{"code": "rate_limit"}]}))
    a.on_event(Event(10, clock.t, "BUDGET_EXCEEDED", {"ratio": 1.0}))   # 4th in a minute
    assert [x.name for x in a._queue][-1] == "AllProvidersDown" and a.suppressed == 1
    clock.t += 61
    states["groq"] = "HEALTHY"
    a.check()
    assert (a._queue[-1].name, a._queue[-1].status) == ("ProviderDown", "resolved")
    a.on_event(Event(11, clock.t, "UPSTREAM_RESTART_FAILED", {"provider": "litellm",
                                                              "reason": "exited 5 times"}))
    a.on_event(Event(12, clock.t, "BUDGET_WARNING", {"ratio": 0.8, "period": "month"}))
    assert [x.name for x in list(a._queue)[-2:]] == ["UpstreamRestartFailed", "BudgetWarning"]


def test_repeat_after_allows_the_same_alert_again():
    a, clock, _ = make(AlertSettings(webhooks=(SINK,), repeat_after=100))
    ev = Event(1, 0, "ALL_DOWN", {"alias": "chat", "attempts": []})
    a.on_event(ev)
    a.on_event(ev)
    clock.t += 101
    a.on_event(ev)
    assert len(a._queue) == 2


async def test_delivery_retries_with_backoff_and_filters_sinks():
    calls = []

    async def flaky(url, payload):
        calls.append((url, payload))
        return 500 if len(calls) < 3 else 204

    slack = AlertSink(Secret("http://127.0.0.1:9/slack"), "slack", frozenset({"BudgetExceeded"}))
    a, _, sleeps = make(AlertSettings(webhooks=(SINK, slack)), post=flaky)
    assert await a.deliver(Alert("ProviderDown", "groq", "down", "critical"))
    assert len(calls) == 3 and sleeps == [1.0, 2.0]          # exponential backoff
    assert all(url.endswith("hook-secret-token") for url, _ in calls)   # slack sink filtered out

    async def dead(url, payload):
        raise OSError("refused")

    a, _, sleeps = make(AlertSettings(webhooks=(SINK,)), post=dead)
    assert not await a.deliver(Alert("ProviderDown", "groq", "down"))
    assert a.failed == 1 and sleeps == [1.0, 2.0]


def test_payload_formats():
    alert = Alert("AllProvidersDown", "chat", "every target failed", "critical", ts=5.0)
    generic = alert_payload(alert, "generic")
    assert generic["alert"] == "AllProvidersDown" and generic["status"] == "firing"
    assert "AllProvidersDown" in alert_payload(alert, "slack")["text"]
    discord = alert_payload(alert, "discord")
    assert discord["embeds"][0]["description"] == "every target failed"


def test_summaries_are_scrubbed():
    a, _, _ = make(AlertSettings(webhooks=(SINK,)))
    a.on_event(Event(1, 0, "UPSTREAM_RESTART_FAILED",
                     {"provider": "x", "reason": "failed with api_key=sk-abcdef1234567890"}))
    assert "sk-abcdef" not in a._queue[0].summary


async def test_webhook_receives_provider_down_and_recovery():
    got: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(status=200)

    web_app = web.Application()
    web_app.router.add_post("/hook", hook)
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with sims_running({"name": "primary", "models": ["m"]},
                                {"name": "backup", "models": ["m"]}) as (p, b):
            cfg = make_config({"primary": p, "backup": b}, {"chat": ["primary/m", "backup/m"]})
            sinks = (AlertSink(Secret(f"http://127.0.0.1:{port}/hook"), "generic"),
                     AlertSink(Secret(f"http://127.0.0.1:{port}/hook"), "discord",
                               frozenset({"AllProvidersDown"})))
            cfg = replace(cfg, alerts=AlertSettings(webhooks=sinks, provider_down_after=0.2))
            async with gateway_running(cfg) as gw:
                client = AsyncOpenAI(base_url=gw.url, api_key="x", max_retries=0)
                await p.close_listener()                  # connection refused: provider down
                await client.chat.completions.create(model="chat", **CHAT)
                await eventually(lambda: any(g.get("alert") == "ProviderDown" for g in got))
                down = next(g for g in got if g.get("alert") == "ProviderDown")
                assert down["subject"] == "primary" and down["status"] == "firing"
                await p.reopen_listener()
                gw.router.health.restore("primary")
                await client.chat.completions.create(model="chat", **CHAT)
                await eventually(lambda: any(g.get("status") == "resolved" for g in got))
                await client.close()
    finally:
        await runner.cleanup()
    assert not any("embeds" in g for g in got)            # discord sink only wants AllProvidersDown

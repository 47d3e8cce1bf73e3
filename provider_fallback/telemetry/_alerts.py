"""Webhook alerts: ProviderDown, AllProvidersDown, HighFallbackRate, BudgetWarning,
BudgetExceeded, UpstreamRestartFailed.

Events are turned into alerts synchronously (dict and deque work only); delivery happens in a
background task: de-duplicated per (alert, subject) for `repeat_after`, at most
`max_per_minute` sent, each POST retried with exponential backoff. Nothing here ever blocks
or fails a request. Webhook URLs are secrets: never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import AlertSettings, AlertSink
from ..errors import scrub_secrets
from ..errors._wire import WireError
from ._events import Event

__all__ = ["ALERT_NAMES", "Alert", "Alerter", "alert_payload"]

log = logging.getLogger("provider_fallback.alerts")

ALERT_NAMES = ("ProviderDown", "AllProvidersDown", "HighFallbackRate", "BudgetWarning",
               "BudgetExceeded", "UpstreamRestartFailed")
QUEUE_MAX = 1000
RETRIES = 3
_COLORS = {"critical": 0xE01E5A, "warning": 0xECB22E, "resolved": 0x2EB67D}


@dataclass(frozen=True, slots=True)
class Alert:
    name: str
    subject: str                  # provider, alias or "budget": what the alert is about
    summary: str
    severity: str = "warning"     # warning | critical
    status: str = "firing"        # firing | resolved
    ts: float = 0.0
    fields: dict[str, Any] = field(default_factory=dict)


def alert_payload(alert: Alert, fmt: str) -> dict[str, Any]:
    """The JSON body for one webhook format (generic, slack, discord)."""
    title = f"[{alert.status.upper()}] {alert.name}: {alert.subject}"
    if fmt == "slack":
        icon = ":white_check_mark:" if alert.status == "resolved" else ":rotating_light:"
        return {"text": f"{icon} *{title}*\n{alert.summary}"}
    if fmt == "discord":
        color = _COLORS["resolved"] if alert.status == "resolved" else _COLORS.get(alert.severity, 0)
        return {"content": title, "embeds": [{"title": title, "description": alert.summary,
                                              "color": color}]}
    return {"source": "provider-fallback", "alert": alert.name, "status": alert.status,
            "severity": alert.severity, "subject": alert.subject, "summary": alert.summary,
            "ts": round(alert.ts, 3), "fields": alert.fields}


Post = Callable[[str, dict[str, Any]], Awaitable[int]]


class Alerter:
    """Feed it events (`on_event`) and call `check()` periodically (the task does)."""

    def __init__(self, settings: AlertSettings, provider_states: Callable[[], dict[str, str]], *,
                 wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 post: Post | None = None) -> None:
        self.settings = settings
        self._states = provider_states
        self._wall = wall
        self._sleep = sleep
        self._post = post
        self._queue: deque[Alert] = deque()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_sent: dict[tuple[str, str], float] = {}
        self._sent_times: deque[float] = deque()
        self._fallbacks: deque[float] = deque()
        self._down_since: dict[str, float] = {}
        self._down_alerted: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: Any = None   # a providers Fetcher, made at the first alert
        self.sent: list[Alert] = []          # delivered (at least one sink accepted)
        self.suppressed = 0                  # over max_per_minute
        self.failed = 0                      # every retry failed

    # -- turning events into alerts --------------------------------------------------
    def on_event(self, event: Event) -> None:
        f, t = event.fields, event.type
        if t == "ALL_DOWN":
            codes = sorted({a.get("code") for a in f.get("attempts", []) if isinstance(a, dict)} - {None})
            self.fire(Alert("AllProvidersDown", str(f.get("alias")), f"Every target of "
                            f"'{f.get('alias')}' failed ({', '.join(codes) or 'no target tried'}); "
                            "clients get 503 all_providers_failed.", "critical",
                            fields={"alias": f.get("alias"), "codes": codes}))
        elif t == "RECOVERED":
            self.fire(Alert("AllProvidersDown", str(f.get("alias")), f"'{f.get('alias')}' answers "
                            f"again (by {f.get('by')}) after {f.get('downtime_s')} s.", "critical",
                            "resolved", fields=dict(f)))
        elif t == "FALLBACK":
            now = self._wall()
            self._fallbacks.append(now)
            while self._fallbacks and self._fallbacks[0] < now - 3600:
                self._fallbacks.popleft()
            if len(self._fallbacks) > self.settings.high_fallback_rate:
                self.fire(Alert("HighFallbackRate", "gateway", f"{len(self._fallbacks)} fall-overs "
                                f"in the last hour (threshold {self.settings.high_fallback_rate}); "
                                f"latest: {f.get('from_provider')} -> {f.get('to_provider')} "
                                f"({f.get('reason')}).", fields={"last_hour": len(self._fallbacks)}))
        elif t in ("BUDGET_WARNING", "BUDGET_CRITICAL"):
            self.fire(Alert("BudgetWarning", "budget", f"Spend is at {_pct(f.get('ratio'))} of the "
                            f"{f.get('period')} budget ({f.get('spend')} of {f.get('limit')} USD).",
                            "critical" if t == "BUDGET_CRITICAL" else "warning", fields=dict(f)))
        elif t == "BUDGET_EXCEEDED" or (t == "KILL_SWITCH" and f.get("on")):
            self.fire(Alert("BudgetExceeded", "budget", "The budget is exhausted: the kill switch "
                            "blocks paid targets (`provider-fallback budget` to inspect or lift).",
                            "critical", fields=dict(f)))
        elif t == "UPSTREAM_RESTART_FAILED":
            self.fire(Alert("UpstreamRestartFailed", str(f.get("provider")), "The supervised "
                            f"upstream could not be restarted: {f.get('reason') or f.get('error') or ''}",
                            "critical", fields=dict(f)))

    def check(self) -> None:
        """ProviderDown: UNHEALTHY for longer than `provider_down_after` (resolved when back)."""
        now = self._wall()
        for name, status in self._states().items():
            if status == "UNHEALTHY":
                since = self._down_since.setdefault(name, now)
                if now - since >= self.settings.provider_down_after and name not in self._down_alerted:
                    self._down_alerted.add(name)
                    self.fire(Alert("ProviderDown", name, f"Provider {name} has been unhealthy for "
                                    f"{now - since:.0f} s; requests fall over to the next target.",
                                    "critical", fields={"provider": name, "down_s": round(now - since, 1)}))
            else:
                since = self._down_since.pop(name, None)
                if name in self._down_alerted:
                    self._down_alerted.discard(name)
                    self._last_sent.pop(("ProviderDown", name), None)
                    self.fire(Alert("ProviderDown", name, f"Provider {name} is healthy again after "
                                    f"{now - (since or now):.0f} s.", "critical", "resolved",
                                    fields={"provider": name}))

    def fire(self, alert: Alert) -> bool:
        """Queue `alert` unless it is a duplicate or over the rate limit; True if queued."""
        now = self._wall()
        alert = Alert(alert.name, alert.subject, scrub_secrets(alert.summary), alert.severity,
                      alert.status, now, alert.fields)
        key = (alert.name, alert.subject)
        if alert.status == "firing":
            last = self._last_sent.get(key)
            if last is not None and now - last < self.settings.repeat_after:
                return False
        while self._sent_times and self._sent_times[0] < now - 60:
            self._sent_times.popleft()
        if len(self._sent_times) >= self.settings.max_per_minute or len(self._queue) >= QUEUE_MAX:
            self.suppressed += 1
            return False
        self._sent_times.append(now)
        if alert.status == "firing":
            self._last_sent[key] = now
        else:
            self._last_sent.pop(key, None)
        self._queue.append(alert)
        self._notify()
        return True

    def _notify(self) -> None:
        if self._wake is None or self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        else:  # an event emitted from another thread
            self._loop.call_soon_threadsafe(self._wake.set)

    # -- delivery ----------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._queue:
            self._wake.set()
        self._tasks = [asyncio.create_task(self._deliver_loop()),
                       asyncio.create_task(self._check_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        if self._session is not None:
            await self._session.aclose()
            self._session = None

    async def _check_loop(self) -> None:
        interval = max(0.05, min(5.0, self.settings.provider_down_after / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                self.check()
            except Exception:
                log.exception("alert check failed")

    async def _deliver_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self.deliver(self._queue.popleft())

    async def deliver(self, alert: Alert) -> bool:
        ok_any = False
        for i, sink in enumerate(self.settings.webhooks):
            if sink.alerts is not None and alert.name not in sink.alerts:
                continue
            ok_any |= await self._send(i, sink, alert)
        if ok_any:
            self.sent.append(alert)
            del self.sent[:-100]
        return ok_any

    async def _send(self, i: int, sink: AlertSink, alert: Alert) -> bool:
        payload = alert_payload(alert, sink.format)
        delay = 1.0
        for attempt in range(1, RETRIES + 1):
            try:
                status = await self._do_post(sink.url.reveal(), payload)
                if 200 <= status < 300:
                    return True
                why = f"HTTP {status}"
            except (WireError, OSError, TimeoutError, ValueError) as exc:
                why = type(exc).__name__
            log.warning("alert %s to webhook #%d (%s) failed: %s (attempt %d/%d)",
                        alert.name, i + 1, sink.format, why, attempt, RETRIES)
            if attempt < RETRIES:
                await self._sleep(delay)
                delay *= 2
        self.failed += 1
        return False

    async def _do_post(self, url: str, payload: dict[str, Any]) -> int:
        if self._post is not None:
            return await self._post(url, payload)
        if self._session is None:
            from ..providers._fetch import Fetcher  # providers import telemetry

            self._session = Fetcher()
        async with asyncio.timeout(10):
            async with await self._session.request("POST", url, json=payload) as resp:
                await resp.read()
                return int(resp.status)


def _pct(ratio: Any) -> str:
    return f"{ratio * 100:.0f}%" if isinstance(ratio, int | float) else "?"

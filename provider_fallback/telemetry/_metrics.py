"""Prometheus metrics: cheap counters on the request path, gauges computed at scrape time.

The request path only bumps plain dict entries (no locks, no label lookups in
prometheus_client); a custom collector turns them into metric families when /metrics is
scraped. Labels are bounded by the config: aliases not configured become "other", models are
the *configured* target models (never what an upstream echoes back), outcomes are registry
codes. No request ids or user text ever become labels.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ._events import Event
from ._exposition import text_format
from ._records import PROTOCOLS, RequestRecord

__all__ = ["CONTENT_TYPE", "GatewayMetrics", "Histogram"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}
OTHER = "other"
# A scrape walks every configured target: it gives the event loop back every this many
# targets, and a rendering is reused for this long (many scrapers cost one rendering).
SCRAPE_CHUNK = 100
SCRAPE_REUSE_S = 1.0
# label lookups kept for this many (alias, protocol, outcome, provider, model, code) seen
CELLS_MAX = 4096
_NONE = ("none", "none")   # the provider and model of a request nobody answered


@dataclass(slots=True)
class _Gauges:
    """What the per-provider and per-target gauges show, gathered before rendering."""

    providers: list[tuple[str, str]] = field(default_factory=list)          # name, status
    circuits: list[tuple[str, str, int]] = field(default_factory=list)      # provider, model
    remaining: list[tuple[str, str, str, float]] = field(default_factory=list)
    queue: dict[str, Any] | None = None
    budget: dict[str, Any] | None = None
    state: dict[str, Any] | None = None

    @classmethod
    def of_status(cls, status: Mapping[str, Any]) -> _Gauges:
        g = cls(queue=status.get("queue"), budget=status.get("budget"), state=status.get("state"))
        for name, p in status.get("providers", {}).items():
            g.providers.append((name, p.get("status", "UNKNOWN")))
            g.circuits.append((name, "", CIRCUIT_VALUES.get(p.get("circuit", {}).get("state"), 0)))
            for t in p.get("targets", {}).values():
                model = t.get("model", "")
                g.circuits.append((name, model,
                                   CIRCUIT_VALUES.get(t.get("circuit", {}).get("state"), 0)))
                g.add_limits(name, model, t.get("limits"))
        return g

    def add_limits(self, provider: str, model: str, limits: Mapping[str, Any] | None) -> None:
        for window, w in (limits or {}).items():
            if isinstance(w, dict) and w.get("remaining") is not None:
                self.remaining.append((provider, model, window, w["remaining"]))


async def gauges_of_router(router: Any, chunk: int = SCRAPE_CHUNK) -> _Gauges:
    """The gauges read from the router's parts directly, a chunk of targets at a time with
    the event loop given back in between: never the whole `status()` document (latency
    percentiles, limit reset times, probe details) the metrics do not show."""
    clock = router._clock
    health, state = router.health, router.state
    g = _Gauges(queue={"depth": router.queue.depth()}, budget=router.accounting.budget_view(),
                state=state.view())
    done = 0
    now = clock()
    for name in router.config.providers:
        g.providers.append((name, health.provider_status(name, now)[0]))
        c = state.circuit(name)
        g.circuits.append((name, "", CIRCUIT_VALUES.get(c.state.value, 0) if c else 0))
        for t in health.targets_of(name):
            c = state.circuit(t.key)
            g.circuits.append((name, t.model, CIRCUIT_VALUES.get(c.state.value, 0) if c else 0))
            g.add_limits(name, t.model, router.limits.view(t, now, resets=False))
            done += 1
            if done % chunk == 0:
                await asyncio.sleep(0)
                now = clock()
    return g


class Histogram:
    """Cumulative-bucket histogram over plain lists (observe is a bisect and two adds)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        out, acc = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            acc += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), acc))
        return out


class GatewayMetrics(Collector):
    """Feeds on RequestRecords and events; renders the Prometheus text format.

    `status` is called at scrape time for gauges (the router's `status()`), `inflight` for
    the in-flight count. Both are optional so the class can be tested on its own.
    """

    def __init__(self, aliases: frozenset[str], *,
                 status: Callable[[], dict[str, Any]] | None = None,
                 inflight: Callable[[], int] | None = None,
                 targets: frozenset[tuple[str, str]] | None = None) -> None:
        self._aliases = aliases
        # (provider, model) pairs configured in a chain; any other model (a pass-through
        # "provider/anything" a client made up) is counted as model="other"
        self._targets = targets
        self._status = status
        self._inflight = inflight
        self.requests: dict[tuple[str, str, str, str, str], int] = {}
        self.attempts: dict[tuple[str, str, str], int] = {}
        self.attempt_latency: dict[tuple[str, str, str], Histogram] = {}
        self.ttft: dict[tuple[str, str], Histogram] = {}
        self.request_latency: dict[str, Histogram] = {}
        self.overhead = Histogram(OVERHEAD_BUCKETS)
        self.fallbacks: dict[tuple[str, str, str], int] = {}
        self.events: dict[str, int] = {}
        self.tokens: dict[tuple[str, str, str], int] = {}
        self.cost: dict[tuple[str, str], float] = {}
        self.estimated: dict[tuple[str, str], int] = {}          # answers with estimated usage
        self.continuations: dict[tuple[str, str, str], int] = {}  # from, to, strategy
        self.invalid_events: dict[tuple[str, str], int] = {}      # stream events not JSON
        self._cells: dict[tuple[str, ...], tuple[Any, ...]] = {}   # on_request's lookups
        self.dropped: Callable[[], int] | None = None   # persistence drops, set by the hub
        # front-door refusals by reason (a fixed set), set by the server
        self.rejections: Callable[[], Mapping[str, int]] | None = None
        self.router: Any = None   # set by the hub: gauges read in chunks (render_async)
        self._snapshot: _Gauges | None = None
        self._rendered: tuple[float, bytes] | None = None
        self._render_lock = asyncio.Lock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    # -- feeding (request path: dict arithmetic only) -----------------------------------
    def count_aliases(self, aliases: frozenset[str]) -> None:
        """Count these aliases under their own label from now on (a reload added them)."""
        self._aliases = self._aliases | aliases
        self._cells.clear()

    def on_request(self, rec: RequestRecord) -> None:
        attempts = rec.attempts
        if len(attempts) == 1:
            # the usual request, one attempt: its labels and histograms looked up once per
            # combination of what the client and the answer name (bounded: cleared when full)
            a = attempts[0]
            ck = (rec.alias, rec.protocol, rec.outcome, a.provider, a.model, a.code)
            cell = self._cells.get(ck)
            if cell is None:
                cell = self._cell(ck)
            key3, attempt_h, key, request_h, pm, prompt_key, completion_key = cell
            self.attempts[key3] = self.attempts.get(key3, 0) + 1
            attempt_h.observe(a.ms / 1000)
            self.requests[key] = self.requests.get(key, 0) + 1
            request_h.observe(rec.latency_ms / 1000)
        else:
            pm = self._count_attempts(rec)
            prompt_key, completion_key = (*pm, "prompt"), (*pm, "completion")
        self.overhead.observe(rec.overhead_ms / 1000)
        if rec.ttft_ms is not None and pm[0] != "none":
            h = self.ttft.get(pm)
            if h is None:
                h = self.ttft[pm] = Histogram(LATENCY_BUCKETS)
            h.observe(rec.ttft_ms / 1000)
        if rec.prompt_tokens:
            self.tokens[prompt_key] = self.tokens.get(prompt_key, 0) + rec.prompt_tokens
        if rec.completion_tokens:
            self.tokens[completion_key] = (self.tokens.get(completion_key, 0)
                                           + rec.completion_tokens)
        if rec.cost_usd:
            self.cost[pm] = self.cost.get(pm, 0.0) + rec.cost_usd
        if rec.usage_estimated:
            self.estimated[pm] = self.estimated.get(pm, 0) + 1

    def _cell(self, ck: tuple[str, str, str, str, str, str]) -> tuple[Any, ...]:
        alias, protocol, outcome, provider, model, code = ck
        key3, attempt_h, answered = self._attempt_labels(provider, model, code)
        pm = answered if code == "ok" else _NONE
        key, request_h = self._request_labels(alias, protocol, outcome, pm)
        if len(self._cells) >= CELLS_MAX:
            self._cells.clear()
        cell = self._cells[ck] = (key3, attempt_h, key, request_h, pm,
                                  (*pm, "prompt"), (*pm, "completion"))
        return cell

    def _count_attempts(self, rec: RequestRecord) -> tuple[str, str]:
        """Attempts and the request counted the general way: the (provider, model) that
        answered, ("none", "none") if none did."""
        pm = _NONE
        for a in rec.attempts:
            key3, h, answered = self._attempt_labels(a.provider, a.model, a.code)
            self.attempts[key3] = self.attempts.get(key3, 0) + 1
            h.observe(a.ms / 1000)
            if a.code == "ok":
                pm = answered
        key, h = self._request_labels(rec.alias, rec.protocol, rec.outcome, pm)
        self.requests[key] = self.requests.get(key, 0) + 1
        h.observe(rec.latency_ms / 1000)
        return pm

    def _attempt_labels(self, provider: str, model: str,
                        code: str) -> tuple[tuple[str, str, str], Histogram, tuple[str, str]]:
        """An attempt's counter key, its latency histogram and its (provider, model) labels
        (a model no chain configures is "other")."""
        targets = self._targets
        am = model if targets is None or (provider, model) in targets else OTHER
        lk = (provider, am, "ok" if code == "ok" else "error")
        h = self.attempt_latency.get(lk)
        if h is None:
            h = self.attempt_latency[lk] = Histogram(LATENCY_BUCKETS)
        return (provider, am, code), h, (provider, am)

    def _request_labels(self, alias: str, protocol: str, outcome: str,
                        pm: tuple[str, str]) -> tuple[tuple[str, str, str, str, str], Histogram]:
        """A request's counter key and its latency histogram (an alias no config names and
        a protocol outside PROTOCOLS are "other")."""
        alias = alias if alias in self._aliases else OTHER
        h = self.request_latency.get(alias)
        if h is None:
            h = self.request_latency[alias] = Histogram(LATENCY_BUCKETS)
        return (alias, *pm, outcome, protocol if protocol in PROTOCOLS else OTHER), h

    def on_event(self, event: Event) -> None:
        self.events[event.type] = self.events.get(event.type, 0) + 1
        if event.type == "FALLBACK":
            f = event.fields
            key = (str(f.get("from_provider") or "none"), str(f.get("to_provider") or "none"),
                   str(f.get("reason") or "unknown"))
            self.fallbacks[key] = self.fallbacks.get(key, 0) + 1
        elif event.type == "CONTINUED":
            f = event.fields
            ck = (str(f.get("from_target") or "none").split("/", 1)[0],
                  str(f.get("to_target") or "none").split("/", 1)[0], str(f.get("strategy")))
            self.continuations[ck] = self.continuations.get(ck, 0) + 1
        elif event.type == "STREAM_EVENTS_SKIPPED":
            provider, _, model = str(event.fields.get("target") or "none/none").partition("/")
            n = event.fields.get("count")
            ik = (provider, model)
            self.invalid_events[ik] = self.invalid_events.get(ik, 0) + (n if isinstance(n, int) else 1)

    # -- rendering --------------------------------------------------------------------
    def render(self) -> bytes:
        """The exposition text, gauges from `status()` (tests, scripts)."""
        self._snapshot = _Gauges.of_status(self._status()) if self._status is not None else None
        try:
            return generate_latest(self.registry)
        finally:
            self._snapshot = None

    async def render_async(self) -> bytes:
        """What /metrics serves: gauges gathered a chunk of targets at a time (the event loop
        is never held for the whole walk), and one rendering shared by every scrape within
        SCRAPE_REUSE_S, so a burst of scrapes costs one."""
        if self.router is None:
            return self.render()
        async with self._render_lock:
            done = self._rendered
            if done is not None and time.monotonic() - done[0] < SCRAPE_REUSE_S:
                return done[1]
            self._snapshot = await gauges_of_router(self.router)
            try:
                # the text is made on a thread from the snapshot and plain counter dicts
                # (copied atomically): the event loop gets the GIL back every few ms
                body = await asyncio.to_thread(lambda: text_format(self.collect()))
            finally:
                self._snapshot = None
            self._rendered = (time.monotonic(), body)
            return body

    def collect(self) -> Iterator[Metric]:
        yield from self._counters()
        yield from self._histograms()
        yield from self._gauges()

    def _counters(self) -> Iterator[Metric]:
        c = CounterMetricFamily("provider_fallback_requests", "Client requests by alias, the "
                                "provider/model that answered, the outcome (ok or registry code) "
                                "and the client's wire format",
                                labels=["alias", "provider", "model", "outcome", "protocol"])
        for k, v in list(self.requests.items()):
            c.add_metric(list(k), v)
        yield c
        c = CounterMetricFamily("provider_fallback_attempts", "Upstream attempts by target and "
                                "result code", labels=["provider", "model", "code"])
        for k, v in list(self.attempts.items()):
            c.add_metric(list(k), v)
        yield c
        c = CounterMetricFamily("provider_fallback_events", "Fall-overs from one provider to the "
                                "next, by reason code", labels=["from_provider", "to_provider", "reason"])
        for k, v in list(self.fallbacks.items()):
            c.add_metric(list(k), v)
        yield c
        c = CounterMetricFamily("provider_fallback_gateway_events", "Gateway events by type "
                                "(FALLBACK, CIRCUIT_OPENED, RESTORED, ...)", labels=["type"])
        for k, v in list(self.events.items()):
            c.add_metric([k], v)
        yield c
        c = CounterMetricFamily("provider_fallback_tokens", "Tokens reported by upstreams",
                                labels=["provider", "model", "kind"])
        for k, v in list(self.tokens.items()):
            c.add_metric(list(k), v)
        yield c
        c = CounterMetricFamily("provider_fallback_usage_estimated", "Answers whose token usage "
                                "was estimated, in part or whole (the upstream sent none)",
                                labels=["provider", "model"])
        for k, v in list(self.estimated.items()):
            c.add_metric(list(k), v)
        yield c
        c = CounterMetricFamily("provider_fallback_stream_continuations", "Broken streams "
                                "continued on another target, by strategy",
                                labels=["from_provider", "to_provider", "strategy"])
        for k, v in list(self.continuations.items()):
            c.add_metric(list(k), v)
        yield c
        c = CounterMetricFamily("provider_fallback_stream_events_skipped", "Stream events "
                                "skipped because they were not JSON", labels=["provider", "model"])
        for k, v in list(self.invalid_events.items()):
            c.add_metric(list(k), v)
        yield c
        c = CounterMetricFamily("provider_fallback_spend_usd", "Spend in USD since the gateway "
                                "started", labels=["provider", "model"])
        for k, v in list(self.cost.items()):
            c.add_metric(list(k), v)
        yield c
        if self.dropped is not None:
            yield CounterMetricFamily("provider_fallback_telemetry_dropped", "Events or request "
                                      "rows dropped because the log writer fell behind",
                                      value=self.dropped())
        if self.rejections is not None:
            c = CounterMetricFamily("provider_fallback_front_door_rejections", "Connections and "
                                    "requests the gateway's front door refused or closed, by "
                                    "reason (headers_too_large, header_timeout, "
                                    "body_timeout, max_connections, idle, malformed)",
                                    labels=["reason"])
            for reason, n in sorted(self.rejections().items()):
                c.add_metric([reason], n)
            yield c

    def _histograms(self) -> Iterator[Metric]:
        h = HistogramMetricFamily("provider_fallback_attempt_duration_seconds", "Upstream attempt "
                                  "latency by target and result", labels=["provider", "model", "result"])
        for k, hist in list(self.attempt_latency.items()):
            h.add_metric(list(k), hist.buckets(), hist.sum)
        yield h
        h = HistogramMetricFamily("provider_fallback_time_to_first_token_seconds", "Streams: time "
                                  "to the first content chunk", labels=["provider", "model"])
        for k, hist in list(self.ttft.items()):
            h.add_metric(list(k), hist.buckets(), hist.sum)
        yield h
        h = HistogramMetricFamily("provider_fallback_request_duration_seconds", "Whole client "
                                  "request latency by alias", labels=["alias"])
        for alias, hist in list(self.request_latency.items()):
            h.add_metric([alias], hist.buckets(), hist.sum)
        yield h
        h = HistogramMetricFamily("provider_fallback_gateway_overhead_seconds", "Gateway time per "
                                  "request: total minus provider waits and queueing")
        h.add_metric([], self.overhead.buckets(), self.overhead.sum)
        yield h

    def _gauges(self) -> Iterator[Metric]:
        if self._inflight is not None:
            yield GaugeMetricFamily("provider_fallback_inflight_requests",
                                    "Client requests being served now", value=self._inflight())
        g = self._snapshot
        if g is None:
            return
        health = GaugeMetricFamily("provider_health_status", "1 if the provider may serve "
                                   "requests (HEALTHY, DEGRADED, UNKNOWN), 0 if UNHEALTHY",
                                   labels=["provider"])
        state = GaugeMetricFamily("provider_fallback_provider_state", "Provider status, one "
                                  "series per state (1 = current)", labels=["provider", "state"])
        circuit = GaugeMetricFamily("provider_fallback_circuit_state", "Circuit breaker state: "
                                    "0 closed, 1 half-open, 2 open (model \"\" = the provider "
                                    "circuit)", labels=["provider", "model"])
        remaining = GaugeMetricFamily("provider_fallback_rate_limit_remaining", "Requests or "
                                      "tokens left in the current rate-limit window, when known",
                                      labels=["provider", "model", "window"])
        for name, st in g.providers:
            health.add_metric([name], 0 if st == "UNHEALTHY" else 1)
            for s in ("HEALTHY", "DEGRADED", "UNHEALTHY", "UNKNOWN"):
                state.add_metric([name, s], 1 if s == st else 0)
        for name, model, value in g.circuits:
            circuit.add_metric([name, model], value)
        for name, model, window, left in g.remaining:
            remaining.add_metric([name, model, window], left)
        yield from (health, state, circuit, remaining)
        queue = g.queue
        if isinstance(queue, dict):
            yield GaugeMetricFamily("provider_fallback_retry_queue_depth", "Requests waiting for "
                                    "rate-limit capacity", value=queue.get("depth", 0))
        budget = g.budget
        if isinstance(budget, dict):
            spend = GaugeMetricFamily("provider_fallback_budget_spend_usd", "Spend in the current "
                                      "budget period (UTC)", labels=["period"])
            spend.add_metric(["month"], budget.get("spend_month_usd") or 0.0)
            spend.add_metric(["day"], budget.get("spend_day_usd") or 0.0)
            yield spend
            yield GaugeMetricFamily("provider_fallback_budget_ratio", "Spend divided by the "
                                    "tightest budget limit (1 = exhausted)",
                                    value=budget.get("ratio") or 0.0)
            yield GaugeMetricFamily("provider_fallback_kill_switch", "1 while the budget kill "
                                    "switch blocks paid targets", value=1 if budget.get("kill_switch") else 0)
        shared = g.state
        if isinstance(shared, dict):
            backend = str(shared.get("backend", "memory"))
            connected = GaugeMetricFamily("provider_fallback_state_connected", "1 while the "
                                          "routing-state backend is reachable, 0 while this "
                                          "replica serves on local state only",
                                          labels=["backend"])
            connected.add_metric([backend], 1 if shared.get("connected", True) else 0)
            yield connected
            degraded = CounterMetricFamily("provider_fallback_state_degradations", "Times the "
                                           "shared state became unreachable (STATE_DEGRADED)",
                                           labels=["backend"])
            degraded.add_metric([backend], int(shared.get("degradations") or 0))
            yield degraded
            replicas = GaugeMetricFamily("provider_fallback_state_replicas", "Replicas that "
                                         "reported to the shared state in its last poll, this "
                                         "one included", labels=["backend"])
            replicas.add_metric([backend], int(shared.get("replicas") or 1))
            yield replicas
            calls = CounterMetricFamily("provider_fallback_state_window_calls", "Redis calls "
                                        "made on the request path to take credit from shared "
                                        "rate-limit windows (each takes a batch)",
                                        labels=["backend"])
            calls.add_metric([backend], int(shared.get("window_calls") or 0))
            yield calls
        yield GaugeMetricFamily("provider_fallback_scrape_timestamp_seconds", "When this scrape "
                                "was rendered", value=time.time())

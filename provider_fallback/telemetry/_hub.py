"""Telemetry for one router: metrics, the last hour's history, the persistent log writer,
alerts and per-request log lines, all fed from `router.events` and `router.requests`.

`Telemetry(router)` subscribes at once (events before start are queued, not lost);
`start()`/`stop()` run the writer thread and the alert tasks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._alerts import Alerter
from ._events import Event
from ._history import History
from ._logging import config_secrets
from ._metrics import GatewayMetrics
from ._records import RequestRecord
from ._store import TelemetryStore
from ._writer import TelemetryWriter, log_dir_for

if TYPE_CHECKING:
    from ..routing import Router

__all__ = ["Telemetry"]

log = logging.getLogger("provider_fallback.requests")

SUPERVISOR_ORIGIN = "supervisor"   # health._supervision.ORIGIN (health imports telemetry)


class Telemetry:
    def __init__(self, router: Router, *, log_dir: Path | None = None) -> None:
        cfg = router.config
        self.router = router
        router.events.redact(config_secrets(cfg))
        self.metrics: GatewayMetrics | None = None
        if cfg.metrics.enabled:
            targets = frozenset((t.provider.name, t.model) for chain in cfg.chains.values()
                                for t in chain.targets)
            self.metrics = GatewayMetrics(frozenset(cfg.chains), status=router.status,
                                          inflight=lambda: router.inflight, targets=targets)
            self.metrics.router = router
        self.history = History()
        self.writer: TelemetryWriter | None = None
        if cfg.telemetry.enabled:
            self.writer = TelemetryWriter(log_dir or log_dir_for(cfg), cfg.telemetry)
            if self.metrics is not None:
                writer = self.writer
                self.metrics.dropped = lambda: writer.dropped
        self.alerter: Alerter | None = None
        if cfg.alerts.webhooks:
            self.alerter = Alerter(cfg.alerts, self._provider_states)
        self._unsubscribe = [router.events.subscribe(self.on_event),
                             router.requests.add(self.on_request)]

    def follow(self, router: Router) -> None:
        """A config reload swapped in `router` (same event bus and request listeners): read
        status from it, and count its new aliases under their own label."""
        self.router = router
        if self.metrics is not None:
            self.metrics._status = router.status
            self.metrics._inflight = lambda: router.inflight
            self.metrics.count_aliases(frozenset(router.config.chains))

    @property
    def log_dir(self) -> Path | None:
        return self.writer.log_dir if self.writer is not None else None

    # -- feeding (the request path: no I/O) ----------------------------------------------
    def on_request(self, rec: RequestRecord) -> None:
        if self.metrics is not None:
            self.metrics.on_request(rec)
        self.history.on_request(rec)
        if self.writer is not None:
            self.writer.add_request(rec)
        level = (logging.WARNING if rec.outcome != "ok" else
                 logging.INFO if len(rec.attempts) > 1 else logging.DEBUG)
        if log.isEnabledFor(level):
            log.log(level, "%s %s -> %s", rec.endpoint, rec.alias, rec.outcome, extra={
                "request_id": rec.request_id, "provider": rec.provider, "model": rec.model,
                "status": rec.http_status, "latency_ms": round(rec.latency_ms, 1),
                "route": ",".join(f"{a.provider}/{a.model}={a.code}" for a in rec.attempts)})

    def on_event(self, event: Event) -> None:
        if self.metrics is not None:
            self.metrics.on_event(event)
        self.history.on_event(event)
        if event.fields.get("origin") == SUPERVISOR_ORIGIN:
            return   # the `serve --workers` supervisor process logged and alerted it already
        if self.writer is not None:
            self.writer.add_event(event)
        if self.alerter is not None:
            self.alerter.on_event(event)

    def _provider_states(self) -> dict[str, str]:
        return {name: p.get("status", "UNKNOWN")
                for name, p in self.router.status().get("providers", {}).items()}

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self.writer is not None:
            self.writer.start()
        if self.alerter is not None:
            await self.alerter.start()

    async def stop(self) -> None:
        if self.alerter is not None:
            await self.alerter.stop()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.stop)
        for unsubscribe in self._unsubscribe:
            unsubscribe()

    # -- status ------------------------------------------------------------------------
    async def summary(self, hours: float = 24.0) -> dict[str, Any]:
        """Fallback count, mean recovery time and request impact over the last `hours`,
        from the store (read in a thread), else from the in-memory event ring."""
        since = time.time() - hours * 3600
        if self.writer is not None and self.writer.db_path.exists():
            def read() -> dict[str, Any]:
                store = TelemetryStore(self.writer.db_path, readonly=True)  # type: ignore[union-attr]
                try:
                    return store.summary(since)
                finally:
                    store.close()
            try:
                return {"source": "store", "hours": hours, **await asyncio.to_thread(read)}
            except Exception as exc:  # a locked or damaged file must not break the status page
                log.debug("telemetry summary from the store failed: %s", exc)
        events = [e for e in self.router.events.recent() if e.ts >= since]
        downs = [e.fields["downtime_s"] for e in events if e.type == "RESTORED"
                 and isinstance(e.fields.get("downtime_s"), int | float)]
        return {"source": "memory", "hours": hours,
                "fallbacks": sum(1 for e in events if e.type == "FALLBACK"),
                "recoveries": len(downs),
                "mean_recovery_s": round(sum(downs) / len(downs), 3) if downs else None}

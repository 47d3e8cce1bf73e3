"""One supervisor for `serve --workers N`: supervised upstreams run in the supervisor
process, never once per worker (N copies of a LiteLLM on one port: all but one fail to
bind and are restarted in a loop until UPSTREAM_RESTART_FAILED).

`SupervisionHost` runs in the supervisor process, on a thread with its own event loop:
the upstreams, a quick ping of each (restart on unhealthy), the UPSTREAM_* events
(persisted to the event log and sent as alerts there, once), and a status file rewritten
on every change and every second. Each worker's `SupervisionFollower` reads that file:
`providers --json` shows the same pid, uptime, restarts and output tail on every worker,
and the events reach every worker's ring, metrics and dashboard with
`origin: "supervisor"` (not persisted or alerted again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..config import Config
from ..telemetry import Event, EventBus

__all__ = ["ORIGIN", "SUPERVISION_ENV", "SupervisionFollower", "SupervisionHost"]

log = logging.getLogger("provider_fallback.supervisor")

SUPERVISION_ENV = "PROVIDER_FALLBACK_SUPERVISION"   # the status file, for the workers
ORIGIN = "supervisor"
_EVENTS_KEPT = 200
_WRITE_EVERY = 1.0


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    for attempt in range(20):
        try:
            os.replace(tmp, path)
            return
        except PermissionError:   # Windows: a worker has it open this instant
            time.sleep(0.01 * (attempt + 1))
    tmp.unlink(missing_ok=True)


class SupervisionHost:
    """The supervised upstreams of `config`, run by the process that runs the workers."""

    def __init__(self, config: Config, status_file: Path) -> None:
        self.config = config
        self.path = status_file
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._changed: asyncio.Event | None = None
        self._ready = threading.Event()
        self._events: list[dict[str, Any]] = []
        self.error: BaseException | None = None

    @property
    def needed(self) -> bool:
        return any(p.supervise is not None for p in self.config.providers.values())

    def start(self, timeout: float = 30.0) -> None:
        """Start every upstream (returns once they were started)."""
        self._thread = threading.Thread(target=self._run, name="pf-supervision", daemon=True)
        self._thread.start()
        self._ready.wait(timeout)
        if self.error is not None:
            raise self.error

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate every upstream (then kill after the grace) and write the last status."""
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop_now)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced to start()
            log.exception("supervision failed")
            self.error = exc
        finally:
            self._ready.set()

    def _stop_now(self) -> None:
        assert self._stop is not None and self._changed is not None
        self._stop.set()
        self._changed.set()

    async def _main(self) -> None:
        from ..providers import proxy_for
        from ..telemetry import config_secrets
        from ._supervisor import Supervisor

        self._loop = asyncio.get_running_loop()
        self._stop, self._changed = asyncio.Event(), asyncio.Event()
        events = EventBus()
        events.redact(config_secrets(self.config))
        sinks = _EventSinks(self.config)
        events.subscribe(sinks.on_event)
        events.subscribe(self._remember)
        await sinks.start()
        sups = {name: Supervisor(name, p.supervise, events)
                for name, p in self.config.providers.items() if p.supervise is not None}
        pings: list[asyncio.Task[None]] = []
        try:
            for sup in sups.values():
                await sup.start()
            self._write(sups)
            self._ready.set()
            if self.config.health.enabled:
                pings = [asyncio.create_task(self._ping(name, sup, proxy_for(
                    self.config.providers[name].base_url)), name=f"supervised-ping:{name}")
                         for name, sup in sups.items() if self.config.providers[name].probe]
            while not self._stop.is_set():
                # every second, and at once after an event: workers see a restart quickly
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), _WRITE_EVERY)
                self._changed.clear()
                self._write(sups)
        finally:
            for task in pings:
                task.cancel()
            for sup in sups.values():
                await sup.stop()
            self._write(sups, stopped=True)
            await sinks.stop()

    async def _ping(self, name: str, sup: Any, proxy: str | None) -> None:
        """The quick ping the monitor does in a single process, for restarts on unhealthy."""
        from ..providers._fetch import Fetcher
        from ._probes import probe

        health = self.config.health
        provider = self.config.providers[name]
        session = Fetcher(keepalive=False)
        try:
            while True:
                await asyncio.sleep(health.quick_interval)
                try:
                    result = await probe(session, provider, "quick", timeout=health.quick_timeout,
                                         proxy=proxy, model=None)
                except Exception:   # a probe bug must never stop supervision
                    log.exception("quick ping of supervised %s failed unexpectedly", name)
                    continue
                sup.observe_probe(result.ok, result.code)
        finally:
            await session.aclose()

    def _remember(self, event: Event) -> None:
        self._events.append({"seq": event.id, "ts": event.ts, "type": event.type,
                             "fields": event.fields})
        del self._events[:-_EVENTS_KEPT]
        if self._changed is not None:
            self._changed.set()

    def _write(self, sups: dict[str, Any], *, stopped: bool = False) -> None:
        doc = {"pid": os.getpid(), "updated": time.time(), "stopped": stopped,
               "providers": {name: {**sup.status(), "managed_by": f"supervisor process "
                                                                 f"(pid {os.getpid()})"}
                             for name, sup in sups.items()},
               "events": self._events}
        try:
            _write_atomically(self.path, json.dumps(doc, default=str))
        except OSError as exc:
            log.warning("cannot write the supervision status %s: %s", self.path, exc)


class _EventSinks:
    """The event log and alerts for the supervisor process's own events."""

    def __init__(self, config: Config) -> None:
        from ..telemetry._alerts import Alerter
        from ..telemetry._writer import TelemetryWriter, log_dir_for

        self.writer = (TelemetryWriter(log_dir_for(config), config.telemetry)
                       if config.telemetry.enabled else None)
        self.alerter = Alerter(config.alerts, dict) if config.alerts.webhooks else None

    def on_event(self, event: Event) -> None:
        if self.writer is not None:
            self.writer.add_event(event)
        if self.alerter is not None:
            self.alerter.on_event(event)

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


class SupervisionFollower:
    """A worker's view of the supervisor process's upstreams (read from the status file)."""

    def __init__(self, path: Path, events: EventBus, *, interval: float = 0.5) -> None:
        self.path = path
        self.events = events
        self.interval = interval
        self._status: dict[str, Any] = {}
        self._seen = 0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_env(cls, events: EventBus) -> SupervisionFollower | None:
        """The follower a worker of `serve --workers` needs; None in a single process."""
        path = os.environ.get(SUPERVISION_ENV)
        return cls(Path(path), events) if path else None

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._follow(), name="supervision-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.refresh()
            except Exception:   # a torn read or a bug never stops the worker
                log.debug("supervision status unreadable", exc_info=True)

    async def refresh(self) -> None:
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
            doc = json.loads(text)
        except (OSError, ValueError):
            return
        self._status = doc.get("providers") or {}
        for e in doc.get("events") or []:
            if isinstance(e, dict) and int(e.get("seq", 0)) > self._seen:
                self._seen = int(e["seq"])
                self.events.emit(str(e.get("type")), **{**(e.get("fields") or {}),
                                                        "origin": ORIGIN})

    def status(self, name: str) -> dict[str, Any] | None:
        return self._status.get(name)

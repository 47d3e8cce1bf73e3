"""The background writer: events -> JSONL + SQLite, request records -> SQLite.

The request path only appends to a bounded deque (no lock, no syscall, no wake-up); one
daemon thread drains it every `interval` seconds in a single transaction. When the thread
falls behind, new items are dropped and counted rather than blocking requests.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from .. import _json
from ..config import Config, TelemetrySettings
from ._events import Event
from ._jsonl import EVENTS_FILE, RotatingJsonl
from ._records import RequestRecord
from ._store import DB_FILE, TelemetryStore

__all__ = ["TelemetryWriter", "log_dir_for"]

log = logging.getLogger("provider_fallback.telemetry")

QUEUE_MAX = 50_000
PRUNE_EVERY = 3600.0


def log_dir_for(config: Config | None, environ: Mapping[str, str] | None = None) -> Path:
    """`telemetry.log_dir`, else $FALLBACK_LOG_DIR, else <data dir>/logs (the data dir is
    the spend ledger's: budget.data_dir, $PROVIDER_FALLBACK_DATA_DIR or the user data dir)."""
    env = os.environ if environ is None else environ
    if config is not None and config.telemetry.log_dir:
        return Path(config.telemetry.log_dir).expanduser()
    if env.get("FALLBACK_LOG_DIR"):
        return Path(env["FALLBACK_LOG_DIR"]).expanduser()
    from ..budget import default_data_dir  # budget imports telemetry: import late

    return default_data_dir(config.budget if config is not None else None, environ=env) / "logs"


class TelemetryWriter:
    def __init__(self, log_dir: Path, settings: TelemetrySettings, *, interval: float = 0.25) -> None:
        self.log_dir = log_dir
        self.settings = settings
        self.interval = interval
        self._events: deque[Event] = deque()
        self._records: deque[RequestRecord] = deque()
        self.dropped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.jsonl = RotatingJsonl(log_dir / EVENTS_FILE, max_bytes=settings.events_file_max,
                                   backups=settings.events_file_backups,
                                   retention_days=settings.retention_days)
        self.db_path = log_dir / DB_FILE
        self._flushed = threading.Condition()
        self._pending_flush = False

    # -- request path ------------------------------------------------------------------
    def add_event(self, event: Event) -> None:
        if len(self._events) >= QUEUE_MAX:
            self.dropped += 1
        else:
            self._events.append(event)

    def add_request(self, rec: RequestRecord) -> None:
        if not self.settings.request_log:
            return
        if len(self._records) >= QUEUE_MAX:
            self.dropped += 1
        else:
            self._records.append(rec)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="pf-telemetry-writer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Flush what is queued and stop the thread (blocking: call it off the event loop)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout)
            self._thread = None

    def flush(self, timeout: float = 5.0) -> None:
        """Block until everything queued so far is written (tests, CLI, shutdown)."""
        if self._thread is None:
            return
        with self._flushed:
            self._pending_flush = True
            self._flushed.wait_for(lambda: not self._pending_flush, timeout)

    def _run(self) -> None:
        store: TelemetryStore | None = None
        next_prune = 0.0
        try:
            store = TelemetryStore(self.db_path)
        except Exception:
            log.exception("cannot open the telemetry database %s; events go to JSONL only",
                          self.db_path)
        while True:
            stopping = self._stop.wait(self.interval)
            try:
                self._drain(store)
                now = time.time()
                if now >= next_prune:
                    next_prune = now + PRUNE_EVERY
                    self.jsonl.prune(now)
                    if store is not None:
                        store.prune(self.settings.retention_days, now)
            except Exception:
                log.exception("telemetry writer failed; continuing")
            with self._flushed:
                if self._pending_flush and not self._events and not self._records:
                    self._pending_flush = False
                    self._flushed.notify_all()
            if stopping:
                break
        self.jsonl.close()
        if store is not None:
            store.close()

    def _drain(self, store: TelemetryStore | None) -> None:
        events = [self._events.popleft() for _ in range(len(self._events))]
        records = [self._records.popleft() for _ in range(len(self._records))]
        if events:
            self.jsonl.write_lines([_json.dumps(e.as_dict()) if _plain(e) else
                                    _json.dumps(_jsonable(e.as_dict())) for e in events])
        if store is not None and (events or records):
            store.write(events, records, log_content=self.settings.log_content)


def _plain(event: Event) -> bool:
    return all(isinstance(v, str | int | float | bool | type(None) | list | dict)
               for v in event.fields.values())


def _jsonable(d: dict[str, object]) -> dict[str, object]:
    return {k: v if isinstance(v, str | int | float | bool | type(None) | list | dict) else str(v)
            for k, v in d.items()}

"""SQLite store for events and the request log: written in batches by the writer thread,
read by the CLI (`events`, `report`) and the status endpoint (each with its own connection).

WAL mode so readers in other processes never block the writer. Times are wall clock (UTC
epoch seconds). No prompt text unless the request row carries `content` (log_content: true).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import _json
from ._events import Event
from ._records import RequestRecord

__all__ = ["DB_FILE", "TelemetryStore", "event_provider"]

DB_FILE = "telemetry.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    type TEXT NOT NULL,
    provider TEXT,
    alias TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    ts REAL NOT NULL,
    alias TEXT,
    endpoint TEXT,
    stream INTEGER,
    outcome TEXT,
    http_status INTEGER,
    provider TEXT,
    model TEXT,
    attempts INTEGER,
    chain TEXT,
    latency_ms REAL,
    upstream_ms REAL,
    overhead_ms REAL,
    ttft_ms REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost_usd REAL,
    content TEXT,
    skipped TEXT,
    continuations INTEGER,
    usage_estimated INTEGER
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
"""

WRITER_CACHE_KIB = 256   # page cache of the writing connection (readers keep SQLite's default)

_REQ_COLS = ("request_id", "ts", "alias", "endpoint", "stream", "outcome", "http_status",
             "provider", "model", "attempts", "chain", "latency_ms", "upstream_ms", "overhead_ms",
             "ttft_ms", "prompt_tokens", "completion_tokens", "cost_usd", "content", "skipped",
             "continuations", "usage_estimated")
# columns added after the first release: (name, type) added to an older file at open
_ADDED_COLS = (("skipped", "TEXT"), ("continuations", "INTEGER"), ("usage_estimated", "INTEGER"))
_INSERT_REQ = (f"INSERT INTO requests ({', '.join(_REQ_COLS)}) "
               f"VALUES ({', '.join('?' * len(_REQ_COLS))})")
# rows a statement at once: one step for many rows (measured: 5.8 -> 3.4 µs a row)
ROWS_PER_INSERT = 50
_INSERT_REQS = _INSERT_REQ + (", (" + ", ".join("?" * len(_REQ_COLS)) + ")") * (ROWS_PER_INSERT - 1)


def event_provider(fields: dict[str, Any]) -> str | None:
    """The provider an event is about, for filtering (`events --provider X`)."""
    for k in ("provider", "from_provider"):
        if fields.get(k):
            return str(fields[k])
    for k in ("key", "target", "from_target"):
        if fields.get(k):
            return str(fields[k]).split("/", 1)[0]
    return None


def _request_row(rec: RequestRecord, log_content: bool) -> tuple[Any, ...]:
    # orjson where available (a row per request, written off the loop but on its core)
    chain = _json.dumps([a.as_dict() for a in rec.attempts]).decode()
    content = (json.dumps(rec.content, separators=(",", ":"))
               if log_content and rec.content is not None else None)
    skipped = _json.dumps(list(rec.skipped)).decode() if rec.skipped else None
    # `endpoint` is the API the client called: chat, embeddings, messages or responses
    endpoint = rec.protocol if rec.endpoint == "chat" else rec.endpoint
    return (rec.request_id, rec.started, rec.alias[:200], endpoint, int(rec.stream),
            rec.outcome, rec.http_status, rec.provider, rec.model, len(rec.attempts), chain,
            round(rec.latency_ms, 3), round(rec.upstream_ms, 3), round(rec.overhead_ms, 3),
            rec.ttft_ms, rec.prompt_tokens, rec.completion_tokens, rec.cost_usd, content,
            skipped, rec.continuations, int(rec.usage_estimated))


class TelemetryStore:
    """One SQLite connection; not shared between threads."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        if readonly:
            if not path.exists():
                raise FileNotFoundError(path)
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=5)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # the writer appends (rowid and ts grow): it touches the last pages only, and
            # SQLite's default 2 MiB page cache would stay in the gateway's memory for the
            # older ones (measured, 20k rows: +2.9 MiB resident by default, +1.0 at 256 KiB)
            self._db.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            self._db.executescript(_SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(requests)")}
            for name, kind in _ADDED_COLS:
                if name not in have:
                    self._db.execute(f"ALTER TABLE requests ADD COLUMN {name} {kind}")
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        self._db.close()

    # -- writing (writer thread) ---------------------------------------------------------
    def write(self, events: Iterable[Event], records: Iterable[RequestRecord], *,
              log_content: bool = False) -> None:
        with self._db:
            self._db.executemany(
                "INSERT INTO events (ts, type, provider, alias, data) VALUES (?, ?, ?, ?, ?)",
                [(e.ts, e.type, event_provider(e.fields), e.fields.get("alias"),
                  json.dumps(e.as_dict(), separators=(",", ":"), default=str)) for e in events])
            rows = [_request_row(r, log_content) for r in records]
            whole = len(rows) - len(rows) % ROWS_PER_INSERT
            if whole:
                self._db.executemany(_INSERT_REQS, [
                    tuple(itertools.chain.from_iterable(rows[i:i + ROWS_PER_INSERT]))
                    for i in range(0, whole, ROWS_PER_INSERT)])
            self._db.executemany(_INSERT_REQ, rows[whole:])

    def prune(self, retention_days: float, now: float | None = None) -> int:
        cutoff = (time.time() if now is None else now) - retention_days * 86400
        with self._db:
            n = self._db.execute("DELETE FROM events WHERE ts < ?", (cutoff,)).rowcount
            n += self._db.execute("DELETE FROM requests WHERE ts < ?", (cutoff,)).rowcount
        return n

    # -- reading ------------------------------------------------------------------------
    def events(self, *, since: float = 0.0, provider: str | None = None, after_id: int = 0,
               types: Iterable[str] | None = None, limit: int = 10000) -> list[dict[str, Any]]:
        """Events (oldest first) as dicts, each with `row` (the store's id) added."""
        sql = "SELECT id, data FROM events WHERE ts >= ? AND id > ?"
        args: list[Any] = [since, after_id]
        if provider:
            sql += " AND provider = ?"
            args.append(provider)
        if types is not None:
            tl = list(types)
            sql += f" AND type IN ({', '.join('?' * len(tl))})"
            args += tl
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        rows = self._db.execute(sql, args).fetchall()
        return [{"row": r["id"], **json.loads(r["data"])} for r in reversed(rows)]

    def requests(self, *, since: float = 0.0, limit: int = 10000) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM requests WHERE ts >= ? ORDER BY id DESC LIMIT ?",
                                (since, limit)).fetchall()
        out = []
        for r in reversed(rows):
            d = dict(r)
            d["chain"] = json.loads(d["chain"] or "[]")
            d["skipped"] = json.loads(d.get("skipped") or "[]")
            if d.get("content"):
                d["content"] = json.loads(d["content"])
            out.append(d)
        return out

    def summary(self, since: float) -> dict[str, Any]:
        """Fallback count, outages and mean recovery time, request impact since `since`."""
        db = self._db
        fallbacks = db.execute("SELECT COUNT(*) FROM events WHERE type = 'FALLBACK' AND ts >= ?",
                               (since,)).fetchone()[0]
        downs = [json.loads(r[0]).get("downtime_s") for r in db.execute(
            "SELECT data FROM events WHERE type = 'RESTORED' AND ts >= ?", (since,))]
        downs = [d for d in downs if isinstance(d, int | float)]
        req = db.execute(
            "SELECT COUNT(*), SUM(outcome = 'ok'), SUM(outcome = 'ok' AND (attempts > 1 "
            "OR COALESCE(continuations, 0) > 0 OR skipped LIKE '%/%')), "
            "SUM(COALESCE(cost_usd, 0)), AVG(latency_ms) FROM requests WHERE ts >= ?",
            (since,)).fetchone()
        return {"fallbacks": fallbacks, "recoveries": len(downs),
                "mean_recovery_s": round(sum(downs) / len(downs), 3) if downs else None,
                "max_recovery_s": round(max(downs), 3) if downs else None,
                "requests": req[0] or 0, "succeeded": req[1] or 0,
                "served_after_fallback": req[2] or 0, "cost_usd": round(req[3] or 0.0, 6),
                "mean_latency_ms": round(req[4], 2) if req[4] is not None else None}

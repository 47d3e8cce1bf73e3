"""The spend ledger: USD and tokens per (UTC day, provider, model), persisted in SQLite.

`record()` runs on the request path: it only updates in-memory totals and a pending batch
under a lock (no I/O). One background writer thread upserts the batch every `interval`
seconds (WAL mode), then re-reads the month/day totals and the admin overrides table, so a
CLI in another process can lift the kill switch of a running gateway.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

from ..config import BudgetSettings
from ._periods import DaySpan, UtcDays

__all__ = ["GROUP_KEYS", "SpendLedger", "SpendRow", "default_data_dir", "default_ledger_path"]

log = logging.getLogger("provider_fallback.budget")

GROUP_KEYS = ("day", "provider", "model")
LEDGER_FILE = "spend.sqlite3"
APP_DIR = "provider-fallback"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    day TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (day, provider, model)
);
CREATE TABLE IF NOT EXISTS overrides (
    key TEXT PRIMARY KEY,
    value TEXT,
    updated REAL NOT NULL
);
"""
_UPSERT = """
INSERT INTO spend (day, provider, model, requests, prompt_tokens, completion_tokens, cost_usd)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (day, provider, model) DO UPDATE SET
    requests = requests + excluded.requests,
    prompt_tokens = prompt_tokens + excluded.prompt_tokens,
    completion_tokens = completion_tokens + excluded.completion_tokens,
    cost_usd = cost_usd + excluded.cost_usd
"""
_EMPTY: Mapping[str, str] = MappingProxyType({})


def default_data_dir(settings: BudgetSettings | None = None, *,
                     environ: Mapping[str, str] | None = None,
                     platform: str | None = None) -> Path:
    """Where the ledger lives: `budget.data_dir`, else $PROVIDER_FALLBACK_DATA_DIR, else the
    user data dir (%LOCALAPPDATA% on Windows, ~/Library/Application Support on macOS,
    $XDG_DATA_HOME or ~/.local/share elsewhere) + "provider-fallback"."""
    env = os.environ if environ is None else environ
    if settings is not None and settings.data_dir:
        return Path(settings.data_dir).expanduser()
    if env.get("PROVIDER_FALLBACK_DATA_DIR"):
        return Path(env["PROVIDER_FALLBACK_DATA_DIR"]).expanduser()
    plat = sys.platform if platform is None else platform
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if plat.startswith("win"):
        base = Path(env["LOCALAPPDATA"]) if env.get("LOCALAPPDATA") else home / "AppData" / "Local"
    elif plat == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else home / ".local" / "share"
    return base / APP_DIR


def default_ledger_path(settings: BudgetSettings | None = None, *,
                        environ: Mapping[str, str] | None = None) -> Path:
    """`<data_dir>/spend.sqlite3`."""
    return default_data_dir(settings, environ=environ) / LEDGER_FILE


@dataclass(frozen=True, slots=True)
class SpendRow:
    """One aggregated row; a key not in the query's `group_by` is None."""

    day: str | None
    provider: str | None
    model: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {k: getattr(self, k) for k in GROUP_KEYS
                                  if getattr(self, k) is not None}
        out.update(requests=self.requests, prompt_tokens=self.prompt_tokens,
                   completion_tokens=self.completion_tokens, cost_usd=round(self.cost_usd, 8))
        return out


class SpendLedger:
    """Spend per (UTC day, provider, model) in SQLite, with O(1) in-memory month/day totals.

    Safe for many asyncio tasks and threads of one process. `record()` never does I/O; the
    queries (`spend`, `by_provider_model_day`, past-period totals) and `flush()` do, so call
    those from a thread in async code. With `writer=False` no thread is started and the
    owner calls `flush()` (the CLI does; `close()` always flushes).
    """

    def __init__(self, path: str | os.PathLike[str], *, wall: Callable[[], float] = time.time,
                 writer: bool = True, interval: float = 1.0) -> None:
        self.path = Path(path)
        self._wall = wall
        self._interval = interval
        self._lock = threading.Lock()        # in-memory state
        self._db_lock = threading.Lock()     # the one connection; also serializes flushes
        self._pending: dict[tuple[str, str, str], list[float]] = {}
        self._pending_overrides: dict[str, str | None] = {}
        self._overrides: Mapping[str, str] = _EMPTY
        self.overrides_version = 0           # bumps whenever `overrides()` changes
        self._closed = False
        self._days = UtcDays()               # strftime once per UTC day, not per answer
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        span = self._days.at(wall())
        self._month, self._day = span.month, span.day
        self._month_total, self._day_total = self._read_totals(self._month, self._day)
        self._read_overrides()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if writer:
            self._thread = threading.Thread(target=self._run, name="spend-ledger-writer",
                                            daemon=True)
            self._thread.start()

    # -- the request path (no I/O) ------------------------------------------------------

    def record(self, provider: str, model: str, prompt_tokens: int, completion_tokens: int,
               cost: float, wall: float | None = None) -> None:
        """Count one answer: updates the in-memory totals now and queues the row."""
        day = self._days.at(self._wall() if wall is None else wall).day
        with self._lock:
            if self._closed:
                raise RuntimeError("SpendLedger is closed")
            row = self._pending.get((day, provider, model))
            if row is None:
                self._pending[(day, provider, model)] = [1, prompt_tokens, completion_tokens, cost]
            else:
                row[0] += 1
                row[1] += prompt_tokens
                row[2] += completion_tokens
                row[3] += cost
            if day > self._day:              # the first answer of a new day/month
                if day[:7] != self._month:
                    self._month, self._month_total = day[:7], 0.0
                self._day, self._day_total = day, 0.0
            if day == self._day:
                self._day_total += cost
            if day[:7] == self._month:
                self._month_total += cost

    def month_total(self, wall: float | None = None) -> float:
        """USD spent in the UTC month of `wall` (default now). O(1) for the current month."""
        month = self.period(wall).month
        with self._lock:
            if month == self._month:
                return self._month_total
            if month > self._month:
                return 0.0
        return self._sum_since(f"{month}-01", f"{month}-31")

    def day_total(self, wall: float | None = None) -> float:
        """USD spent in the UTC day of `wall` (default now). O(1) for the current day."""
        day = self.period(wall).day
        with self._lock:
            if day == self._day:
                return self._day_total
            if day > self._day:
                return 0.0
        return self._sum_since(day, day)

    def current_totals(self, wall: float | None = None) -> tuple[float, float]:
        """(month, day) USD from memory only, never I/O: a period later than the last one
        seen is 0; an earlier one (the clock stepped back) gives the latest totals."""
        span = self.period(wall)
        month, day = span.month, span.day
        with self._lock:
            return (0.0 if month > self._month else self._month_total,
                    0.0 if day > self._day else self._day_total)

    def period(self, wall: float | None = None) -> DaySpan:
        """The UTC day of `wall` (default now): its keys and the next midnight. O(1): the
        keys are formatted once per day."""
        return self._days.at(self._wall() if wall is None else wall)

    def overrides(self) -> Mapping[str, str]:
        """Admin overrides (a read-only snapshot; the writer refreshes it from the file)."""
        return self._overrides

    def set_override(self, key: str, value: str | None) -> None:
        """Set (None: delete) an override now in memory; it is written on the next flush."""
        with self._lock:
            self._pending_overrides[key] = value
            updated = dict(self._overrides)
            if value is None:
                updated.pop(key, None)
            else:
                updated[key] = value
            self._overrides = MappingProxyType(updated)
            self.overrides_version += 1

    # -- I/O: writer thread, flush, queries ---------------------------------------------

    def flush(self) -> None:
        """Write queued rows and overrides, then re-read totals and overrides from the file.

        Re-reading makes spend recorded by another process visible here; a failed write is
        kept and retried on the next flush.
        """
        with self._db_lock:
            with self._lock:
                rows, self._pending = self._pending, {}
                overrides, self._pending_overrides = self._pending_overrides, {}
            try:
                self._write(rows, overrides)
            except sqlite3.Error:
                log.exception("spend ledger write failed; will retry")
                self._requeue(rows, overrides)
                return
            self._refresh()

    def spend(self, since_day: str | date, until_day: str | date,
              group_by: Iterable[str] = GROUP_KEYS) -> list[SpendRow]:
        """Aggregated rows for UTC days in [since_day, until_day], grouped by any of
        "day", "provider", "model" (ordered by day, then cost descending). Flushes first."""
        keys = tuple(k for k in GROUP_KEYS if k in set(group_by))
        unknown = set(group_by) - set(GROUP_KEYS)
        if unknown:
            raise ValueError(f"group_by: unknown keys {sorted(unknown)}; use {GROUP_KEYS}")
        self.flush()
        cols = ", ".join(keys)
        select = (cols + ", ") if keys else ""
        group = f"GROUP BY {cols}" if keys else ""
        order = "ORDER BY " + (("day, " if "day" in keys else "") + "SUM(cost_usd) DESC")
        sql = (f"SELECT {select}SUM(requests), SUM(prompt_tokens), SUM(completion_tokens), "
               f"SUM(cost_usd) FROM spend WHERE day >= ? AND day <= ? {group} {order}")
        with self._db_lock:
            result = self._db.execute(sql, (str(since_day), str(until_day))).fetchall()
        rows = []
        for r in result:
            named = dict(zip(keys, r[:len(keys)], strict=True))
            if not keys and r[len(keys)] is None:
                continue  # SUM over no rows
            rows.append(SpendRow(named.get("day"), named.get("provider"), named.get("model"),
                                 int(r[-4] or 0), int(r[-3] or 0), int(r[-2] or 0),
                                 float(r[-1] or 0.0)))
        return rows

    def by_provider_model_day(self, days: int = 7, wall: float | None = None) -> list[SpendRow]:
        """Rows per (day, provider, model) for the last `days` UTC days including today."""
        today = datetime.fromtimestamp(self._wall() if wall is None else wall, UTC).date()
        return self.spend(today - timedelta(days=max(1, days) - 1), today)

    def close(self) -> None:
        """Stop the writer, flush everything and close the file. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True          # from here on record() refuses: nothing is lost
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
        with self._db_lock:
            self._db.close()

    def __enter__(self) -> SpendLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception:  # the writer must outlive a bad moment (disk full, locked file)
                log.exception("spend ledger flush failed")

    def _write(self, rows: Mapping[tuple[str, str, str], list[float]],
               overrides: Mapping[str, str | None]) -> None:
        if not rows and not overrides:
            return
        now = time.time()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(_UPSERT, [(d, p, m, int(r[0]), int(r[1]), int(r[2]), float(r[3]))
                                     for (d, p, m), r in rows.items()])
            for key, value in overrides.items():
                if value is None:
                    db.execute("DELETE FROM overrides WHERE key = ?", (key,))
                else:
                    db.execute("INSERT INTO overrides (key, value, updated) VALUES (?, ?, ?) "
                               "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                               "updated = excluded.updated", (key, value, now))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _requeue(self, rows: Mapping[tuple[str, str, str], list[float]],
                 overrides: Mapping[str, str | None]) -> None:
        with self._lock:
            for key, r in rows.items():
                mine = self._pending.setdefault(key, [0, 0, 0, 0.0])
                for i in range(4):
                    mine[i] += r[i]
            for k, v in overrides.items():
                self._pending_overrides.setdefault(k, v)

    def _refresh(self) -> None:
        """Totals = what the file holds + what is still pending (recorded after the swap)."""
        span = self.period()
        with self._lock:
            if span.day > self._day:         # a new day with no answer yet in this process
                if span.month != self._month:
                    self._month, self._month_total = span.month, 0.0
                self._day, self._day_total = span.day, 0.0
            month, day = self._month, self._day
        month_total, day_total = self._read_totals(month, day)
        self._read_overrides()
        with self._lock:
            if (month, day) != (self._month, self._day):
                return  # rolled over meanwhile; the next flush catches up
            for (d, _p, _m), r in self._pending.items():
                if d == day:
                    day_total += r[3]
                if d[:7] == month:
                    month_total += r[3]
            self._month_total, self._day_total = month_total, day_total

    def _read_totals(self, month: str, day: str) -> tuple[float, float]:
        row = self._db.execute(
            "SELECT COALESCE(SUM(cost_usd), 0), COALESCE(SUM(CASE WHEN day = ? THEN cost_usd END), 0) "
            "FROM spend WHERE day >= ? AND day <= ?", (day, f"{month}-01", f"{month}-31")).fetchone()
        return float(row[0]), float(row[1])

    def _read_overrides(self) -> None:
        stored = dict(self._db.execute("SELECT key, value FROM overrides").fetchall())
        with self._lock:
            for key, value in self._pending_overrides.items():  # newer than the file
                if value is None:
                    stored.pop(key, None)
                else:
                    stored[key] = value
            if stored != dict(self._overrides):
                self._overrides = MappingProxyType(stored)
                self.overrides_version += 1

    def _sum_since(self, since_day: str, until_day: str) -> float:
        self.flush()
        with self._db_lock:
            row = self._db.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM spend "
                                   "WHERE day >= ? AND day <= ?", (since_day, until_day)).fetchone()
        return float(row[0])

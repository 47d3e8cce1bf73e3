"""The SQLite spend ledger: totals in memory, rows on disk, nothing lost under concurrency."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from provider_fallback.budget import SpendLedger, default_data_dir, default_ledger_path
from provider_fallback.config import BudgetSettings


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchall()


def test_record_updates_totals_at_once_without_writing(tmp_path, clock):
    with SpendLedger(tmp_path / "s.db", wall=clock, writer=False) as ledger:
        ledger.record("groq", "m", 100, 50, 0.25)
        ledger.record("groq", "m", 100, 50, 0.25)
        assert ledger.day_total() == pytest.approx(0.5)
        assert ledger.month_total() == pytest.approx(0.5)
        assert query(tmp_path / "s.db", "SELECT COUNT(*) FROM spend") == [(0,)]  # queued only
        ledger.flush()
        row = query(tmp_path / "s.db", "SELECT day, provider, model, requests, prompt_tokens, "
                                       "completion_tokens, cost_usd FROM spend")
        assert row == [("2026-02-10", "groq", "m", 2, 200, 100, pytest.approx(0.5))]


def test_wal_mode(tmp_path, clock):
    with SpendLedger(tmp_path / "s.db", wall=clock, writer=False):
        assert query(tmp_path / "s.db", "PRAGMA journal_mode") == [("wal",)]


def test_persists_across_close_and_reopen(tmp_path, clock):
    path = tmp_path / "nested" / "spend.sqlite3"
    ledger = SpendLedger(path, wall=clock, writer=False)
    ledger.record("groq", "a", 10, 20, 1.5)
    ledger.record("openrouter", "b:free", 10, 20, 0.0)
    ledger.close()
    ledger.close()  # idempotent
    with pytest.raises(RuntimeError):
        ledger.record("groq", "a", 1, 1, 1.0)
    again = SpendLedger(path, wall=clock, writer=False)
    assert again.month_total() == pytest.approx(1.5)
    assert again.day_total() == pytest.approx(1.5)
    rows = {(r.provider, r.model): r for r in again.by_provider_model_day(7)}
    assert rows[("groq", "a")].requests == 1 and rows[("openrouter", "b:free")].cost_usd == 0
    again.close()


def test_month_and_day_totals_roll_over(tmp_path, clock):
    with SpendLedger(tmp_path / "s.db", wall=clock, writer=False) as ledger:
        ledger.record("p", "m", 1, 1, 2.0)
        clock.set(datetime(2026, 2, 11, 1, tzinfo=UTC))
        assert ledger.day_total() == 0.0 and ledger.month_total() == pytest.approx(2.0)
        ledger.record("p", "m", 1, 1, 1.0)
        assert ledger.day_total() == pytest.approx(1.0)
        assert ledger.month_total() == pytest.approx(3.0)
        clock.set(datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC))
        assert ledger.month_total() == 0.0 and ledger.day_total() == 0.0
        ledger.record("p", "m", 1, 1, 4.0)
        assert ledger.month_total() == pytest.approx(4.0)
        # past periods come from the file
        feb = datetime(2026, 2, 15, tzinfo=UTC).timestamp()
        assert ledger.month_total(feb) == pytest.approx(3.0)
        assert ledger.day_total(datetime(2026, 2, 10, tzinfo=UTC).timestamp()) == pytest.approx(2.0)


def test_reopen_in_a_new_month_starts_at_zero(tmp_path, clock):
    with SpendLedger(tmp_path / "s.db", wall=clock, writer=False) as ledger:
        ledger.record("p", "m", 1, 1, 5.0)
    clock.set(datetime(2026, 3, 2, tzinfo=UTC))
    with SpendLedger(tmp_path / "s.db", wall=clock, writer=False) as ledger:
        assert ledger.month_total() == 0.0


def test_spend_queries_group_by(tmp_path, clock):
    with SpendLedger(tmp_path / "s.db", wall=clock, writer=False) as ledger:
        ledger.record("groq", "a", 10, 1, 1.0)
        ledger.record("groq", "b", 10, 1, 2.0)
        ledger.record("or", "c", 10, 1, 0.5)
        clock.advance(86400)
        ledger.record("groq", "a", 10, 1, 4.0)
        by_provider = ledger.spend("2026-02-01", "2026-02-28", group_by=["provider"])
        assert [(r.provider, r.cost_usd, r.requests) for r in by_provider] == \
            [("groq", pytest.approx(7.0), 3), ("or", pytest.approx(0.5), 1)]
        assert by_provider[0].day is None and by_provider[0].model is None
        total = ledger.spend("2026-02-01", "2026-02-28", group_by=())
        assert len(total) == 1 and total[0].prompt_tokens == 40
        assert ledger.spend("2025-01-01", "2025-01-31", group_by=()) == []
        days = ledger.spend("2026-02-10", "2026-02-11", group_by=["day"])
        assert [(r.day, r.cost_usd) for r in days] == [("2026-02-10", pytest.approx(3.5)),
                                                       ("2026-02-11", pytest.approx(4.0))]
        assert len(ledger.by_provider_model_day(1)) == 1
        assert len(ledger.by_provider_model_day(2)) == 4
        with pytest.raises(ValueError, match="group_by"):
            ledger.spend("2026-02-01", "2026-02-28", group_by=["region"])


async def test_many_asyncio_tasks_lose_nothing(tmp_path, clock):
    ledger = SpendLedger(tmp_path / "s.db", wall=clock, interval=0.01)

    async def agent(i: int) -> None:
        for _ in range(50):
            ledger.record("groq", f"m{i % 3}", 10, 5, 0.001)
            await asyncio.sleep(0)

    await asyncio.gather(*(agent(i) for i in range(40)))
    assert ledger.month_total() == pytest.approx(2.0)
    ledger.close()
    with SpendLedger(tmp_path / "s.db", wall=clock, writer=False) as again:
        rows = again.spend("2026-02-10", "2026-02-10", group_by=())
        assert rows[0].requests == 2000 and rows[0].prompt_tokens == 20000
        assert again.month_total() == pytest.approx(2.0)


def test_many_threads_with_a_live_writer_lose_nothing(tmp_path, clock):
    ledger = SpendLedger(tmp_path / "s.db", wall=clock, interval=0.001)
    start = threading.Barrier(8)

    def worker(i: int) -> None:
        start.wait()
        for j in range(500):
            ledger.record(f"p{i % 2}", f"m{j % 4}", 1, 2, 0.01)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.month_total() == pytest.approx(40.0)
    ledger.close()
    with SpendLedger(tmp_path / "s.db", wall=clock, writer=False) as again:
        rows = again.spend("2026-02-10", "2026-02-10", group_by=())
        assert rows[0].requests == 4000 and rows[0].completion_tokens == 8000
        assert rows[0].cost_usd == pytest.approx(40.0)


def test_spend_from_another_process_shows_up_after_flush(tmp_path, clock):
    path = tmp_path / "s.db"
    with SpendLedger(path, wall=clock, writer=False) as mine, \
            SpendLedger(path, wall=clock, writer=False) as theirs:
        mine.record("a", "m", 1, 1, 1.0)
        theirs.record("b", "m", 1, 1, 2.0)
        theirs.flush()
        mine.flush()
        assert mine.month_total() == pytest.approx(3.0)
        mine.record("a", "m", 1, 1, 1.0)   # pending rows count on top of the file
        assert mine.month_total() == pytest.approx(4.0)


def test_overrides_round_trip_between_ledgers(tmp_path, clock):
    path = tmp_path / "s.db"
    with SpendLedger(path, wall=clock, writer=False) as gateway:
        version = gateway.overrides_version
        with SpendLedger(path, wall=clock, writer=False) as cli:
            cli.set_override("k", "v1")
            assert cli.overrides() == {"k": "v1"}
        assert gateway.overrides() == {}
        gateway.flush()
        assert gateway.overrides() == {"k": "v1"} and gateway.overrides_version > version
        gateway.set_override("k", None)
        assert gateway.overrides() == {}
        gateway.flush()
        assert gateway.overrides() == {}
    with SpendLedger(path, wall=clock, writer=False) as reopened:
        assert reopened.overrides() == {}


def test_default_data_dir_per_platform(tmp_path):
    env = {"HOME": "/home/u"}
    assert default_data_dir(environ=env, platform="linux") == \
        Path("/home/u/.local/share/provider-fallback")
    assert default_data_dir(environ={**env, "XDG_DATA_HOME": "/xdg"}, platform="linux") == \
        Path("/xdg/provider-fallback")
    assert default_data_dir(environ=env, platform="darwin") == \
        Path("/home/u/Library/Application Support/provider-fallback")
    assert default_data_dir(environ={"LOCALAPPDATA": "C:/Users/u/AppData/Local"},
                            platform="win32") == Path("C:/Users/u/AppData/Local/provider-fallback")
    assert default_data_dir(environ={**env, "PROVIDER_FALLBACK_DATA_DIR": str(tmp_path)},
                            platform="linux") == tmp_path
    configured = BudgetSettings(data_dir=str(tmp_path / "cfg"))
    assert default_data_dir(configured, environ={"PROVIDER_FALLBACK_DATA_DIR": "/elsewhere"}) == \
        tmp_path / "cfg"
    assert default_ledger_path(configured) == tmp_path / "cfg" / "spend.sqlite3"



def test_writer_thread_flushes_and_picks_up_overrides_by_itself(tmp_path, clock):
    path = tmp_path / "s.db"
    ledger = SpendLedger(path, wall=clock, interval=0.01)
    try:
        ledger.record("groq", "m", 1, 1, 0.5)
        with SpendLedger(path, wall=clock, writer=False) as cli:
            cli.set_override("k", "v")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            written = query(path, "SELECT COUNT(*) FROM spend") == [(1,)]
            if written and ledger.overrides().get("k") == "v":
                break
            time.sleep(0.01)
        assert query(path, "SELECT requests FROM spend") == [(1,)]
        assert ledger.overrides() == {"k": "v"}
    finally:
        ledger.close()

"""Events to JSONL + SQLite and the request log, through the real gateway over loopback."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace

from gateway_harness import CHAT, gateway_running, make_config, sims_running
from openai import AsyncOpenAI

from provider_fallback.config import TelemetrySettings
from provider_fallback.sim import Fault
from provider_fallback.telemetry import (
    DB_FILE,
    EVENTS_FILE,
    Event,
    RotatingJsonl,
    TelemetryStore,
    TelemetryWriter,
    outage_report,
)

SIMS = ({"name": "primary", "models": ["m"]}, {"name": "backup", "models": ["m"]})


async def test_events_and_requests_are_persisted(tmp_path):
    async with sims_running(*SIMS) as (p, b):
        cfg = make_config({"primary": p, "backup": b}, {"chat": ["primary/m", "backup/m"]})
        cfg = replace(cfg, telemetry=TelemetrySettings(log_dir=str(tmp_path)))
        async with gateway_running(cfg) as gw:
            client = AsyncOpenAI(base_url=gw.url, api_key="x", max_retries=0)
            p.set_fault(Fault(status=503))
            for _ in range(3):
                await client.chat.completions.create(model="chat", **CHAT)
            p.set_fault(None)
            gw.router.health.restore("primary")
            await client.chat.completions.create(model="chat", **CHAT)
            await client.close()
            gw.app.telemetry.writer.flush()

        lines = [json.loads(x) for x in (tmp_path / EVENTS_FILE).read_text().splitlines()]
        types = [e["type"] for e in lines]
        assert "FALLBACK" in types and "CIRCUIT_OPENED" in types and "RESTORED" in types
        store = TelemetryStore(tmp_path / DB_FILE, readonly=True)
        try:
            assert [e["type"] for e in store.events()] == types
            assert [e["type"] for e in store.events(provider="backup")] == []
            assert {e["type"] for e in store.events(provider="primary")} >= {"FALLBACK", "RESTORED"}
            rows = store.requests()
            assert len(rows) == 4
            assert [r["provider"] for r in rows] == ["backup", "backup", "backup", "primary"]
            assert [c["code"] for c in rows[0]["chain"]] == ["service_unavailable", "ok"]
            assert rows[0]["prompt_tokens"] and rows[0]["latency_ms"] > 0
            assert all(r["content"] is None for r in rows)       # no prompt text by default
            assert "hi" not in json.dumps(rows)
            summary = store.summary(0)
            # one fall-over: the primary's first 503 opened its circuit (the backup could serve)
            assert summary["fallbacks"] >= 1 and summary["requests"] == 4
            assert summary["served_after_fallback"] >= 1
            report = outage_report(store.events(), rows, since=0, until=time.time())
        finally:
            store.close()
        assert "## Affected providers" in report and "| primary |" in report
        assert "Active provider** (answered the latest request): primary" in report
        assert "FALLBACK" in report and "service_unavailable" in report


def test_jsonl_rotates_by_size_and_prunes_by_age(tmp_path):
    path = tmp_path / EVENTS_FILE
    log = RotatingJsonl(path, max_bytes=200, backups=2, retention_days=1)
    for i in range(30):
        log.write_lines([json.dumps({"i": i, "pad": "x" * 40}).encode()])
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [EVENTS_FILE, EVENTS_FILE + ".1", EVENTS_FILE + ".2"]
    assert all(p.stat().st_size <= 200 for p in tmp_path.iterdir())
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["i"] == 29
    old = time.time() - 2 * 86400
    os.utime(tmp_path / (EVENTS_FILE + ".2"), (old, old))
    log.prune()
    assert not (tmp_path / (EVENTS_FILE + ".2")).exists()
    assert (tmp_path / (EVENTS_FILE + ".1")).exists()


def test_writer_drops_instead_of_blocking_and_prunes_old_rows(tmp_path, monkeypatch):
    import provider_fallback.telemetry._writer as writer_mod

    monkeypatch.setattr(writer_mod, "QUEUE_MAX", 5)
    w = TelemetryWriter(tmp_path, TelemetrySettings(retention_days=1))
    for i in range(8):                       # thread not started: the queue fills, then drops
        w.add_event(Event(i + 1, time.time() - (3 * 86400 if i == 0 else 0), "FALLBACK", {}))
    assert w.dropped == 3
    w.start()
    w.flush()
    w.stop()
    store = TelemetryStore(tmp_path / DB_FILE, readonly=True)
    try:
        assert len(store.events()) == 4       # the 3-day-old row was pruned at start
    finally:
        store.close()


def test_request_rows_are_written_whole_in_multi_row_statements(tmp_path):
    """Rows go in many to a statement (ROWS_PER_INSERT) and the rest one by one: every row
    lands once, in order, each column in its place."""
    from provider_fallback.errors import Attempt
    from provider_fallback.telemetry import RequestRecord
    from provider_fallback.telemetry._store import ROWS_PER_INSERT

    n = 2 * ROWS_PER_INSERT + 7
    records = [RequestRecord(f"req-{i}", "chat", "chat", i % 2 == 0, 1_000_000.0 + i,
                             provider="primary", model="m", prompt_tokens=i,
                             completion_tokens=2 * i, cost_usd=i / 1000,
                             attempts=(Attempt("primary", "m", "ok", 200, 1.5 + i, ""),),
                             skipped=(f"backup/m: quota: {i}",) if i % 3 == 0 else ())
               for i in range(n)]
    store = TelemetryStore(tmp_path / DB_FILE)
    try:
        store.write([], records[:ROWS_PER_INSERT - 1])   # fewer than one statement's worth
        store.write([], records[ROWS_PER_INSERT - 1:])
        rows = store.requests()
    finally:
        store.close()
    assert [r["request_id"] for r in rows] == [f"req-{i}" for i in range(n)]
    for i, r in enumerate(rows):
        assert (r["ts"], r["stream"], r["prompt_tokens"], r["completion_tokens"]) == \
            (1_000_000.0 + i, int(i % 2 == 0), i, 2 * i)
        assert r["cost_usd"] == i / 1000 and r["chain"][0]["ms"] == 1.5 + i
        assert r["skipped"] == ([f"backup/m: quota: {i}"] if i % 3 == 0 else [])

"""`events`, `report` and `status` over a real store and a real gateway on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import replace

from gateway_harness import CHAT, gateway_running, make_config, sims_running
from openai import AsyncOpenAI
from typer.testing import CliRunner

from provider_fallback.cli import app
from provider_fallback.config import TelemetrySettings
from provider_fallback.sim import Fault
from provider_fallback.telemetry import Event, TelemetryStore

runner = CliRunner()


def seed(tmp_path) -> None:
    now = time.time()
    store = TelemetryStore(tmp_path / "telemetry.sqlite3")
    store.write([
        Event(1, now - 7200 * 24, "FALLBACK", {"alias": "chat", "from_provider": "old"}),
        Event(2, now - 60, "CIRCUIT_OPENED", {"key": "groq/llama", "code": "rate_limit"}),
        Event(3, now - 59, "FALLBACK", {"alias": "chat", "from_target": "groq/llama",
                                        "from_provider": "groq", "to_target": "or/m",
                                        "to_provider": "or", "reason": "rate_limit"}),
        Event(4, now - 10, "RESTORED", {"provider": "groq", "downtime_s": 50.0}),
    ], [])
    store.close()


def test_events_filters_and_json(tmp_path):
    seed(tmp_path)
    res = runner.invoke(app, ["events", "--log-dir", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert [r["type"] for r in rows] == ["CIRCUIT_OPENED", "FALLBACK", "RESTORED"]  # 24h default
    res = runner.invoke(app, ["events", "--log-dir", str(tmp_path), "--since", "30s"])
    assert "RESTORED" in res.output and "FALLBACK" not in res.output
    res = runner.invoke(app, ["events", "--log-dir", str(tmp_path), "--provider", "groq",
                              "--type", "fallback", "--since", "400h"])
    assert res.exit_code == 0 and res.output.count("FALLBACK") == 1 and "old" not in res.output


def test_events_without_a_store_is_a_clean_error(tmp_path):
    res = runner.invoke(app, ["events", "--log-dir", str(tmp_path / "none")])
    assert res.exit_code == 1 and "[config_error]" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["events", "--log-dir", str(tmp_path), "--since", "soon"])
    assert res.exit_code == 1 and "[invalid_request]" in res.output


def test_events_follow_prints_new_events(tmp_path):
    seed(tmp_path)
    def add_later() -> None:
        time.sleep(0.5)
        store = TelemetryStore(tmp_path / "telemetry.sqlite3")
        store.write([Event(9, time.time(), "ALL_DOWN", {"alias": "chat", "attempts": []})], [])
        store.close()

    t = threading.Thread(target=add_later)
    t.start()
    import provider_fallback.cli._events as ev

    calls = {"n": 0}
    real_sleep = time.sleep

    def sleep(s: float) -> None:           # ends --follow after a few polls
        calls["n"] += 1
        if calls["n"] > 20:
            raise KeyboardInterrupt
        real_sleep(s)

    ev.time.sleep = sleep  # type: ignore[attr-defined]
    try:
        res = runner.invoke(app, ["events", "--log-dir", str(tmp_path), "--follow", "--poll", "0.1"])
    finally:
        ev.time.sleep = real_sleep  # type: ignore[attr-defined]
        t.join()
    assert res.exit_code == 130 and "ALL_DOWN" in res.output and "RESTORED" in res.output


def test_report_writes_markdown(tmp_path):
    seed(tmp_path)
    out = tmp_path / "report.md"
    res = runner.invoke(app, ["report", "--log-dir", str(tmp_path), "--since", "24h", "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert text.startswith("# Outage report")
    for part in ("## Summary", "## Affected providers", "## Timeline", "| groq |",
                 "Recovery time:** mean 50.0 s", "rate_limit"):
        assert part in text, part
    assert "| old |" not in text


async def test_status_against_a_running_gateway(tmp_path, monkeypatch):
    async with sims_running({"name": "primary", "models": ["m"]},
                            {"name": "backup", "models": ["m"]}) as (p, b):
        cfg = make_config({"primary": p, "backup": b}, {"chat": ["primary/m", "backup/m"]},
                          server={"master_key": "pf-status-key-123"})
        cfg = replace(cfg, telemetry=TelemetrySettings(log_dir=str(tmp_path)))
        async with gateway_running(cfg) as gw:
            client = AsyncOpenAI(base_url=gw.url, api_key="pf-status-key-123", max_retries=0)
            p.set_fault(Fault(status=503))
            await client.chat.completions.create(model="chat", **CHAT)
            await client.close()
            gw.app.telemetry.writer.flush()
            monkeypatch.delenv("PROVIDER_FALLBACK_MASTER_KEY", raising=False)
            res = await asyncio.to_thread(runner.invoke, app, ["status", "--url", gw.base_url])
            assert res.exit_code == 1 and "[unauthorized]" in res.output
            monkeypatch.setenv("PROVIDER_FALLBACK_MASTER_KEY", "pf-status-key-123")
            res = await asyncio.to_thread(runner.invoke, app, ["status", "--url", gw.base_url])
            assert res.exit_code == 0, res.output
            assert "primary" in res.output and "last 24 hours" in res.output
            assert "state: memory (this process only)" in res.output
            res = await asyncio.to_thread(runner.invoke, app,
                                          ["status", "--url", gw.base_url, "--json"])
            snap = json.loads(res.output)
            assert snap["last_24h"]["fallbacks"] == 1 and snap["last_24h"]["requests"] == 1
            assert snap["providers"]["backup"]["status"] == "HEALTHY"
            assert "pf-status-key-123" not in res.output

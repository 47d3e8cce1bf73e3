"""Configured secrets never appear in any output: logs (console and JSON), /metrics,
/admin/status, the dashboard, the events JSONL and the SQLite event/request log."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from dataclasses import replace

import aiohttp
import pytest
from gateway_harness import CHAT, gateway_running, make_config, sims_running
from openai import AsyncOpenAI

from provider_fallback._secret import Secret
from provider_fallback.config import AlertSettings, AlertSink, TelemetrySettings
from provider_fallback.sim import Fault
from provider_fallback.telemetry import DB_FILE, EVENTS_FILE, config_secrets, configure_logging

PROVIDER_KEY = "zq-provider-7c1f93ab2e"       # shapes no pattern knows: only the config says
MASTER = "zq-master-55aa01bc77"
HOOK = "http://127.0.0.1:9/hooks/zq-webhook-9f8e7d"


@pytest.fixture
def log_stream():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.mark.parametrize("fmt", ["console", "json"])
async def test_no_secret_in_any_output(tmp_path, log_stream, fmt):
    async with sims_running({"name": "primary", "models": ["m"]},
                            {"name": "backup", "models": ["m"]}) as (p, b):
        cfg = make_config({"primary": p, "backup": b}, {"chat": ["primary/m", "backup/m"]},
                          server={"master_key": "os.environ/PF_MASTER"},
                          providers={"primary": {"api_key": "os.environ/PRIMARY_KEY"},
                                     "backup": {"api_key": "os.environ/PRIMARY_KEY",
                                                "headers": {"X-Token": "os.environ/PRIMARY_KEY"}}},
                          environ={"PF_MASTER": MASTER, "PRIMARY_KEY": PROVIDER_KEY})
        cfg = replace(cfg, telemetry=TelemetrySettings(log_dir=str(tmp_path)),
                      alerts=AlertSettings(webhooks=(AlertSink(Secret(HOOK)),),
                                           provider_down_after=0.05))
        secrets = config_secrets(cfg)
        assert set(secrets) == {PROVIDER_KEY, MASTER, HOOK}
        configure_logging(fmt, "debug", secrets=secrets, stream=log_stream)
        # an upstream that echoes the key back in its error, and code that logs it carelessly
        p.set_fault(Fault(status=401, message=f"invalid key {PROVIDER_KEY}"))
        logging.getLogger("provider_fallback.test").warning("careless %s", PROVIDER_KEY)
        try:
            raise RuntimeError(f"boom with {MASTER}")
        except RuntimeError:
            logging.getLogger("provider_fallback.test").exception("traceback")
        async with gateway_running(cfg) as gw:
            client = AsyncOpenAI(base_url=gw.url, api_key=MASTER, max_retries=0)
            for _ in range(3):
                await client.chat.completions.create(model="chat", **CHAT)
            stream = await client.chat.completions.create(model="chat", stream=True, **CHAT)
            async for _ in stream:
                pass
            await client.close()
            headers = {"Authorization": f"Bearer {MASTER}"}
            outputs = []
            async with aiohttp.ClientSession(headers=headers) as s:
                for path in ("/metrics", "/admin/status", "/admin/providers", "/admin/events",
                             "/dashboard", "/health/providers"):
                    async with s.get(gw.base_url + path) as r:
                        assert r.status == 200, path
                        outputs.append(await r.text())
            gw.app.telemetry.writer.flush()
        outputs.append(log_stream.getvalue())
        outputs.append((tmp_path / EVENTS_FILE).read_text())
        with sqlite3.connect(tmp_path / DB_FILE) as db:
            outputs.append("\n".join(db.iterdump()))
    everything = "\n".join(outputs)
    assert "FALLBACK" in everything and "careless [secret]" in everything
    assert "invalid_api_key" in everything
    for secret in (PROVIDER_KEY, MASTER, HOOK, "zq-webhook"):
        assert secret not in everything, secret
    if fmt == "json":
        for line in log_stream.getvalue().splitlines():
            json.loads(line)

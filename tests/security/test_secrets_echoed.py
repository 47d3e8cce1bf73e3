"""Upstreams that echo the key back, on every error path: no piece of 12+ characters of
any configured secret reaches the client (errors, in-band stream errors), events, logs,
JSONL, SQLite, metrics, status, the dashboard or the CLI."""

from __future__ import annotations

import io
import logging
import sqlite3
import subprocess
import sys
from dataclasses import replace

import aiohttp
import pytest
from gateway_harness import gateway_running, make_config, sims_running
from test_redactor import leaked

from provider_fallback.config import TelemetrySettings
from provider_fallback.sim import Fault
from provider_fallback.telemetry import DB_FILE, EVENTS_FILE, config_secrets, configure_logging

GROQ = "gsk_" + "Q7vR2mX9pL4tK8wZ3nB6yH1cF5dJ0sA2eG7uV9iO4kM8qW3rT6"
ROUTER = "sk-or-v1-" + "8f3a9c2e7b1d4f6a0c5e9b3d7f1a4c8e2b6d0f3a7c1e5b9d"
MASTER = "front-door-master-" + "Zx81Lq47Wv03"
CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def log_stream():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _echoes(key: str) -> list[str]:
    """The shapes the issue found leaking: past a cut at 200, without the prefix, glued."""
    bare = key.split("_", 1)[1] if key.startswith("gsk_") else key[len("sk-or-v1-"):]
    return [("x" * 170) + f" key {key} rejected", f"bad key {bare}", f"token=X{key}Y",
            f"Incorrect API key provided: {key[:30]}...{key[-4:]}"]


async def test_no_piece_of_a_secret_leaks_anywhere(tmp_path, log_stream):
    async with sims_running({"name": "p0", "models": ["m"]}, {"name": "p1", "models": ["m"]},
                            {"name": "p2", "models": ["m"]}) as (p0, p1, p2):
        cfg = make_config(
            {"p0": p0, "p1": p1, "p2": p2}, {"chat": ["p0/m", "p1/m", "p2/m"]},
            server={"master_key": "os.environ/MASTER"},
            providers={"p0": {"api_key": "os.environ/GROQ"}, "p1": {"api_key": "os.environ/OR"}},
            health={"enabled": True, "quick_interval": "1h", "full_interval": "1h"},
            environ={"GROQ": GROQ, "OR": ROUTER, "MASTER": MASTER})
        cfg = replace(cfg, telemetry=TelemetrySettings(log_dir=str(tmp_path)))
        configure_logging("json", "debug", secrets=config_secrets(cfg), stream=log_stream)
        outputs: list[str] = []
        auth = {"Authorization": f"Bearer {MASTER}"}
        async with gateway_running(cfg) as gw, aiohttp.ClientSession(headers=auth) as http:
            async def chat(**extra: object) -> str:
                async with http.post(gw.url + "/chat/completions", json={**CHAT, **extra}) as r:
                    return await r.text()

            for echo_groq, echo_router in zip(_echoes(GROQ), _echoes(ROUTER), strict=True):
                # p0 and p1 fail echoing their keys (FALLBACK, CIRCUIT_OPENED, the final 503)
                p0.push_fault(Fault(status=401, message=echo_groq))
                p1.push_fault(Fault(status=500, message=echo_router))
                p2.push_fault(Fault(status=400, message=f"{echo_groq} / {echo_router}"))
                outputs.append(await chat())
                gw.router.health.restore("p0")
                gw.router.health.restore("p1")
            # in-band stream errors after content, echoing a key
            for echo in _echoes(GROQ):
                p0.push_fault(Fault(error_after=1, error_message=echo))
                outputs.append(await chat(stream=True))
                gw.router.health.restore("p0")
            # probes whose answer echoes the key: the status pages show their detail
            p0.set_fault(Fault(status=401, message=_echoes(GROQ)[0], on_models=True))
            async with http.post(gw.base_url + "/admin/providers/p0/probe",
                                 json={"tier": "full"}) as r:
                outputs.append(await r.text())
            for path in ("/metrics", "/admin/status", "/admin/providers", "/admin/events",
                         "/dashboard", "/health/providers", "/v1/models"):
                async with http.get(gw.base_url + path) as r:
                    assert r.status == 200, path
                    outputs.append(await r.text())
            gw.app.telemetry.writer.flush()
        outputs.append(log_stream.getvalue())
        outputs.append((tmp_path / EVENTS_FILE).read_text())
        with sqlite3.connect(tmp_path / DB_FILE) as db:
            outputs.append("\n".join(db.iterdump()))
        cli = subprocess.run([sys.executable, "-m", "provider_fallback", "events", "--since", "1h",
                              "--log-dir", str(tmp_path)], capture_output=True, text=True,
                             timeout=60)
        outputs.append(cli.stdout + cli.stderr)
    everything = "\n".join(outputs)
    assert "FALLBACK" in everything and "CIRCUIT_OPENED" in everything
    assert "[secret]" in everything and "invalid_api_key" in everything
    for secret in (GROQ, ROUTER, MASTER):
        assert leaked(everything, secret) == [], secret

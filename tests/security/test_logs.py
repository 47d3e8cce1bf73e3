"""What `serve` writes to a log file: text only (no ANSI escapes, no control characters a
client could use to forge lines) and no uvicorn access lines."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys

import aiohttp
import yaml
from gateway_harness import CHAT, sims_running, stop_process, wait_serving

from provider_fallback.telemetry import configure_logging


async def test_serve_log_file_has_no_access_lines_and_no_escapes(tmp_path):
    async with sims_running({"name": "p", "models": ["m"]}) as (p,):
        config = tmp_path / "provider_config.yaml"
        config.write_text(yaml.safe_dump({
            "providers": [{"name": "p", "base_url": p.url}], "models": {"chat": ["p/m"]},
            "health": {"enabled": False}, "telemetry": {"enabled": False}}))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = tmp_path / "serve.log"
        with log.open("wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "provider_fallback", "serve", "-c",
                                     str(config), "--port", str(port), "--log-level", "debug"],
                                    stdout=subprocess.DEVNULL, stderr=err,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1",
                                         "FORCE_COLOR": "1"})
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_serving(base, proc)
            async with aiohttp.ClientSession() as http:
                async with http.post(base + "/v1/chat/completions",
                                     json={"model": "chat", **CHAT}) as r:
                    assert r.status == 200
                # a model name with an escape sequence and a fake log line in it
                async with http.post(base + "/v1/chat/completions", json={
                        "model": "\x1b[31mred\n2026-01-01 ERROR forged", **CHAT}) as r:
                    assert r.status == 404
        finally:
            stop_process(proc)
        text = log.read_text(errors="replace")
    assert "Uvicorn running" in text or "Application startup complete" in text
    assert "uvicorn.access" not in text
    assert "\x1b" not in text
    assert "\nERROR forged" not in text and "\n2026-01-01 ERROR forged" not in text


def test_formatter_removes_escapes_and_color_message(tmp_path):
    import io

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    try:
        configure_logging("console", "info", stream=stream)
        logging.getLogger("uvicorn.error").info(
            "Uvicorn running on %s", "http://x", extra={"color_message": "\x1b[1mUvicorn\x1b[0m"})
        logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET / HTTP/1.1" 200')
        logging.getLogger("provider_fallback.test").info("bell\x07 and \x1b]0;title\x07 done")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    out = stream.getvalue()
    assert "\x1b" not in out and "\x07" not in out and "color_message" not in out
    assert "Uvicorn running on http://x" in out and "GET / HTTP" not in out
    assert "bell and  done" in out

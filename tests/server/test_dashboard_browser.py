"""The dashboard in real headless Chromium, driven over the DevTools protocol (aiohttp
websocket): log in with the master key, watch a provider go down and come back, no console
errors, a screenshot in artifacts/."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from gateway_harness import (
    CHAT,
    eventually,
    gateway_running,
    make_config,
    sims_running,
    stop_process,
)
from openai import AsyncOpenAI

from provider_fallback.sim import Fault

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser",
                                                         "google-chrome")) if p), None)
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
KEY = "pf-dash-0123456789"

if CHROMIUM is None and os.environ.get("CI") != "true":
    pytest.skip("chromium is not installed (Debian: apt-get install chromium); CI installs it",
                allow_module_level=True)


class Page:
    """The smallest DevTools client: commands with ids, events collected."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.errors: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            method = data.get("method")
            params = data.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                self.errors.append(json.dumps(params.get("args"))[:300])
            elif method == "Runtime.exceptionThrown":
                self.errors.append(json.dumps(params.get("exceptionDetails"))[:300])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                self.errors.append(params["entry"].get("text", "")[:300])

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        i = next(self.ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[i] = fut
        await self.ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
        reply = await asyncio.wait_for(fut, 30)
        assert "error" not in reply, reply
        return reply.get("result", {})

    async def eval(self, expr: str) -> Any:
        res = await self.send("Runtime.evaluate", expression=expr, returnByValue=True,
                              awaitPromise=True)
        return res.get("result", {}).get("value")


async def launch(profile: str) -> tuple[subprocess.Popen[bytes], int]:
    assert CHROMIUM is not None
    proc = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                             "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
                             f"--user-data-dir={profile}", "--window-size=1280,1000", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = Path(profile) / "DevToolsActivePort"
    await eventually(port_file.exists, timeout=30)
    await eventually(lambda: len(port_file.read_text().splitlines()) >= 1, timeout=5)
    return proc, int(port_file.read_text().splitlines()[0])


async def test_dashboard_shows_a_provider_going_down_and_coming_back():
    ARTIFACTS.mkdir(exist_ok=True)
    profile = tempfile.mkdtemp(prefix="pf-chromium-")
    proc, port = await launch(profile)
    try:
        async with sims_running({"name": "primary", "models": ["m"]},
                                {"name": "backup", "models": ["m"]}) as (p, b):
            cfg = make_config({"primary": p, "backup": b}, {"chat": ["primary/m", "backup/m"]},
                              server={"master_key": KEY})
            async with gateway_running(cfg) as gw, aiohttp.ClientSession() as http:
                client = AsyncOpenAI(base_url=gw.url, api_key=KEY, max_retries=0)
                await client.chat.completions.create(model="chat", **CHAT)
                async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                    targets = await r.json()
                ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
                async with http.ws_connect(ws_url, max_msg_size=0) as ws:
                    page = Page(ws)
                    for domain in ("Runtime", "Log", "Page"):
                        await page.send(f"{domain}.enable")
                    await page.send("Page.navigate", url=gw.base_url + "/dashboard")

                    async def js(expr: str) -> Any:
                        return await page.eval(expr)

                    async def shows(expr: str, timeout: float = 15) -> None:
                        async def check() -> bool:
                            return bool(await js(expr))
                        await eventually(check, timeout)

                    # the gateway has a master key: the page asks for it, no data before
                    await shows("!document.getElementById('login').classList.contains('hidden')")
                    assert await js("document.getElementById('providers').tBodies[0].rows.length") == 0
                    await js(f"document.getElementById('key').value = {json.dumps(KEY)};"
                             "document.getElementById('login-form').requestSubmit(); true")
                    status = ("(document.querySelector('[data-provider=\"primary\"] .status') || {})"
                              ".textContent")
                    await shows(f"{status} === 'HEALTHY'")
                    await shows("document.getElementById('conn').textContent === 'live'")

                    p.set_fault(Fault(status=503))         # primary goes down
                    for _ in range(3):                     # failure_threshold: circuit opens
                        await client.chat.completions.create(model="chat", **CHAT)
                    await shows(f"{status} === 'UNHEALTHY'")
                    await shows("!!document.querySelector('#events [data-type=\"CIRCUIT_OPENED\"]')")
                    await shows("!!document.querySelector('#events [data-type=\"FALLBACK\"]')")
                    shot = await page.send("Page.captureScreenshot", format="png")
                    (ARTIFACTS / "dashboard-provider-down.png").write_bytes(base64.b64decode(shot["data"]))

                    p.set_fault(None)                      # and comes back
                    gw.router.health.restore("primary")
                    for _ in range(6):                     # reliability climbs back over 0.5
                        await client.chat.completions.create(model="chat", **CHAT)
                    await shows(f"{status} === 'HEALTHY'")
                    await shows("!!document.querySelector('#events [data-type=\"RESTORED\"]')")
                    await shows("document.getElementById('latency').width > 0")
                    shot = await page.send("Page.captureScreenshot", format="png")
                    (ARTIFACTS / "dashboard.png").write_bytes(base64.b64decode(shot["data"]))
                    html = await js("document.documentElement.outerHTML")
                    assert KEY not in html                 # the key never lands in the page
                    assert page.errors == [], page.errors
                    await page.send("Page.navigate", url="about:blank")  # closes the SSE stream
                    page.reader.cancel()
                await client.close()
    finally:
        stop_process(proc)
        shutil.rmtree(profile, ignore_errors=True)
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000

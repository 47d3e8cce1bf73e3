"""Connections and descriptors: a clean 503 at the connection limit, and the gateway's own
exhaustion (descriptors, its pool to a provider) never blamed on a provider."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml
from front_door import exchange, front_door, parse, port_of, request
from gateway_harness import CHAT, gateway_running, make_config, sims_running, stop_process
from ports import free_port

try:
    import resource
except ImportError:   # Windows: no RLIMIT_NOFILE
    resource = None  # type: ignore[assignment]


async def test_over_max_connections_is_a_clean_503():
    async with front_door({"max_connections": 10, "header_timeout": "5s"}) as (gw, _):
        port = port_of(gw)
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(12)]
        await asyncio.sleep(0.2)
        status, headers, body = parse(await exchange(port, request("GET", "/health")))
        assert status == 503 and body["error"]["code"] == "gateway_overloaded"
        assert headers["retry-after"] == "1" and "server.max_connections" in body["error"]["message"]
        for _, writer in idle:
            writer.close()
        await asyncio.sleep(0.2)
        assert parse(await exchange(port, request("GET", "/health")))[0] == 200


async def test_a_full_pool_to_a_provider_is_the_gateways_limit_not_the_providers_fault():
    # p0 has one pooled connection, held by a slow request; a second request waiting for
    # it gives up after its timeout: gateway_overloaded, falls over, and no circuit opens
    async with sims_running({"name": "p0", "models": ["m", "slow"]},
                            {"name": "p1", "models": ["m"]}) as (p0, p1):
        from provider_fallback.sim import Fault

        p0.set_fault(Fault(latency=1.5), model="slow")
        cfg = make_config({"p0": p0, "p1": p1},
                          {"chat": [{"provider": "p0", "model": "m", "timeout": 0.3}, "p1/m"],
                           "slow": ["p0/slow"]},
                          providers={"p0": {"max_connections": 1}},
                          circuit={"failure_threshold": 1})
        async with gateway_running(cfg) as gw, aiohttp.ClientSession() as http:
            async def post(model: str) -> aiohttp.ClientResponse:
                async with http.post(gw.url + "/chat/completions",
                                     json={"model": model, **CHAT}) as resp:
                    await resp.read()
                    return resp
            slow = asyncio.create_task(post("slow"))
            await asyncio.sleep(0.2)
            fast = await post("chat")
            assert fast.status == 200 and fast.headers["x-provider-fallback-provider"] == "p1"
            assert "p0/m=gateway_overloaded" in fast.headers["x-provider-fallback-route"]
            assert (await slow).status == 200
            status = gw.router.status()["providers"]["p0"]
            assert status["circuit"]["state"] == "closed"
            assert status["targets"]["p0/m"]["circuit"]["state"] == "closed"
            assert [e for e in gw.router.events.recent() if e.type == "CIRCUIT_OPENED"] == []


def _low_nofile() -> None:   # in the child, before exec
    assert resource is not None
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


@pytest.mark.skipif(resource is None or sys.platform == "win32",
                    reason="needs RLIMIT_NOFILE (resource module)")
async def test_descriptor_exhaustion_answers_503_and_opens_no_circuit(tmp_path: Path):
    """A gateway limited to 256 descriptors, 300 idle sockets against it: new clients get
    503 gateway_overloaded (never a reset), and both healthy providers stay closed.
    Before: resets, 'Too many open files', and both circuits opened with connection_error."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1024:   # this process holds the 300 client sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    async with sims_running({"name": "p0", "models": ["m"]},
                            {"name": "p1", "models": ["m"]}) as (p0, p1):
        config = tmp_path / "provider_config.yaml"
        config.write_text(yaml.safe_dump({
            "providers": [{"name": "p0", "base_url": p0.url}, {"name": "p1", "base_url": p1.url}],
            "models": {"chat": ["p0/m", "p1/m"]},
            "server": {"header_timeout": "2s"},
            "circuit": {"failure_threshold": 1},
            "health": {"enabled": False}, "telemetry": {"enabled": False}}))
        port = free_port()
        log = tmp_path / "gateway.log"
        with log.open("wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "provider_fallback", "serve", "-c",
                                     str(config), "--port", str(port)],
                                    stdout=subprocess.DEVNULL, stderr=err,
                                    preexec_fn=_low_nofile,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        base = f"http://127.0.0.1:{port}"
        idle: list[asyncio.StreamWriter] = []
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(200):
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(base + "/health") as r:
                            if r.status == 200:
                                break
                    await asyncio.sleep(0.05)
                for _ in range(300):
                    with contextlib.suppress(OSError):
                        idle.append((await asyncio.open_connection("127.0.0.1", port))[1])
                await asyncio.sleep(0.3)
                answers = []
                for _ in range(5):   # fresh connections while the idle ones hold the limit
                    async with aiohttp.ClientSession() as fresh, fresh.post(
                            base + "/v1/chat/completions", json={"model": "chat", **CHAT}) as r:
                        answers.append((r.status, (await r.json())))
                assert all(s == 200 or (s == 503 and _overloaded(b)) for s, b in answers), answers
                for w in idle:
                    w.close()
                await asyncio.sleep(0.5)
                async with http.post(base + "/v1/chat/completions",
                                     json={"model": "chat", **CHAT}) as r:
                    assert r.status == 200 and r.headers["x-provider-fallback-provider"] == "p0"
                async with http.get(base + "/health/providers") as r:
                    providers = (await r.json())["providers"]
            for name in ("p0", "p1"):
                assert providers[name]["circuit"]["state"] == "closed", providers[name]
                assert providers[name]["targets"][f"{name}/m"]["circuit"]["state"] == "closed"
        finally:
            for w in idle:
                w.close()
            stop_process(proc)
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and " ERROR " not in text, text[-2000:]


def _overloaded(body: dict) -> bool:
    """The gateway's own overload: at the connection limit, or out of descriptors for the
    upstream connection (every attempt gateway_overloaded, never a provider's code)."""
    err = body["error"]
    return err["code"] == "gateway_overloaded" or (
        err["code"] == "all_providers_failed"
        and all(a["code"] == "gateway_overloaded" for a in err["attempts"]))

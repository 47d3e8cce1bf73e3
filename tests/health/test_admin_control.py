"""Manual control: the admin API and the `providers` CLI against a running gateway."""

from __future__ import annotations

import asyncio

import aiohttp
from gateway_harness import CHAT, gateway_running, make_config, sims_running
from typer.testing import CliRunner

from provider_fallback.cli import app
from provider_fallback.health import Outcome

KEY = "test-master-key-123"
SIMS = ({"name": "primary", "models": ["m"]}, {"name": "backup", "models": ["m"]})
CHAINS = {"chat": ["primary/m", "backup/m"]}


def _cfg(p, b, health=None):
    return make_config({"primary": p, "backup": b}, CHAINS,
                       server={"master_key": "os.environ/MK"}, environ={"MK": KEY},
                       health=health)


async def _answerer(http, gw) -> str:
    async with http.post(gw.url + "/chat/completions", json={"model": "chat", **CHAT},
                         headers={"Authorization": f"Bearer {KEY}"}) as r:
        assert r.status == 200
        return r.headers["x-provider-fallback-provider"]


async def test_admin_api_needs_the_master_key_and_controls_routing():
    async with sims_running(*SIMS) as (p, b), gateway_running(_cfg(p, b)) as gw, \
            aiohttp.ClientSession() as http:
        admin = gw.base_url + "/admin"
        auth = {"Authorization": f"Bearer {KEY}"}
        async with http.get(admin + "/providers") as r:
            assert r.status == 401                           # even on loopback
            assert (await r.json())["error"]["code"]
        async with http.post(admin + "/providers/primary/disable", json={"for": "10m"},
                             headers=auth) as r:
            body = await r.json()
            assert r.status == 200 and body["status"]["disabled"] is True
            assert 590 < body["status"]["disabled_for_s"] <= 600
        assert await _answerer(http, gw) == "backup"
        async with http.post(admin + "/providers/primary/enable", headers=auth) as r:
            assert r.status == 200
        assert await _answerer(http, gw) == "primary"
        async with http.post(admin + "/providers/backup/force", headers=auth) as r:
            assert r.status == 200
        assert await _answerer(http, gw) == "backup"
        async with http.post(admin + "/providers/unforce", headers=auth) as r:
            assert r.status == 200
        assert await _answerer(http, gw) == "primary"
        health, now = gw.router.health, gw.router._clock()
        admission = await health.admit(gw.router.config.chains["chat"].targets[0], now, 5)
        health.report(admission, Outcome(False, _auth_failure()), now, alternatives=True)
        assert await _answerer(http, gw) == "backup"
        async with http.post(admin + "/providers/primary/restore", headers=auth) as r:
            assert r.status == 200 and (await r.json())["status"]["circuit"]["state"] == "closed"
        assert await _answerer(http, gw) == "primary"
        async with http.post(admin + "/providers/nope/disable", headers=auth) as r:
            assert r.status == 404 and "known: primary, backup" in (await r.json())["error"]["message"]
        async with http.get(admin + "/events?limit=50", headers=auth) as r:
            types = [e["type"] for e in (await r.json())["events"]]
        for t in ("PROVIDER_DISABLED", "PROVIDER_ENABLED", "PROVIDER_FORCED", "PROVIDER_UNFORCED",
                  "CIRCUIT_OPENED", "RESTORED"):
            assert t in types


def _auth_failure():
    from provider_fallback.errors import Failure, spec
    return Failure(spec("invalid_api_key"), provider="primary", model="m", status=401)


async def test_providers_cli_against_a_running_gateway(monkeypatch):
    health = {"quick_interval": 30, "full_interval": 60}
    async with sims_running(*SIMS) as (p, b), gateway_running(_cfg(p, b, health)) as gw:
        runner = CliRunner()
        monkeypatch.setenv("PROVIDER_FALLBACK_MASTER_KEY", KEY)

        def cli(*args: str):
            return asyncio.to_thread(runner.invoke, app, ["providers", "--url", gw.base_url, *args])

        r = await cli()
        assert r.exit_code == 0, r.output
        assert "primary" in r.output and "backup" in r.output
        r = await cli("disable", "primary", "--for", "5m")
        assert r.exit_code == 0 and "disable ok" in r.output
        assert gw.router.state.disabled_until("primary") is not None
        r = await cli("enable", "primary")
        assert r.exit_code == 0
        r = await cli("probe", "backup")
        assert r.exit_code == 0 and "quick probe ok" in r.output, r.output
        r = await cli("probe", "backup", "--tier", "full")
        assert "skipped: no API key configured" in r.output
        r = await cli("--json")
        assert '"providers"' in r.output
        monkeypatch.setenv("PROVIDER_FALLBACK_MASTER_KEY", "wrong")
        r = await cli("force", "primary")
        assert r.exit_code != 0 and "PROVIDER_FALLBACK_MASTER_KEY" in r.output
        assert "Traceback" not in r.output

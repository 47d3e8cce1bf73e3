"""Configured keys never appear in logs, error bodies or status pages."""

from __future__ import annotations

import logging

import aiohttp
from gateway_harness import gateway_running, make_config, sims_running

from provider_fallback.sim import Fault

KEY = "gsk_SUPERSECRETvalue1234567890abcdef"
MASTER = "pf-master-0123456789-secret"


async def test_keys_never_leak(caplog):
    caplog.set_level(logging.DEBUG)
    async with sims_running({"name": "p", "models": ["m"], "api_key": "other-key"},
                            {"name": "q", "models": ["n"]}) as (p, q):
        env = {"P_KEY": KEY, "MASTER": MASTER}
        cfg = make_config({"p": p, "q": q}, {"chat": ["p/m", "q/n"]},
                          providers={"p": {"api_key": "os.environ/P_KEY"}},
                          server={"master_key": "os.environ/MASTER"}, environ=env)
        # the sim echoes a wrong key back the way OpenAI does; we must scrub it
        p.set_fault(Fault(status=401, flavor="openai", code="invalid_api_key",
                          message=f"Incorrect API key provided: {KEY}."))
        q.set_fault(Fault(status=500, message=f"upstream saw Authorization: Bearer {KEY}"))
        async with gateway_running(cfg) as gw:
            hdr = {"Authorization": f"Bearer {MASTER}"}
            async with aiohttp.ClientSession() as s:
                async with s.post(gw.url + "/chat/completions", headers=hdr,
                                  json={"model": "chat", "messages": [{"role": "user", "content": "x"}]}) as r:
                    text = await r.text()
                    assert r.status == 503
                async with s.get(gw.base_url + "/health/providers", headers=hdr) as r:
                    text += await r.text()
                async with s.get(gw.base_url + "/health/providers") as r:
                    assert r.status == 401  # master key required
                    text += await r.text()
            text += repr(cfg) + str(cfg.providers["p"].api_key)
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (KEY, MASTER, KEY[4:20]):
        assert secret not in text
        assert secret not in logs


async def test_a_key_echoed_in_an_unknown_shape_is_masked_in_error_bodies():
    plain = "plainlookingvalue-42-abcdef"           # no sk-/gsk_ prefix: no pattern knows it
    async with sims_running({"name": "p", "models": ["m"]}) as (p,):
        cfg = make_config({"p": p}, {"chat": ["p/m"]},
                          providers={"p": {"api_key": "os.environ/P_KEY"}},
                          environ={"P_KEY": plain})
        p.set_fault(Fault(status=400, message=f"bad request from key={plain}; try again"))
        async with gateway_running(cfg) as gw, aiohttp.ClientSession() as s:
            async with s.post(gw.url + "/chat/completions",
                              json={"model": "chat", "messages": [{"role": "user", "content": "x"}]}) as r:
                text = await r.text()
                status = r.status
    assert status == 400 and plain not in text and "[secret]" in text

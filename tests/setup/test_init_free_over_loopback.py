"""`init --yes -p groq -p openrouter -p kilo`, then the gateway serving that very file
against simulated Groq, OpenRouter and Kilo: with the budget already exceeded, every free
model the file names is priced free and still answers; a paid one is refused."""

from __future__ import annotations

import time

import yaml
from gateway_harness import CHAT, gateway_running, sims_running
from openai import APIStatusError, AsyncOpenAI
from typer.testing import CliRunner

from provider_fallback import load_config
from provider_fallback.budget import SpendLedger
from provider_fallback.cli import app
from provider_fallback.sim import Fault

KEYS = {"GROQ_API_KEY": "gsk_initserve_SECRET_0123456789",
        "OPENROUTER_API_KEY": "sk-or-v1-initserve-SECRET", "KILO_API_KEY": "kilo-initserve-SECRET"}
GROQ_MODELS = ["llama-3.3-70b-versatile", "llama-3.1-8b-instant", "groq/compound"]


def _init(tmp_path):
    res = CliRunner().invoke(app, ["init", "--yes", "-p", "groq", "-p", "openrouter", "-p", "kilo",
                                   "--dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    return tmp_path / "provider_config.yaml"


def _point_at(path, sims, data_dir):
    """The file as init wrote it, each provider's base_url replaced by its sim; `catalog:`
    keeps the entry the real host would have matched (a sim lives on 127.0.0.1)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for provider in data["providers"]:
        provider["catalog"] = provider["name"]
        provider["base_url"] = sims[provider["name"]].url
    data["budget"] = {"monthly_usd": 1.0, "data_dir": str(data_dir)}
    data["health"] = {"enabled": False}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


async def test_every_free_model_init_writes_answers_under_an_exceeded_budget(tmp_path):
    path = _init(tmp_path)
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert {p["name"]: p["plan"] for p in written["providers"]} == \
        {"groq": "free", "openrouter": "free", "kilo": "free"}
    kilo = next(p for p in written["providers"] if p["name"] == "kilo")
    assert kilo["base_url"] == "https://api.kilo.ai/api/openrouter"
    with SpendLedger(tmp_path / "spend.sqlite3") as ledger:     # spent more than the budget
        ledger.record("someone", "paid-model", 1000, 1000, 5.0, wall=time.time())
    async with sims_running(
            {"name": "groq", "flavor": "groq", "models": GROQ_MODELS, "api_key": KEYS["GROQ_API_KEY"]},
            {"name": "openrouter", "flavor": "openrouter", "models": ["openrouter/free"],
             "api_key": KEYS["OPENROUTER_API_KEY"]},
            {"name": "kilo", "flavor": "kilo", "models": ["kilo-auto/free"],
             "api_key": KEYS["KILO_API_KEY"]}) as (groq, orouter, kilo_sim):
        _point_at(path, {"groq": groq, "openrouter": orouter, "kilo": kilo_sim}, tmp_path)
        cfg = load_config(path, environ=KEYS)
        targets = {t.key: t for chain in cfg.chains.values() for t in chain.targets}
        assert set(targets) == {*(f"groq/{m}" for m in GROQ_MODELS), "openrouter/openrouter/free",
                                "kilo/kilo-auto/free"}
        records = []
        async with gateway_running(cfg) as gw:
            gw.router.requests.add(records.append)
            assert gw.router.status()["budget"]["kill_switch"] is True
            client = AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
            for key in targets:                     # each free model, asked for directly
                raw = await client.chat.completions.with_raw_response.create(model=key, **CHAT)
                assert raw.http_response.status_code == 200
                assert f"{raw.headers['x-provider-fallback-provider']}/" \
                       f"{raw.headers['x-provider-fallback-model']}" == key
            for alias in cfg.chains:                # and every chain init wrote
                answer = await client.chat.completions.create(model=alias, **CHAT)
                assert answer.choices[0].message.content
            # groq-8b's chain is groq 8b -> kilo -> openrouter: Groq down once, and Kilo's own
            # body for its free-use cap (PROMOTION_MODEL_LIMIT_REACHED) is a rate limit
            groq.push_fault(Fault(status=503))
            kilo_sim.push_fault(Fault(status=429))
            raw = await client.chat.completions.with_raw_response.create(model="groq-8b", **CHAT)
            assert raw.headers["x-provider-fallback-route"] == (
                "groq/llama-3.1-8b-instant=service_unavailable,kilo/kilo-auto/free=rate_limit,"
                "openrouter/openrouter/free=ok")
            # a paid model on the same providers is refused while the kill switch is on
            try:
                await client.chat.completions.create(model="openrouter/anthropic/claude-haiku-4.5",
                                                     **CHAT)
                raise AssertionError("a paid model answered under an exceeded budget")
            except APIStatusError as exc:
                assert exc.status_code in (402, 503)
                assert "budget_exceeded: only free targets allowed" in exc.response.text
            await client.close()
    assert all(r.cost_usd == 0 for r in records if r.outcome == "ok")
    assert sum(1 for r in records if r.outcome == "ok") == len(targets) + len(cfg.chains) + 1

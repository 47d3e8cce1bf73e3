"""The budget on the request path: answers are priced from real usage, failed attempts are
never billed, and past the limit the kill switch lets only free targets through."""

from __future__ import annotations

from gateway_harness import CHAT, gateway_running, make_config, sims_running
from openai import AsyncOpenAI

from provider_fallback import Router
from provider_fallback.budget import SpendLedger
from provider_fallback.sim import Fault

PAID = {"provider": "paid", "model": "big", "price": {"input": 1000, "output": 2000}}
FREE = {"provider": "free", "model": "small:free", "free": True}


async def test_spend_crosses_the_budget_then_only_free_targets_answer(tmp_path):
    async with sims_running({"name": "paid", "models": ["big"]},
                            {"name": "free", "models": ["small:free"]}) as (paid, free):
        cfg = make_config({"paid": paid, "free": free}, {"chat": [PAID, FREE]},
                          sections={"budget": {"monthly_usd": 0.05, "data_dir": str(tmp_path)}})
        records = []
        async with gateway_running(cfg) as gw:
            gw.router.requests.add(records.append)
            client = AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)
            answered = []
            for _ in range(6):
                r = await client.chat.completions.with_raw_response.create(model="chat", **CHAT)
                answered.append(r.headers["x-provider-fallback-provider"])
            await client.close()
            budget = gw.router.status()["budget"]
            events = [e.type for e in gw.router.events.recent()]
    # each paid answer costs (prompt*1000 + completion*2000) / 1e6 USD: a few cents
    first_free = answered.index("free")
    assert first_free >= 1 and set(answered[first_free:]) == {"free"}
    assert paid.count() == first_free                 # paid targets skipped, not tried
    assert budget["status"] == "EXCEEDED" and budget["kill_switch"] is True
    assert "BUDGET_EXCEEDED" in events and "KILL_SWITCH" in events
    paid_costs = [r.cost_usd for r in records if r.provider == "paid"]
    assert all(c and c > 0 for c in paid_costs)
    assert all(r.cost_usd == 0 for r in records if r.provider == "free")
    assert "budget_exceeded" in records[-1].skipped[0]
    with SpendLedger(tmp_path / "spend.sqlite3", writer=False) as ledger:
        rows = {(r.provider, r.model): r for r in ledger.by_provider_model_day(days=1)}
    assert rows[("paid", "big")].requests == first_free
    assert rows[("paid", "big")].cost_usd == sum(paid_costs)


async def test_failed_attempts_are_never_billed(tmp_path):
    async with sims_running({"name": "paid", "models": ["big"]},
                            {"name": "free", "models": ["small:free"]}) as (paid, free):
        paid.set_fault(Fault(status=503))
        cfg = make_config({"paid": paid, "free": free}, {"chat": [PAID, FREE]},
                          sections={"budget": {"monthly_usd": 10, "data_dir": str(tmp_path)}})
        async with Router(cfg) as router:
            done = await router.chat(model="chat", **CHAT)
            view = router.status()["budget"]
    assert done.provider == "free" and paid.count() == 1
    assert view["spend_month_usd"] == 0 and view["status"] == "OK"


async def test_admin_lifts_the_kill_switch_for_paid_targets(tmp_path):
    async with sims_running({"name": "paid", "models": ["big"]},
                            {"name": "free", "models": ["small:free"]}) as (paid, free):
        cfg = make_config({"paid": paid, "free": free}, {"chat": [PAID, FREE]},
                          sections={"budget": {"monthly_usd": 0.0001, "data_dir": str(tmp_path)}})
        async with Router(cfg) as router:
            assert (await router.chat(model="chat", **CHAT)).provider == "paid"
            assert (await router.chat(model="chat", **CHAT)).provider == "free"
            router.budget.allow_paid(3600)
            assert (await router.chat(model="chat", **CHAT)).provider == "paid"

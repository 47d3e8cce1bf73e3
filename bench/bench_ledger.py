"""Cost of the rate ledger and budget on the request path, in µs per request.

    python bench/bench_ledger.py [--n 100000]

Times `admits` + `reserve` + `settle` for one target (the clock advances 1 ms per request,
so minute buckets roll and the daily window fills); `estimate_tokens` on a small chat body;
and everything the router does per answered request (`Accounting`: estimate, gate with
budget check, reserve, learning Groq-style x-ratelimit headers, settle with real usage,
pricing and charging the spend ledger), and `Budget.charge` alone for a priced answer,
against an empty-call loop in the same run.
"""

from __future__ import annotations

import argparse
import time

from provider_fallback.config import Policy, ProviderSpec, RateLimits, Target
from provider_fallback.limits import RateLedger, estimate_tokens

BODY = {
    "model": "llama-3.3-70b-versatile",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Summarise the rate limits of the Groq developer plan."},
    ],
    "max_tokens": 256,
}


def _noop(target: object, tokens: int, now: float) -> None:
    return None


def bench_baseline(n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        _noop(None, 10, i * 0.001)
    return (time.perf_counter() - t0) / n * 1e6


def bench_ledger(n: int) -> float:
    spec = ProviderSpec("groq", "https://api.groq.com/openai/v1")
    # limits high enough that every request is admitted: time the accepting path
    target = Target(spec, "llama-3.3-70b-versatile", Policy(),
                    limits=RateLimits(rpm=10**9, rpd=10**9, tpm=10**12, tpd=10**12))
    ledger = RateLedger(wall=lambda: 1_770_000_000.0)
    admits, reserve, settle = ledger.admits, ledger.reserve, ledger.settle
    t0 = time.perf_counter()
    for i in range(n):
        now = 1000.0 + i * 0.001
        if admits(target, 300, now) is None:
            settle(reserve(target, 300, now), 280, now)
    return (time.perf_counter() - t0) / n * 1e6


def bench_estimate(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        estimate_tokens(BODY)
    return (time.perf_counter() - t0) / n * 1e6


GROQ_HEADERS = {
    "x-ratelimit-limit-requests": "14400", "x-ratelimit-remaining-requests": "14370",
    "x-ratelimit-reset-requests": "2m59.56s", "x-ratelimit-limit-tokens": "6000",
    "x-ratelimit-remaining-tokens": "5997", "x-ratelimit-reset-tokens": "7.66s",
}
USAGE = {"prompt_tokens": 40, "completion_tokens": 200, "total_tokens": 240}


def bench_router_path(n: int) -> float:
    import asyncio
    import tempfile

    from provider_fallback.config import config_from_dict
    from provider_fallback.routing._accounting import Accounting
    from provider_fallback.telemetry import EventBus

    with tempfile.TemporaryDirectory() as tmp:
        cfg = config_from_dict({
            "providers": [{"name": "groq", "base_url": "https://api.groq.com/openai/v1"}],
            "models": {"fast": [{"provider": "groq", "model": "llama-3.3-70b-versatile",
                                 "limits": {"rpm": 10**9, "rpd": 10**9, "tpm": 10**12,
                                            "tpd": 10**12}}]},
            "budget": {"monthly_usd": 10**6, "data_dir": tmp}}, environ={})
        target = cfg.chains["fast"].targets[0]
        clock = [1000.0]
        acct = Accounting(cfg, EventBus(), lambda: clock[0])
        asyncio.run(acct.open())
        t0 = time.perf_counter()
        for i in range(n):
            now = clock[0] = 1000.0 + i * 0.001
            tokens = acct.estimate(BODY)
            if acct.gate(target, tokens, now) is None:
                res = acct.reserve(target, tokens, now)
                acct.learn(target, GROQ_HEADERS, now, res)
                acct.answered(target, res, USAGE, now)
        elapsed = time.perf_counter() - t0
        asyncio.run(acct.close())
    return elapsed / n * 1e6


def bench_budget_charge(n: int) -> float:
    """`Budget.charge` of one priced answer: price it, record it in the spend ledger, re-judge
    the status (the UTC month/day keys and next midnight come from a per-day cache)."""
    import tempfile

    from provider_fallback.budget import Budget, SpendLedger
    from provider_fallback.config import BudgetSettings, Pricing
    from provider_fallback.telemetry import EventBus

    spec = ProviderSpec("groq", "https://api.groq.com/openai/v1")
    target = Target(spec, "llama-3.3-70b-versatile", Policy(), price=Pricing(0.59, 0.79))
    clock = [1_770_000_000.0]
    with tempfile.TemporaryDirectory() as tmp, SpendLedger(
            f"{tmp}/spend.sqlite3", wall=lambda: clock[0], writer=False) as ledger:
        budget = Budget(BudgetSettings(monthly_usd=10**9, daily_usd=10**8), ledger, EventBus(),
                        wall=lambda: clock[0])
        charge = budget.charge
        t0 = time.perf_counter()
        for i in range(n):
            clock[0] = 1_770_000_000.0 + i * 0.001
            charge(target, 40, 200)
        return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    n = parser.parse_args().n
    base = bench_baseline(n)
    ledger = bench_ledger(n)
    est = bench_estimate(n)
    path = bench_router_path(n)
    charge = bench_budget_charge(n)
    print(f"baseline (empty call)          {base:6.3f} µs/request")
    print(f"admits + reserve + settle      {ledger:6.3f} µs/request  (goal <= 20)")
    print(f"estimate_tokens (small chat)   {est:6.3f} µs/request  (goal < 5)")
    print(f"Budget.charge, priced answer   {charge:6.3f} µs/request")
    print(f"whole accounting path          {path:6.3f} µs/request  (goal <= 20: estimate, gate, "
          "budget, reserve, learn headers, settle, charge)")


if __name__ == "__main__":
    main()

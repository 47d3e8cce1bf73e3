"""Cost of the rate ledger on the request path, in µs per request.

    python bench/bench_ledger.py [--n 100000]

Times `admits` + `reserve` + `settle` for one target with shipped Groq limits (the clock
advances 1 ms per request, so minute buckets roll and the daily window fills), then
`estimate_tokens` on a small chat body, against an empty-call loop in the same run.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    n = parser.parse_args().n
    base = bench_baseline(n)
    ledger = bench_ledger(n)
    est = bench_estimate(n)
    print(f"baseline (empty call)          {base:6.3f} µs/request")
    print(f"admits + reserve + settle      {ledger:6.3f} µs/request  (goal <= 20)")
    print(f"estimate_tokens (small chat)   {est:6.3f} µs/request  (goal < 5)")


if __name__ == "__main__":
    main()

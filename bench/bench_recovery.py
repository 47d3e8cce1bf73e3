"""Outage and recovery figures (issue 3): the primary answers 503 for a while, then recovers.

    python bench/bench_recovery.py [--outage 60] [--quick-interval 30] [--rate 50]

Reports: requests served during the outage (goal: all), attempts the primary saw during the
outage against the number of open periods (goal: one trial or probe per open period, after
the failures that opened the circuit), and the time from recovery to the first request the
primary serves again (goal: <= one quick-ping interval). Everything runs on loopback: the
gateway under uvicorn, two simulated providers, and a client sending at a steady rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp

from provider_fallback import config_from_dict
from provider_fallback.server import running_gateway
from provider_fallback.sim import Fault, SimProvider


def _chat_requests(sim: SimProvider) -> int:
    return sum(1 for r in list(sim.log) if r.path.endswith("/chat/completions"))


async def run_recovery(outage: float = 60.0, quick_interval: float = 30.0, rate: float = 50.0,
                       before: float = 1.0, after: float | None = None) -> dict[str, Any]:
    after = after if after is not None else quick_interval * 2 + 1
    primary = SimProvider("primary", models=["m"])
    backup = SimProvider("backup", models=["m"])
    await primary.start()
    await backup.start()
    cfg = config_from_dict({
        "providers": [{"name": "primary", "base_url": primary.url},
                      {"name": "backup", "base_url": backup.url}],
        "models": {"chat": ["primary/m", "backup/m"]},
        "health": {"quick_interval": quick_interval, "quick_timeout": min(5.0, quick_interval),
                   "full_interval": 3600},
        "policy": {"timeout": 5, "connect_timeout": 2},
    }, environ={})
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    log: list[tuple[float, str, int]] = []
    try:
        async with running_gateway(cfg) as app, aiohttp.ClientSession() as session:
            url = app.base_url + "/v1/chat/completions"
            t0 = time.monotonic()
            marks: dict[str, float] = {}
            counts: dict[str, int] = {}
            phase = "before"
            while True:
                now = time.monotonic() - t0
                if phase == "before" and now >= before:
                    counts["start"] = _chat_requests(primary)
                    primary.set_fault(Fault(status=503))
                    marks["outage_start"], phase = now, "outage"
                elif phase == "outage" and now >= before + outage:
                    primary.set_fault(None)
                    counts["end"] = _chat_requests(primary)
                    marks["recovered"], phase = now, "after"
                elif phase == "after" and now >= before + outage + after:
                    break
                async with session.post(url, json=body) as r:
                    await r.read()
                    log.append((time.monotonic() - t0, r.headers.get("x-provider-fallback-provider", ""),
                                r.status))
                await asyncio.sleep(1 / rate)
            events = [e.as_dict() for e in app.router.events.recent()]
    finally:
        await primary.stop()
        await backup.stop()
    start, rec = marks["outage_start"], marks["recovered"]
    during = [x for x in log if start <= x[0] < rec]
    back = next((t for t, who, status in log if t >= rec and who == "primary" and status == 200), None)
    opened = [e for e in events if e["type"] == "CIRCUIT_OPENED" and e.get("key") == "primary/m"]
    return {
        "outage_s": outage, "quick_interval_s": quick_interval, "rate_rps": rate,
        "requests_during_outage": len(during),
        "served_during_outage": sum(1 for x in during if x[2] == 200),
        "primary_attempts_during_outage": counts["end"] - counts["start"],
        "open_periods": len(opened),
        "failure_threshold": cfg.circuit.failure_threshold,
        "recovery_to_primary_s": None if back is None else round(back - rec, 3),
        "fallback_events": sum(1 for e in events if e["type"] == "FALLBACK"),
        "restored_events": sum(1 for e in events if e["type"] == "RESTORED"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outage", type=float, default=60.0)
    ap.add_argument("--quick-interval", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=50.0)
    a = ap.parse_args()
    print(json.dumps(asyncio.run(run_recovery(a.outage, a.quick_interval, a.rate)), indent=2))


if __name__ == "__main__":
    main()

"""Outage and recovery figures (issues 3 and 13): how the breaker conducts itself.

    python bench/bench_recovery.py [--quick] [--rate 50] [--outage 60] [--only a,b,c,seq]

Everything runs on loopback: the gateway under uvicorn with its default circuit and probe
settings, two simulated providers (primary, backup), and a client sending `--rate`
requests a second, half of them streams, paced open-loop (a request starts every 1/rate s
whatever the previous one is doing). Scenarios, each on a fresh gateway:

  (a) the primary answers 503 for `--outage` s, then is healthy;
  (b) the primary cuts every stream after a few tokens for `--outage` s (plain requests
      still answer), then is healthy;
  (c) the primary flaps, 2 s down (503) / 2 s up, for `--outage` s, then is healthy;
  (seq) 10 streamed requests one every 1.2 s, the primary down for the first 6 s.

Reported per scenario: requests answered (a complete answer: 200, and a stream that ended
with [DONE]); the primary's attempts (and failed ones) during the outage, its open periods
(CIRCUIT_OPENED of primary/m, with their lengths) and attempts per open period; broken client streams (an in-band error event) per
open period; seconds from recovery to the first request served by the primary again; state
changes (CIRCUIT_OPENED / HALF_OPEN / CLOSED) per open period. Goals (issue 13): all
answered in (a) and (c); <= 1 primary attempt per open period; (b) <= 1 broken stream per
open period (0 once continuation lands); back on the primary <= 10 s after recovery; (c) <= 2
state changes per open period; (seq) served throughout, the primary used for the last ones.

`--quick` compresses every duration (outage, flap, open periods, probe interval) by 10x
for a smoke run; its figures are not the ones to publish.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from typing import Any

import aiohttp

from provider_fallback import config_from_dict
from provider_fallback.server import running_gateway
from provider_fallback.sim import Fault, SimProvider

STATE_EVENTS = ("CIRCUIT_OPENED", "CIRCUIT_HALF_OPEN", "CIRCUIT_CLOSED")
PRIMARY_KEY = "primary/m"


def _config(primary: SimProvider, backup: SimProvider, scale: float) -> Any:
    data: dict[str, Any] = {
        "providers": [{"name": "primary", "base_url": primary.url},
                      {"name": "backup", "base_url": backup.url}],
        "models": {"chat": ["primary/m", "backup/m"]},
        "policy": {"timeout": 5, "connect_timeout": 2},
    }
    if scale != 1.0:   # --quick: the defaults' durations, compressed alike
        data["circuit"] = {"transient_open": 5 * scale, "transient_max_open": 60 * scale,
                           "reopen_decay": 60 * scale}
        data["health"] = {"quick_interval": 30 * scale, "full_interval": 60 * scale}
    return config_from_dict(data, environ={})


class Client:
    """Paced requests against the gateway; one record per request."""

    def __init__(self, session: aiohttp.ClientSession, url: str, t0: float) -> None:
        self.session = session
        self.url = url
        self.t0 = t0
        self.log: list[dict[str, Any]] = []

    async def one(self, stream: bool) -> dict[str, Any]:
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}],
                "stream": stream}
        rec: dict[str, Any] = {"t": time.monotonic() - self.t0, "stream": stream,
                               "provider": "", "status": 0, "broken": False}
        try:
            async with self.session.post(self.url, json=body) as r:
                rec["status"] = r.status
                rec["provider"] = r.headers.get("x-provider-fallback-provider", "")
                raw = await r.read()
            if stream and r.status == 200:
                rec["broken"] = b"data: [DONE]" not in raw
        except aiohttp.ClientError as exc:
            rec["error"] = type(exc).__name__
        rec["answered"] = rec["status"] == 200 and not rec["broken"]
        self.log.append(rec)
        return rec

    async def paced(self, rate: float, duration: float) -> None:
        tasks: list[asyncio.Task[Any]] = []
        start = time.monotonic()
        n = 0
        while True:
            due = start + n / rate
            if due - start >= duration:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(self.one(stream=n % 2 == 1)))
            n += 1
        await asyncio.gather(*tasks)


def _chat_times(sim: SimProvider, t0_wall: float) -> list[tuple[float, bool]]:
    """(time, failed) of each completion request the sim saw."""
    return [(r.time - t0_wall, r.status != 200 or r.fault != "none") for r in list(sim.log)
            if r.path.endswith("/chat/completions")]


async def scenario(kind: str, *, outage: float, rate: float, scale: float,
                   after: float | None = None) -> dict[str, Any]:
    """One of (a) "503", (b) "cut", (c) "flap". `after`: seconds measured after recovery
    (default: long enough for the longest open period, transient_max_open, and then some)."""
    before = 2.0 * scale
    after = 75.0 * scale if after is None else after
    primary = SimProvider("primary", models=["m"], chunk_count=8)
    backup = SimProvider("backup", models=["m"], chunk_count=8)
    await primary.start()
    await backup.start()
    events: list[tuple[float, str, dict[str, Any]]] = []
    try:
        async with running_gateway(_config(primary, backup, scale)) as app, \
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
            t0, t0_wall = time.monotonic(), time.time()
            app.router.events.subscribe(
                lambda e: events.append((time.monotonic() - t0, e.type, e.fields)))
            client = Client(session, app.base_url + "/v1/chat/completions", t0)
            # (b): streams are cut after 2 chunks; plain requests still answer
            down = Fault(cut_after=2) if kind == "cut" else Fault(status=503)

            async def faults() -> None:
                await asyncio.sleep(before)
                if kind == "flap":
                    flap = 2.0 * scale
                    end = time.monotonic() + outage
                    while time.monotonic() < end:
                        primary.set_fault(down)
                        await asyncio.sleep(min(flap, max(0.0, end - time.monotonic())))
                        primary.set_fault(None)
                        await asyncio.sleep(min(flap, max(0.0, end - time.monotonic())))
                else:
                    primary.set_fault(down)
                    await asyncio.sleep(outage)
                primary.set_fault(None)

            await asyncio.gather(faults(), client.paced(rate, before + outage + after))
    finally:
        await primary.stop()
        await backup.stop()
    start, rec = before, before + outage
    return _figures(kind, client.log, events, _chat_times(primary, t0_wall), start, rec)


def _figures(kind: str, log: list[dict[str, Any]], events: list[tuple[float, str, dict[str, Any]]],
             primary: list[tuple[float, bool]], start: float, rec: float) -> dict[str, Any]:
    mine = [(t, typ, f) for t, typ, f in events
            if typ in STATE_EVENTS and f.get("key") == PRIMARY_KEY]
    during = [(t, typ, f) for t, typ, f in mine if start <= t < rec]
    opened = sum(1 for _, typ, _ in during if typ == "CIRCUIT_OPENED")
    attempts = sum(1 for t, _ in primary if start <= t < rec)
    failed = sum(1 for t, bad in primary if start <= t < rec and bad)
    in_outage = [r for r in log if start <= r["t"] < rec]
    broken = sum(1 for r in in_outage if r["broken"])
    back = next((r["t"] for r in log if r["t"] >= rec and r["provider"] == "primary"
                 and r["answered"]), None)

    def per(n: int) -> float | None:
        return round(n / opened, 2) if opened else None

    return {
        "scenario": {"503": "a: primary 503", "cut": "b: primary cuts streams",
                     "flap": "c: primary flaps 2 s / 2 s"}[kind],
        "requests": len(log), "answered": sum(1 for r in log if r["answered"]),
        "requests_during_outage": len(in_outage),
        "answered_during_outage": sum(1 for r in in_outage if r["answered"]),
        "by_backup_during_outage": sum(1 for r in in_outage if r["provider"] == "backup"),
        "primary_attempts_during_outage": attempts, "primary_failures_during_outage": failed,
        "open_periods": opened,
        "open_s": [round(f["open_s"], 1) for _, typ, f in during if typ == "CIRCUIT_OPENED"],
        "primary_attempts_per_open_period": per(attempts),
        "primary_failures_per_open_period": per(failed),
        "broken_streams_during_outage": broken, "broken_streams_per_open_period": per(broken),
        "state_changes_during_outage": len(during),
        "state_changes_per_open_period": per(len(during)),
        "recovery_to_primary_s": None if back is None else round(back - rec, 3),
    }


async def sequence(*, scale: float) -> dict[str, Any]:
    """10 streamed requests one every 1.2 s; the primary down (503) for the first 6 s."""
    primary = SimProvider("primary", models=["m"])
    backup = SimProvider("backup", models=["m"])
    await primary.start()
    await backup.start()
    served: list[tuple[float, str, bool]] = []
    events: list[list[Any]] = []
    try:
        async with running_gateway(_config(primary, backup, scale)) as app, \
                aiohttp.ClientSession() as session:
            t0 = time.monotonic()
            app.router.events.subscribe(lambda e: events.append(
                [round(time.monotonic() - t0, 2), e.type, e.fields.get("open_s")])
                if e.type in STATE_EVENTS and e.fields.get("key") == PRIMARY_KEY else None)
            client = Client(session, app.base_url + "/v1/chat/completions", t0)
            for i in range(10):
                due = t0 + 1.2 * scale * i
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                primary.set_fault(Fault(status=503) if 1.2 * i < 6.0 else None)
                r = await client.one(stream=True)
                served.append((round(r["t"], 2), r["provider"], r["answered"]))
    finally:
        await primary.stop()
        await backup.stop()
    return {"scenario": "seq: 10 streams, 1 every 1.2 s, primary down the first 6 s",
            "served": [who for _, who, _ in served],
            "answered": sum(1 for *_, ok in served if ok),
            "primary_for_last": sum(1 for _ in _tail(served, "primary")),
            "at": [t for t, *_ in served], "primary_circuit": events}


def _tail(served: list[tuple[float, str, bool]], who: str) -> list[tuple[float, str, bool]]:
    out = []
    for item in reversed(served):
        if item[1] != who:
            break
        out.append(item)
    return out


async def run(only: set[str], *, outage: float, rate: float, scale: float) -> list[dict[str, Any]]:
    out = []
    for name, kind in (("a", "503"), ("b", "cut"), ("c", "flap")):
        if name in only:
            out.append(await scenario(kind, outage=outage * scale, rate=rate, scale=scale))
    if "seq" in only:
        out.append(await sequence(scale=scale))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outage", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--quick", action="store_true", help="every duration / 10 (smoke run)")
    ap.add_argument("--only", default="a,b,c,seq")
    a = ap.parse_args()
    logging.getLogger("provider_fallback").setLevel(logging.WARNING)   # not the request log
    figures = asyncio.run(run(set(a.only.split(",")), outage=a.outage, rate=a.rate,
                              scale=0.1 if a.quick else 1.0))
    for fig in figures:
        print(json.dumps(fig))


if __name__ == "__main__":
    main()

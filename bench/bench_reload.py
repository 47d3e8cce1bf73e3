"""Reload under load (issue 16): a client sends at a steady rate while the config is
edited and reloaded over and over; no request may fail.

    python bench/bench_reload.py [--rate 200] [--reloads 10] [--interval 1.0] [--workers 1]

The gateway runs as `provider-fallback serve` (a real process, `--workers N` too) in front
of two simulated providers on loopback. The client is open-loop: it starts a request
every 1/rate seconds whatever the previous ones are doing, half of them streams (each
stream takes ~60 ms, so requests are always in flight when a reload swaps the config).
Every `interval` the file is rewritten (the chain order flips, a third provider comes and
goes, a policy value changes) and `POST /admin/reload` is sent. Reported: requests sent,
failed (any non-200, any error event in a stream, any stream without [DONE], any
connection error), the share answered by the primary of the config in force, reload round
trips, and latency before the first reload vs during the reloads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from provider_fallback.sim import SimProvider

BODY = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write(path: Path, sims: dict[str, SimProvider], flip: bool, data_dir: Path) -> None:
    first, second = ("q", "p") if flip else ("p", "q")
    providers = [{"name": n, "base_url": s.url} for n, s in sims.items() if n != "r" or flip]
    path.write_text(yaml.safe_dump({
        "providers": providers,
        "models": {"chat": [f"{first}/m", f"{second}/m"], **({"extra": ["r/m"]} if flip else {})},
        "policy": {"timeout": 10, "ttft_timeout": 5 if flip else 6},
        "health": {"enabled": False}, "telemetry": {"enabled": False},
        "budget": {"data_dir": str(data_dir)}}, sort_keys=False), encoding="utf-8")


async def _one(http: aiohttp.ClientSession, url: str,
               stream: bool) -> tuple[bool, str, float, str]:
    t0 = time.perf_counter()
    try:
        async with http.post(url, json={**BODY, "stream": stream}) as r:
            raw = await r.read()
            who = r.headers.get("x-provider-fallback-provider", "")
            route = r.headers.get("x-provider-fallback-route", "") + \
                (" skipped: " + r.headers["x-provider-fallback-skipped"]
                 if "x-provider-fallback-skipped" in r.headers else "")
            ok = r.status == 200
            if ok and stream:
                ok = raw.rstrip().endswith(b"data: [DONE]") and b'"error"' not in raw
            elif ok:
                ok = bool(json.loads(raw).get("choices"))
            return ok, who, time.perf_counter() - t0, route
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        return False, "", time.perf_counter() - t0, type(exc).__name__


async def run(rate: float, reloads: int, interval: float, workers: int,
              warmup: float) -> dict[str, Any]:
    sims = {n: SimProvider(n, models=["m"], chunk_count=6, chunk_delay=0.01) for n in "pqr"}
    for sim in sims.values():
        await sim.start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-reload-"))
    cfg = tmp / "provider_config.yaml"
    _write(cfg, sims, False, tmp)
    port = _port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp / "serve.log").open("wb")
    print(f"gateway log: {tmp / 'serve.log'}", file=sys.stderr)
    proc = subprocess.Popen([sys.executable, "-m", "provider_fallback", "serve", "-c", str(cfg),
                             "--port", str(port), "--workers", str(workers),
                             "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=log)
    results: list[tuple[float, bool, str, float, str]] = []   # start, ok, provider, s, route
    reload_rtt: list[float] = []
    reload_marks: list[tuple[float, float, str]] = []     # sent, answered, new primary
    pending: set[asyncio.Task[None]] = set()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                         connector=aiohttp.TCPConnector(limit=0)) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    async with http.get(base + "/health") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"gateway did not start; see {tmp / 'serve.log'}")
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0 if workers > 1 else 0.2)   # every worker up
            url = base + "/v1/chat/completions"
            t0 = time.monotonic()
            n = 0

            async def fire(i: int) -> None:
                start = time.monotonic() - t0
                ok, who, secs, route = await _one(http, url, stream=i % 2 == 1)
                results.append((start, ok, who, secs, route))

            async def reloader() -> None:
                await asyncio.sleep(warmup)
                for k in range(reloads):
                    flip = k % 2 == 0
                    sent = time.monotonic() - t0
                    _write(cfg, sims, flip, tmp)
                    t = time.perf_counter()
                    async with http.post(base + "/admin/reload") as r:
                        answer = await r.json()
                    reload_rtt.append(time.perf_counter() - t)
                    if not answer.get("ok"):
                        raise RuntimeError(f"reload refused: {answer}")
                    reload_marks.append((sent, time.monotonic() - t0, "q" if flip else "p"))
                    await asyncio.sleep(interval)

            reloads_task = asyncio.create_task(reloader())
            total = warmup + reloads * interval + 0.5
            while time.monotonic() - t0 < total:
                due = t0 + n / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(fire(n))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
            await reloads_task
            await asyncio.gather(*pending)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        for sim in sims.values():
            await sim.stop()
    elapsed = results[-1][0] if results else 0.0
    failed = [r for r in results if not r[1]]
    first_reload = reload_marks[0][0] if reload_marks else elapsed
    before = [r[3] for r in results if r[0] < first_reload and r[1]]
    during = [r[3] for r in results if r[0] >= first_reload and r[1]]
    # once a reload has answered, every request should be answered by the new primary
    on_primary = total_checked = 0
    others: list[str] = []
    for i, (_, when, primary) in enumerate(reload_marks):
        # from the answer to one reload until the next reload is sent
        end = reload_marks[i + 1][0] if i + 1 < len(reload_marks) else elapsed + 1
        window = [r for r in results if when <= r[0] < end and r[1]]
        total_checked += len(window)
        on_primary += sum(1 for r in window if r[2] == primary)
        others += [f"t={r[0]:.2f} (reload at {when:.2f}, {primary} first): {r[4]}"
                   for r in window if r[2] != primary]
    return {"rate_req_s": rate, "sent": len(results), "achieved_req_s": round(len(results) / max(
        elapsed, 1e-9), 1), "failed": len(failed), "reloads": len(reload_rtt),
        "workers": workers,
        "reload_ms_p50": round(statistics.median(reload_rtt) * 1000, 1) if reload_rtt else None,
        "reload_ms_max": round(max(reload_rtt) * 1000, 1) if reload_rtt else None,
        "answered_by_new_primary": f"{on_primary}/{total_checked}",
        "latency_ms_p50_before": _pct(before, 0.5), "latency_ms_p99_before": _pct(before, 0.99),
        "latency_ms_p50_during": _pct(during, 0.5), "latency_ms_p99_during": _pct(during, 0.99),
        "not_on_new_primary": others[:5],
        "first_failures": [{"t": round(f[0], 3), "why": f[4]} for f in failed[:5]]}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1)


def main() -> None:
    import logging

    # a client that gives up on a stream makes the sims log tracebacks: not the gateway's
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second (open loop)")
    ap.add_argument("--reloads", type=int, default=10)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between reloads")
    ap.add_argument("--workers", type=int, default=1, help="serve --workers N")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds before the first reload")
    args = ap.parse_args()
    result = asyncio.run(run(args.rate, args.reloads, args.interval, args.workers, args.warmup))
    print(json.dumps(result, indent=2))
    if result["failed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()

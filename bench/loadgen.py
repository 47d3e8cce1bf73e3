"""A small closed-loop HTTP load generator (used when wrk is not installed).

    python bench/loadgen.py URL --connections 32 --duration 5 [--body JSON]

A body with `"stream": true` gets an SSE answer: it counts as an error unless it ends
with `data: [DONE]`. Prints one JSON line: requests, errors, rps, p50/p90/p99 in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


async def worker(session: aiohttp.ClientSession, url: str, body: bytes, end: float,
                 lat: list[float], errors: list[int]) -> None:
    headers = {"content-type": "application/json"}
    while True:
        t0 = time.perf_counter()
        if t0 >= end:
            return
        try:
            async with session.post(url, data=body, headers=headers) as r:
                data = await r.read()
                if r.status != 200:
                    errors.append(r.status)
                    continue
                if (r.content_type == "text/event-stream"
                        and not data.rstrip().endswith(b"data: [DONE]")):
                    errors.append(-1)     # a stream cut short is not a success
                    continue
        except aiohttp.ClientError:
            errors.append(0)
            continue
        lat.append(time.perf_counter() - t0)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--body", default='{"model":"bench","messages":[{"role":"user","content":"hi"}]}')
    a = ap.parse_args()
    body = a.body.encode()
    conn = aiohttp.TCPConnector(limit=a.connections)
    async with aiohttp.ClientSession(connector=conn) as s:
        warm: list[float] = []
        await asyncio.gather(*(worker(s, a.url, body, time.perf_counter() + a.warmup, warm, [])
                               for _ in range(a.connections)))
        lat: list[float] = []
        errors: list[int] = []
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(s, a.url, body, t0 + a.duration, lat, errors)
                               for _ in range(a.connections)))
        elapsed = time.perf_counter() - t0
    lat.sort()

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 3) if lat else float("nan")

    print(json.dumps({"requests": len(lat), "errors": len(errors), "rps": round(len(lat) / elapsed, 1),
                      "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99)}))


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())

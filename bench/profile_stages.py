"""Where a request's CPU goes inside the gateway, stage by stage, without the HTTP server.

    python bench/profile_stages.py                      # every stage, 6,000 requests each
    python bench/profile_stages.py --requests 20000 --stream 0 --stream 1 --stream 20
    python bench/profile_stages.py --without ratelimit-headers --without telemetry

In one process pinned to core 0 (the fast upstreams on core 1, as in bench_gateway.py),
32 concurrent callers drive, in turn:

- `pool`: the upstream HTTP/1.1 pool alone (`providers/_http1.py`: one POST, the body
  read), the floor under everything else;
- `router`: `Router.request` with the deferred bookkeeping the gateway uses (planning,
  admission, the attempt, rate-limit learning, settlement, health, the request record);
- `app`: the ASGI app called directly (request parsing, the origin guard, the relay) for
  each `--stream` mode (0: non-streaming; N: a stream of N chunks);

and prints the process's CPU µs per request (user + system, so the telemetry writer
thread counts too). The gateway config is bench_gateway.py's every-feature-on one;
`--without` turns one part off to see what it costs (`ratelimit-headers`: the upstream
sends none; `telemetry`: metrics, events and the request log off; `health`, `budget`,
`limits`: the config without them). The difference between `app` here and the gateway's
CPU per request in bench_gateway.py is the HTTP server (uvicorn and the front door).
Timings move by a few µs from run to run: compare stages within one run (`--rounds`).

These figures say where to look, not what a change is worth: confirm that with
`bench/bench_ab.py` on the real gateway. (Measured 2026-12-03: the rate-limit header
learning cost 21 µs here and its rewrite gained ~17 µs in the gateway; two fewer loop
timers per stream showed ~10 µs here and nothing there.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from _harness import HERE, body, free_port, start, stop_all
from bench_gateway import GATEWAY_CORES, LOAD_CORES, write_config

CONCURRENCY = 32
PARTS = ("ratelimit-headers", "telemetry", "health", "budget", "limits")


def config(path: Path, upstream: int, backup: int, without: set[str]) -> None:
    write_config(path, upstream, backup, None, telemetry="telemetry" not in without)
    data = yaml.safe_load(path.read_text())
    if "health" in without:
        data["health"] = {"enabled": False}
    if "budget" in without:
        data.pop("budget", None)
    if "limits" in without:
        for provider in data["providers"]:
            for model in provider["models"].values():
                model.pop("limits", None)
                model.pop("price", None)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


async def cpu_per_call(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    """CPU µs of this process per `fn()` call, `CONCURRENCY` callers at once."""
    left = [n]

    async def caller() -> None:
        while left[0] > 0:
            left[0] -= 1
            await fn()

    for _ in range(200):   # warm: connections open, caches filled
        await fn()
    t0 = os.times()
    await asyncio.gather(*[caller() for _ in range(CONCURRENCY)])
    t1 = os.times()
    return (t1.user - t0.user + t1.system - t0.system) / n * 1e6


def _no_watch() -> None:
    return None


def asgi_call(app: Any, chunks: int) -> Callable[[], Awaitable[None]]:
    payload = body(chunks).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/chat/completions",
             "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(payload)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
             # as the front door does: a disconnect watch is a callback, not a task
             "provider_fallback.on_disconnect": lambda callback: _no_watch}
    request = {"type": "http.request", "body": payload, "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        return None

    async def call() -> None:
        await app(dict(scope), receive, send)
    return call


async def measure(cfg_path: Path, upstream: int, streams: list[int], n: int,
                  rounds: int) -> None:
    from provider_fallback.config import load_config
    from provider_fallback.providers._http1 import Pool
    from provider_fallback.server._serve import build_app, tune_gc

    app = build_app(load_config(str(cfg_path)))
    startup: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    startup.put_nowait({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def lifespan_send(message: dict[str, Any]) -> None:
        started.set()

    lifespan = asyncio.create_task(app({"type": "lifespan"}, startup.get, lifespan_send))
    await started.wait()
    tune_gc()
    pool = Pool(f"http://127.0.0.1:{upstream}/v1")
    static = pool.static({"Content-Type": "application/json"})
    plain = body(0).encode()

    async def pool_only() -> None:
        resp = await pool.request("POST", "/v1/chat/completions", plain, static=static,
                                  connect_timeout=5)
        await resp.read()
        resp.release()

    async def router_only() -> None:
        await app.router.request("/chat/completions", json.loads(plain),
                                 defer_bookkeeping=True)

    stages: list[tuple[str, Callable[[], Awaitable[Any]], int]] = [
        ("pool", pool_only, n), ("router", router_only, n)]
    stages += [(f"app, {'non-streaming' if c == 0 else f'{c}-chunk stream'}",
                asgi_call(app, c), n if c == 0 else max(1, n // 2)) for c in streams]
    results: dict[str, list[float]] = {name: [] for name, _, _ in stages}
    for _ in range(rounds):
        for name, fn, count in stages:
            results[name].append(await cpu_per_call(fn, count))
    print(f"| stage ({CONCURRENCY} callers) | CPU µs per request, round by round |")
    print("|---|---|")
    for name, values in results.items():
        print(f"| {name} | {' / '.join(f'{v:.1f}' for v in values)} |")
    await pool.aclose()
    await startup.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(lifespan, 10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=6000, help="per stage and round")
    ap.add_argument("--stream", type=int, action="append", help="app modes (default 0, 20)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--without", action="append", choices=PARTS, default=[])
    a = ap.parse_args()
    streams = a.stream if a.stream else [0, 20]
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, GATEWAY_CORES)
    tmp = Path(tempfile.mkdtemp(prefix="pf-stages-"))
    procs = []
    ports = [free_port(), free_port()]
    try:
        for i, port in enumerate(ports):
            cmd = [sys.executable, str(HERE / "fast_upstream.py"), "--port", str(port)]
            if "ratelimit-headers" not in a.without:
                cmd.append("--ratelimit-headers")
            procs.append(start(f"upstream {i}", cmd, port, tmp, LOAD_CORES))
        cfg = tmp / "gateway.yaml"
        config(cfg, ports[0], ports[1], set(a.without))
        print(f"without: {', '.join(a.without) or 'nothing'}; {time.strftime('%Y-%m-%d %H:%M')}")
        asyncio.run(measure(cfg, ports[0], streams, a.requests, a.rounds))
    finally:
        stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Shared-state benchmark: Redis vs memory backend, and upstream 429s with 1 vs 2 replicas.

    python bench/bench_state.py [--duration 5] [--connections 32] [--rounds 5] [--requests 60]

Part 1 runs the real gateway (`serve --workers 2`) against a simulated upstream, once per
backend, interleaved for --rounds rounds (medians reported): `memory`, `redis` (targets
without a known rpm: reads from the local cache, no Redis call on the request path) and
`redis+rpm` (a configured rpm, so every attempt also asks the shared Lua window in Redis),
`redis+rpm+tpm` (a configured tpm as well: the shared token window too).
Throughput at N connections, p50 latency at 1 connection; the order alternates between
rounds, and the figures against memory are the medians of each round's own ratios. Needs
Redis on 127.0.0.1:6379 (or --redis URL); keys go under a fresh prefix and expire.

Part 2 sends --requests requests, round-robin over 1 or 2 routers (separate state objects
in one process, standing in for replicas) to a simulated upstream that enforces a limit,
and counts the 429s the upstream sent back. Three limits: 30 RPM with `limits: {rpm: 30}`
configured; 30 RPM known only from the upstream's `x-ratelimit-*` headers; 2000 tokens
per minute known only from its headers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import yaml
from bench_gateway import free_port, stop_on_sigterm, wait_port

HERE = Path(__file__).parent
BODY = '{"model":"bench","messages":[{"role":"user","content":"hi"}]}'


def load(url: str, connections: int, duration: float) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(HERE / "loadgen.py"), url, "--connections",
                          str(connections), "--duration", str(duration), "--body", BODY],
                         capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def write_config(path: Path, upstream: int, state: dict[str, Any],
                 limits: dict[str, int] | None) -> None:
    target: Any = "sim/bench-model"
    if limits:
        target = {"provider": "sim", "model": "bench-model", "limits": limits}
    data = {"providers": [{"name": "sim", "base_url": f"http://127.0.0.1:{upstream}/v1"}],
            "models": {"bench": [target]}, "health": {"enabled": False},
            "telemetry": {"enabled": False}, "queue": {"enabled": False}, "state": state}
    path.write_text(yaml.safe_dump(data))


def part1(a: argparse.Namespace) -> list[dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="pf-bench-state-"))
    upstream = free_port()
    sim = subprocess.Popen([sys.executable, "-m", "provider_fallback", "sim", "--port",
                            str(upstream), "--model", "bench-model"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gateways: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        wait_port(upstream)
        prefix = f"pf-bench:{uuid.uuid4().hex[:8]}:"
        redis_state = {"backend": "redis", "url": a.redis, "prefix": prefix}
        cases = {"memory": ({"backend": "memory"}, None), "redis": (redis_state, None),
                 "redis+rpm": (redis_state, {"rpm": 10_000_000}),
                 "redis+rpm+tpm": (redis_state, {"rpm": 10_000_000, "tpm": 10**12})}
        for name, (state, limits) in cases.items():
            cfg = tmp / f"{name}.yaml"
            write_config(cfg, upstream, state, limits)
            port = free_port()
            proc = subprocess.Popen([sys.executable, "-m", "provider_fallback", "serve", "-c",
                                     str(cfg), "--port", str(port), "--workers",
                                     str(a.workers), "--log-level", "error"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            gateways[name] = (proc, port)
            wait_port(port)
        for _, port in gateways.values():   # warm up every worker's connections
            load(f"http://127.0.0.1:{port}/v1/chat/completions", a.connections, 1.0)
        rows: dict[str, list[dict[str, Any]]] = {n: [] for n in cases}
        order = list(gateways.items())
        for r in range(a.rounds):
            # alternate the order so no backend always runs first (or last) in a round
            for name, (_, port) in (order if r % 2 == 0 else order[::-1]):
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                many = load(url, a.connections, a.duration)
                one = load(url, 1, a.duration / 2)
                rows[name].append({"rps": many["rps"], "errors": many.get("errors", 0),
                                   "p50_ms_1conn": one["p50_ms"],
                                   "p99_ms_nconn": many.get("p99_ms")})
        out = []
        base = None
        for name, rs in rows.items():
            rps = statistics.median(r["rps"] for r in rs)
            p50 = statistics.median(r["p50_ms_1conn"] for r in rs)
            row = {"backend": name, "workers": a.workers, "rps": round(rps, 1),
                   "p50_ms_1conn": round(p50, 3), "errors": sum(r["errors"] for r in rs)}
            if base is None:
                base = row
            else:   # ratios within each round, then their median: drift cancels out
                pairs = list(zip(rs, rows["memory"], strict=True))
                ratio = statistics.median(r["rps"] / m["rps"] for r, m in pairs)
                added = statistics.median(r["p50_ms_1conn"] - m["p50_ms_1conn"] for r, m in pairs)
                row["rps_vs_memory"] = f"{100 * (ratio - 1):+.1f}%"
                row["added_p50_ms"] = round(added, 3)
            out.append(row)
        return out
    finally:
        for proc, _ in gateways.values():
            proc.terminate()
            proc.wait(10)
        sim.terminate()
        sim.wait(10)


# (label, the upstream's limits, limits configured in the gateway, request extras)
SCENARIOS: list[tuple[str, dict[str, int], dict[str, int] | None, dict[str, Any]]] = [
    ("rpm 30, configured", {"rpm": 30}, {"rpm": 30}, {}),
    ("rpm 30, learned from headers", {"rpm": 30}, None, {}),
    ("tpm 2000, learned from headers", {"tpm": 2000}, None, {"max_tokens": 100}),
]


async def part2(a: argparse.Namespace) -> list[dict[str, Any]]:
    os.environ.setdefault("PROVIDER_FALLBACK_DATA_DIR", tempfile.mkdtemp(prefix="pf-bench-data-"))
    from provider_fallback import Router, config_from_dict
    from provider_fallback.errors import ProviderFallbackError
    from provider_fallback.sim import SimProvider

    out = []
    for label, upstream, configured, extra in SCENARIOS:
        for replicas, backend in ((1, "memory"), (2, "memory"), (2, "redis")):
            async with SimProvider("sim", models=["m"], **upstream) as sim:
                state: dict[str, Any] = {"backend": backend}
                if backend == "redis":
                    state.update(url=a.redis, prefix=f"pf-bench:{uuid.uuid4().hex[:8]}:")
                target: dict[str, Any] = {"provider": "sim", "model": "m"}
                if configured:
                    target["limits"] = configured
                cfg = config_from_dict({
                    "providers": [{"name": "sim", "base_url": sim.url}],
                    "models": {"chat": [target]},
                    "health": {"enabled": False}, "queue": {"enabled": False},
                    "telemetry": {"enabled": False}, "state": state})
                routers = [Router(cfg) for _ in range(replicas)]
                for r in routers:
                    await r.start()
                answered = refused = 0
                try:
                    for i in range(a.requests):
                        try:
                            await routers[i % replicas].chat(
                                model="chat", messages=[{"role": "user", "content": "hi"}],
                                **extra)
                            answered += 1
                        except ProviderFallbackError:
                            refused += 1
                finally:
                    for r in routers:
                        await r.aclose()
                upstream_429 = sum(1 for e in sim.log if e.status == 429)
                out.append({"scenario": label, "replicas": replicas, "backend": backend,
                            "requests": a.requests, "answered": answered,
                            "refused_by_gateway": refused, "upstream_calls": len(sim.log),
                            "upstream_429s": upstream_429})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--only", choices=["throughput", "429"])
    a = ap.parse_args()
    if a.only != "429":
        for row in part1(a):
            print(json.dumps(row))
    if a.only != "throughput":
        for row in asyncio.run(part2(a)):
            print(json.dumps(row))


if __name__ == "__main__":
    stop_on_sigterm()
    main()

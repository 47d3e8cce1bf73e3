"""What the wire-format adapters cost: /v1/messages and /v1/responses beside chat completions.

    python bench/bench_protocols.py [--duration 4] [--connections 32] [--rounds 5]
                                    [--stream 20] [--json]

One gateway (`provider-fallback serve`, one worker, core 0) in front of one fast mock
upstream (`bench/fast_upstream.py`, core 1 with the load generator), a one-target chain, so
the only difference between the scenarios is the translation: the same request as chat
completions, Anthropic Messages and OpenAI Responses, non-streaming and streaming
(`--stream` content chunks, 20 by default). Scenarios run interleaved, the order reversed
every other round. Per scenario: throughput at --connections, p50 at one connection, and
the gateway's CPU per request (psutil or /proc); each format is compared with chat *in the
same round* (throughput ratio, and chat's CPU per request divided by the format's, which is
the throughput ratio a saturated gateway shows and holds steadier when other work shares
the machine), then the median over rounds. Goal: >= 0.85 (translation costs at most 15% of
chat-completions throughput). Uses wrk when installed, else bench/loadgen.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import (
    HERE,
    cpu_seconds,
    free_port,
    load,
    loadgen_name,
    start,
    stop_all,
    stop_on_sigterm,
)

PROMPT = [{"role": "user", "content": "Write a haiku about fallbacks."}]
PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}
GATEWAY_CORES = {0}
LOAD_CORES = {1}


def payload(fmt: str, chunks: int) -> str:
    """The same request in each format; a stream asks for `chunks` tokens (one chunk each)."""
    tokens = chunks or 16
    if fmt == "chat":
        body: dict[str, Any] = {"model": "bench", "messages": PROMPT, "max_tokens": tokens}
        if chunks:
            body.update(stream=True, stream_options={"include_usage": True})
    elif fmt == "messages":
        body = {"model": "bench", "max_tokens": tokens, "messages": PROMPT}
    else:
        body = {"model": "bench", "input": PROMPT[0]["content"], "max_output_tokens": tokens}
    if chunks and fmt != "chat":
        body["stream"] = True   # both adapters ask the upstream for usage themselves
    return json.dumps(body, separators=(",", ":"))


def measure(url: str, body: str, connections: int, duration: float, pid: int) -> dict[str, Any]:
    latency = load(url, body, 1, duration, cores=LOAD_CORES, timeout=30)
    cpu0 = cpu_seconds(pid)
    res = load(url, body, connections, duration, cores=LOAD_CORES, timeout=30)
    cpu1 = cpu_seconds(pid)
    requests = res.get("requests") or 0
    return {"rps": res.get("rps") or 0.0, "p50_ms": latency.get("p50_ms"),
            "errors": res.get("errors", 0) + latency.get("errors", 0),
            "cpu_us": round((cpu1 - cpu0) / requests * 1e6, 1)
            if cpu0 is not None and cpu1 is not None and requests else None}


def med(values: list[Any]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--stream", type=int, default=20, help="content chunks per streamed answer")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pf-bench-protocols-"))
    scenarios = [(fmt, chunks) for chunks in (0, a.stream) for fmt in PATHS]
    rounds: list[dict[tuple[str, int], dict[str, Any]]] = []
    procs = []
    try:
        up = free_port()
        procs.append(start("upstream", [sys.executable, str(HERE / "fast_upstream.py"),
                                        "--port", str(up)], up, tmp, LOAD_CORES))
        config = tmp / "bench.yaml"
        config.write_text(f"providers:\n  - {{name: up, base_url: 'http://127.0.0.1:{up}/v1'}}\n"
                          f"health: {{enabled: false}}\nmodels:\n  bench: [up/m1]\n")
        gw = free_port()
        gateway = start("gateway", [sys.executable, "-m", "provider_fallback", "serve",
                                    "--config", str(config), "--port", str(gw),
                                    "--log-level", "warning"], gw, tmp, GATEWAY_CORES)
        procs.append(gateway)
        time.sleep(0.5)
        for n in range(a.rounds):
            order = scenarios if n % 2 == 0 else scenarios[::-1]
            results = {}
            for fmt, chunks in order:
                row = measure(f"http://127.0.0.1:{gw}{PATHS[fmt]}", payload(fmt, chunks),
                              a.connections, a.duration, gateway.pid)
                print(json.dumps({"round": n, "format": fmt, "chunks": chunks, **row}),
                      file=sys.stderr)
                results[(fmt, chunks)] = row
            rounds.append(results)
    finally:
        stop_all(procs)
    rows = []
    for fmt, chunks in scenarios:
        mine = [r[(fmt, chunks)] for r in rounds]
        chat = [r[("chat", chunks)] for r in rounds]
        rows.append({
            "format": fmt, "stream_chunks": chunks, "rps": med([m["rps"] for m in mine]),
            "p50_ms_c1": med([m["p50_ms"] for m in mine]),
            "cpu_us_per_request": med([m["cpu_us"] for m in mine]),
            "vs_chat_rps": med([m["rps"] / c["rps"] for m, c in zip(mine, chat, strict=True)
                                if c["rps"]]),
            "vs_chat_cpu": med([c["cpu_us"] / m["cpu_us"] for m, c in zip(mine, chat, strict=True)
                                if m["cpu_us"] and c["cpu_us"]]),
            "errors": sum(m["errors"] for m in mine)})
    summary = {"loadgen": loadgen_name(), "connections": a.connections, "rounds": a.rounds,
               "goal": 0.85,
               "worst_vs_chat_rps": min(r["vs_chat_rps"] or 1 for r in rows),
               "worst_vs_chat_cpu": min(r["vs_chat_cpu"] or 1 for r in rows)}
    if a.json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=2))
        return
    print(f"| scenario | req/s @ {a.connections} conns | vs chat | gateway CPU µs/request | "
          "vs chat (CPU) | p50 ms @ 1 conn | errors |\n|---|---|---|---|---|---|---|")
    for r in rows:
        mode = f"stream of {r['stream_chunks']}" if r["stream_chunks"] else "non-streaming"
        print(f"| {r['format']}, {mode} | {r['rps']:,.0f} | {r['vs_chat_rps']} | "
              f"{r['cpu_us_per_request']} | {r['vs_chat_cpu']} | {r['p50_ms_c1']} | "
              f"{r['errors']} |")
    print(json.dumps(summary))


if __name__ == "__main__":
    stop_on_sigterm()
    main()

"""Streams that finish: mid-stream continuation under load, and what it costs healthy streams.

    python bench/bench_streams.py                       # everything (about 4 minutes)
    python bench/bench_streams.py --duration 20 --concurrency 100   # quicker
    python bench/bench_streams.py --only prefill,restart --json

Processes: the simulated providers (one process: a primary that cuts a share of its streams
after a random number of tokens, and a fallback), the gateway (`provider-fallback serve`,
every feature on), and this script as the client: `--concurrency` streams at a time for
`--duration` seconds, each read to its end and checked against the canonical answer.

Scenarios:
- **prefill**: the fallback continues a prefill (the default `continuation: prefill`);
- **restart**: the fallback rejects prefills and is configured `continuation: restart`; its
  answers are deterministic (the same canonical text), so a restart can be spliced;
- **healthy**: no faults; streams/s through this gateway and through the gateway *before
  the stream rewrite* (`--baseline REF`, a git ref run from a temporary worktree), in
  alternating rounds, as the median of per-round ratios.

Per stream the client records: complete (the canonical text exactly, one finish_reason,
`[DONE]`), truncated success (`[DONE]` after anything else: must be 0), broken (an in-band
error). The time from the cut to the first continued token is the longest gap between two
gateway's clock from seeing the break to relaying the first continued chunk (the `gap_ms` of
each `CONTINUED` event), and that minus the continuing attempt's own time to first token
(`ttft_ms` of the same event): what continuation adds over the fallback's TTFT. For
comparison the script also streams from the fallback directly during the load and reports
that TTFT (it varies with the load, hence the per-attempt subtraction).

`--breaker relaxed` gives transient failures a 0.1 s open period, so the primary keeps being
tried (and keeps cutting) instead of being skipped after its first cut: that is what makes
the continuation figures count thousands of continuations instead of a few.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _harness import free_port, load, start, stop_all, stop_on_sigterm  # noqa: E402

REPLY = ("Sure, here is a careful answer to your question: first we read the file, then we "
         "find the function that fails, we write a test that shows the bug, we fix the code "
         "so that the test passes, and finally we run the whole suite again to make sure "
         "nothing else broke along the way.")
CHUNKS = len(REPLY.split())
DEFAULT_BASELINE = "83d26dc"   # main before the stream rewrite (issues 12, 13, 18)


# -- the simulated providers (a child process) ---------------------------------------------

def serve_sims(args: argparse.Namespace) -> None:
    from provider_fallback.sim import Fault, SimProvider

    async def main() -> None:
        primary = SimProvider("primary", port=args.primary_port, models=["m1"], chunk_count=0,
                              reply=REPLY, seed=1)
        fallback = SimProvider("fallback", port=args.fallback_port, models=["m2"],
                               chunk_count=0, reply=REPLY,
                               prefill=args.fallback_prefill == "yes", seed=2)
        if args.cut > 0:
            primary.set_fault(Fault(cut_random=True, chance=args.cut))
        await primary.start()
        await fallback.start()
        print("sims ready", flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())


def _sims(logdir: Path, cut: float, prefill: bool) -> tuple[Any, int, int]:
    p, f = free_port(), free_port()
    proc = start("sims", [sys.executable, __file__, "--serve-sims", "--primary-port", str(p),
                          "--fallback-port", str(f), "--cut", str(cut),
                          "--fallback-prefill", "yes" if prefill else "no"], f, logdir, None)
    return proc, p, f


# -- the gateway -------------------------------------------------------------------------

def _config(path: Path, primary: int, fallback: int, *, restart: bool, relaxed: bool,
            logdir: Path, baseline: bool = False) -> None:
    fb: dict[str, Any] = {"provider": "fallback", "model": "m2",
                          "price": {"input": 0.1, "output": 0.2}, "limits": {"rpm": 10**7}}
    if restart:
        fb["continuation"] = "restart"
    cfg: dict[str, Any] = {
        "server": {"host": "127.0.0.1"},
        "policy": {"timeout": 30, "ttft_timeout": 10, "stall_timeout": 5},
        "providers": [{"name": "primary", "base_url": f"http://127.0.0.1:{primary}/v1"},
                      {"name": "fallback", "base_url": f"http://127.0.0.1:{fallback}/v1"}],
        "models": {"bench": [{"provider": "primary", "model": "m1",
                              "price": {"input": 0.1, "output": 0.2},
                              "limits": {"rpm": 10**7}}, fb]},
        "health": {"enabled": True},
        "budget": {"monthly_usd": 10**6, "data_dir": str(logdir)},
        "telemetry": {"log_dir": str(logdir)},
        "queue": {"size": 10000},
    }
    if relaxed:
        cfg["circuit"] = {"transient_open": 0.1, "transient_max_open": 0.1, "fast_max_open": 0.1}
    if baseline:   # the old gateway knows neither the circuit keys nor the capability
        cfg.pop("circuit", None)
        for t in cfg["models"]["bench"]:
            t.pop("continuation", None)
    path.write_text(json.dumps(cfg))


def _gateway(name: str, config: Path, logdir: Path, pythonpath: str | None = None) -> tuple[Any, int]:
    port = free_port()
    env = {"PYTHONPATH": pythonpath} if pythonpath else None
    proc = start(name, [sys.executable, "-m", "provider_fallback", "serve", "--config",
                        str(config), "--port", str(port), "--log-level", "warning"],
                 port, logdir, None, env)
    return proc, port


# -- the client ----------------------------------------------------------------------------

async def _one(http: Any, url: str, body: bytes) -> dict[str, Any]:
    text: list[str] = []
    stamps: list[float] = []
    finishes = 0
    done = error = False
    async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
        rid = r.headers.get("x-request-id", "")
        if r.status != 200:
            await r.read()
            return {"id": rid, "status": r.status, "complete": False, "truncated": False,
                    "broken": True, "gap": 0.0}
        async for line in r.content:
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                done = True
                break
            obj = json.loads(data)
            if "error" in obj:
                error = True
                break
            for ch in obj.get("choices") or ():
                piece = (ch.get("delta") or {}).get("content")
                if piece:
                    text.append(piece)
                    stamps.append(time.perf_counter())
                if ch.get("finish_reason"):
                    finishes += 1
    whole = "".join(text)
    complete = done and not error and whole == REPLY and finishes == 1
    gap = max((b - a for a, b in zip(stamps, stamps[1:], strict=False)), default=0.0)
    return {"id": rid, "status": 200, "complete": complete, "truncated": done and not complete,
            "broken": error or not done, "gap": gap}


async def _clients(url: str, concurrency: int, duration: float) -> list[dict[str, Any]]:
    import aiohttp

    body = json.dumps({"model": "bench", "stream": True,
                       "messages": [{"role": "user", "content": "fix the bug"}]}).encode()
    out: list[dict[str, Any]] = []
    end = time.perf_counter() + duration
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn,
                                     timeout=aiohttp.ClientTimeout(total=60)) as http:
        async def worker() -> None:
            while time.perf_counter() < end:
                try:
                    out.append(await _one(http, url, body))
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    out.append({"id": "", "status": 0, "complete": False, "truncated": False,
                                "broken": True, "gap": 0.0, "exc": type(exc).__name__})
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


async def _measure(url: str, fallback: int, concurrency: int,
                   duration: float) -> tuple[list[dict[str, Any]], float]:
    """The load, and meanwhile the fallback's own TTFT as a client calling it directly sees it."""
    load_task = asyncio.ensure_future(_clients(url, concurrency, duration))
    ttft = await _fallback_ttft(fallback, until=time.perf_counter() + duration)
    return await load_task, ttft


async def _fallback_ttft(port: int, until: float) -> float:
    """p50 ms from sending a stream to the fallback directly to its first content chunk."""
    import aiohttp

    body = json.dumps({"model": "m2", "stream": True,
                       "messages": [{"role": "user", "content": "fix the bug"}]}).encode()
    times = []
    async with aiohttp.ClientSession() as http:
        while time.perf_counter() < until:
            await asyncio.sleep(0.05)
            t0 = time.perf_counter()
            async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"}) as r:
                async for line in r.content:
                    if b'"content":"' in line and b'"content":""' not in line:
                        times.append(time.perf_counter() - t0)
                        break
                await r.read()
    return statistics.median(times) * 1000


def _continued(logdir: Path) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Request id -> continuations, and every CONTINUED event, from the request log."""
    db = sqlite3.connect(logdir / "telemetry.sqlite3")
    rows = db.execute("SELECT request_id, continuations FROM requests").fetchall()
    events = [json.loads(d) for (d,) in db.execute(
        "SELECT data FROM events WHERE type = 'CONTINUED'")]
    db.close()
    return {rid: n or 0 for rid, n in rows}, events


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# -- scenarios -------------------------------------------------------------------------------

def continuation_scenario(kind: str, args: argparse.Namespace, logroot: Path) -> dict[str, Any]:
    logdir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=logroot))
    restart = kind == "restart"
    sims, pp, fp = _sims(logdir, args.cut, prefill=not restart)
    procs = [sims]
    try:
        cfg = logdir / "config.json"
        _config(cfg, pp, fp, restart=restart, relaxed=args.breaker == "relaxed", logdir=logdir)
        gw, port = _gateway(f"gateway-{kind}", cfg, logdir)
        procs.append(gw)
        results, direct = asyncio.run(_measure(f"http://127.0.0.1:{port}/v1/chat/completions",
                                               fp, args.concurrency, args.duration))
        time.sleep(1.5)   # the request log is written every 250 ms
    finally:
        stop_all(procs)
    continued, events = _continued(logdir)
    cont = [r for r in results if continued.get(r["id"], 0) > 0]
    # the gateway's clock: from seeing the break to relaying the first continued chunk
    gaps = [e["gap_ms"] for e in events if e.get("gap_ms") is not None]
    ttfts = [e["ttft_ms"] for e in events if e.get("ttft_ms") is not None]
    own = [e["gap_ms"] - e["ttft_ms"] for e in events if e.get("ttft_ms") is not None]
    n = len(results)
    return {"scenario": kind, "streams": n,
            "complete": sum(r["complete"] for r in results),
            "complete_pct": 100.0 * sum(r["complete"] for r in results) / n if n else None,
            "truncated_successes": sum(r["truncated"] for r in results),
            "broken": sum(r["broken"] for r in results),
            "continued": len(cont), "continued_complete": sum(r["complete"] for r in cont),
            "fallback_direct_ttft_ms_p50": round(direct, 2),
            "cut_to_continued_ms_p50": None if not gaps else round(_pct(gaps, 0.5), 2),
            "continuing_ttft_ms_p50": None if not ttfts else round(_pct(ttfts, 0.5), 2),
            "over_ttft_ms_p50": None if not own else round(_pct(own, 0.5), 2),
            "over_ttft_ms_p95": None if not own else round(_pct(own, 0.95), 2),
            "client_gap_ms_p50": None if not cont else round(
                _pct([r["gap"] * 1000 for r in cont], 0.5), 2),
            "streams_per_s": round(n / args.duration, 1)}


def healthy_scenario(args: argparse.Namespace, logroot: Path) -> dict[str, Any]:
    """Streams/s of healthy streams: this gateway vs the baseline ref, alternating rounds."""
    logdir = Path(tempfile.mkdtemp(prefix="healthy-", dir=logroot))
    tree = Path(tempfile.mkdtemp(prefix="baseline-", dir=logroot)) / "src"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree),
                    args.baseline], check=True, capture_output=True)
    sims, pp, fp = _sims(logdir, 0.0, prefill=True)
    procs = [sims]
    try:
        new_cfg, old_cfg = logdir / "new.json", logdir / "old.json"
        _config(new_cfg, pp, fp, restart=False, relaxed=False, logdir=logdir / "new")
        _config(old_cfg, pp, fp, restart=False, relaxed=False, logdir=logdir / "old",
                baseline=True)
        new, new_port = _gateway("gateway-new", new_cfg, logdir)
        old, old_port = _gateway("gateway-baseline", old_cfg, logdir, pythonpath=str(tree))
        procs += [new, old]
        payload = json.dumps({"model": "bench", "stream": True,
                              "messages": [{"role": "user", "content": "fix the bug"}]})
        rounds: list[dict[str, float]] = []
        for i in range(args.rounds):
            order = [("new", new_port), ("old", old_port)]
            if i % 2:
                order.reverse()
            got = {}
            for name, port in order:
                res = load(f"http://127.0.0.1:{port}/v1/chat/completions", payload,
                           args.connections, args.round_duration)
                got[name] = res["rps"]
            rounds.append(got)
    finally:
        stop_all(procs)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                       capture_output=True)
    ratios = [r["new"] / r["old"] for r in rounds if r.get("old")]
    return {"scenario": "healthy", "baseline": args.baseline, "rounds": rounds,
            "new_streams_per_s": statistics.median(r["new"] for r in rounds),
            "baseline_streams_per_s": statistics.median(r["old"] for r in rounds),
            "ratio_median": round(statistics.median(ratios), 3) if ratios else None}


def markdown(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [f"{args.concurrency} concurrent streams for {args.duration:g} s, primary cutting "
             f"{args.cut:.0%} of its streams after a random share of its {CHUNKS} tokens, "
             f"breaker {args.breaker}:", "",
             "| fallback | streams | complete | truncated successes | broken | continued "
             "(complete) | cut -> first continued token, p50 | the fallback's own TTFT, p50 "
             "(called directly meanwhile) | over the fallback's TTFT, p50 / p95 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r["scenario"] == "healthy":
            continue
        lines.append(f"| {r['scenario']} | {r['streams']:,} | {r['complete_pct']:.2f}% | "
                     f"{r['truncated_successes']} | {r['broken']} | {r['continued']:,} "
                     f"({r['continued_complete']:,}) | {r['cut_to_continued_ms_p50']} ms | "
                     f"{r['continuing_ttft_ms_p50']} ms ({r['fallback_direct_ttft_ms_p50']} ms) | "
                     f"**{r['over_ttft_ms_p50']}** / {r['over_ttft_ms_p95']} ms |")
    for r in results:
        if r["scenario"] == "healthy":
            lines += ["", f"Healthy streams at {args.connections} connections, {args.rounds} "
                          f"alternating rounds of {args.round_duration:g} s: "
                      f"{r['new_streams_per_s']:,.0f} streams/s against "
                      f"{r['baseline_streams_per_s']:,.0f} for `{r['baseline']}` "
                      f"(median per-round ratio **{r['ratio_median']}**)."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--cut", type=float, default=0.3, help="share of the primary's streams cut")
    ap.add_argument("--breaker", choices=["default", "relaxed"], default="relaxed")
    ap.add_argument("--only", default="prefill,restart,healthy")
    ap.add_argument("--baseline", default=DEFAULT_BASELINE)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--round-duration", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve-sims", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--primary-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--fallback-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--fallback-prefill", default="yes", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_sims:
        serve_sims(args)
        return
    stop_on_sigterm()
    only = set(args.only.split(","))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-streams-") as root:
        for kind in ("prefill", "restart"):
            if kind in only:
                results.append(continuation_scenario(kind, args, Path(root)))
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        if "healthy" in only:
            results.append(healthy_scenario(args, Path(root)))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2) if args.json else markdown(results, args))


if __name__ == "__main__":
    os.environ.setdefault("PROVIDER_FALLBACK_DATA_DIR", tempfile.gettempdir())
    main()

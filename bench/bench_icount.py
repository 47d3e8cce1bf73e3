"""Instructions per request of the gateway's app, counted by valgrind: an A/B that noise
cannot move.

    python bench/bench_icount.py A B                 # two checkouts, non-streaming
    python bench/bench_icount.py A B --stream 0 --stream 20
    python bench/bench_icount.py . --without telemetry   # what one part costs

Timings on this machine move by 3-5% from run to run (more when it is busy), so a change
worth 1% cannot be seen in req/s. `valgrind --tool=callgrind` counts the instructions a
process executes instead: the same for the same code and inputs whatever else the
machine does (seen here: within 0.05% from run to run). Each checkout's ASGI app is
driven in-process as in `profile_stages.py` (32 callers, the fast upstreams outside
valgrind), once with `--small` and once with `--large` requests after a warm-up; the
difference over the difference in requests is the cost of one request, start-up and
warm-up cancelled out.

Instructions are not time: C code (SQLite, orjson, the parser) runs more of them per
nanosecond than the interpreter does, so a change that moves work from Python into C
can count more instructions and still be faster. Use this to see small changes to Python
code; confirm what matters with `bench/bench_ab.py` on the real gateway.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

_DRIVER = r"""
import asyncio, os, sys, tempfile, shutil
from pathlib import Path
root = sys.argv[1]
sys.path[:0] = [root, os.path.join(root, "bench")]
import profile_stages as ps
from _harness import HERE, free_port, start, stop_all
from bench_gateway import LOAD_CORES
chunks, n, without = int(sys.argv[2]), int(sys.argv[3]), set(filter(None, sys.argv[4].split(",")))

async def run(cfg):
    from provider_fallback.config import load_config
    from provider_fallback.server._serve import build_app, tune_gc
    app = build_app(load_config(str(cfg)))
    q = asyncio.Queue(); q.put_nowait({"type": "lifespan.startup"}); ready = asyncio.Event()
    async def lifespan_send(message): ready.set()
    life = asyncio.create_task(app({"type": "lifespan"}, q.get, lifespan_send))
    await ready.wait(); tune_gc()
    call = ps.asgi_call(app, chunks)
    for _ in range(300):
        await call()
    left = [n]
    async def caller():
        while left[0] > 0:
            left[0] -= 1
            await call()
    await asyncio.gather(*[caller() for _ in range(ps.CONCURRENCY)])
    await q.put({"type": "lifespan.shutdown"}); await asyncio.wait_for(life, 10)

tmp = Path(tempfile.mkdtemp(prefix="pf-icount-")); ports = [free_port(), free_port()]; procs = []
try:
    for i, port in enumerate(ports):
        cmd = [sys.executable, str(HERE / "fast_upstream.py"), "--port", str(port)]
        if "ratelimit-headers" not in without:
            cmd.append("--ratelimit-headers")
        procs.append(start(f"upstream {i}", cmd, port, tmp, LOAD_CORES))
    cfg = tmp / "gateway.yaml"
    ps.config(cfg, ports[0], ports[1], without)
    asyncio.run(run(cfg))
finally:
    stop_all(procs); shutil.rmtree(tmp, ignore_errors=True)
"""

_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(root: Path, chunks: int, n: int, without: list[str]) -> int:
    """Instructions valgrind counted in one driver run of `n` requests (start-up included)."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}   # dict and set orders as in every run
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         "-c", _DRIVER, str(root), str(chunks), str(n), ",".join(without)],
        capture_output=True, text=True, env=env, check=False)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"the driver failed for {root}:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def per_request(root: Path, chunks: int, small: int, large: int, without: list[str]) -> float:
    return (instructions(root, chunks, large, without)
            - instructions(root, chunks, small, without)) / (large - small)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkouts", nargs="+", type=Path, help="one or two source trees (A B)")
    ap.add_argument("--stream", type=int, action="append", help="chunks per stream, 0: non-streaming")
    ap.add_argument("--without", action="append", default=[],
                    choices=("ratelimit-headers", "telemetry", "health", "budget", "limits"))
    ap.add_argument("--small", type=int, default=500)
    ap.add_argument("--large", type=int, default=2500)
    a = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    roots = [p.resolve() for p in a.checkouts]
    if len(roots) > 2:
        raise SystemExit("one or two checkouts")
    print(f"without: {', '.join(a.without) or 'nothing'}; instructions per request "
          f"({a.large} - {a.small} requests)")
    print("| mode | " + " | ".join(str(r) for r in roots) + (" | B/A |" if len(roots) == 2 else " |"))
    print("|---|" + "---|" * (len(roots) + (len(roots) == 2)))
    for chunks in a.stream or [0]:
        counts = [per_request(r, chunks, a.small, a.large, a.without) for r in roots]
        mode = "non-streaming" if chunks == 0 else f"{chunks}-chunk stream"
        cells = " | ".join(f"{c:,.0f}" for c in counts)
        ratio = f" | {counts[1] / counts[0]:.4f} |" if len(counts) == 2 else " |"
        print(f"| {mode} | {cells}{ratio}")


if __name__ == "__main__":
    main()

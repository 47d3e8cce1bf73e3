"""A/B of two checkouts of the gateway in one run: did a change make it faster?

    git worktree add /tmp/before HEAD~1
    python bench/bench_ab.py /tmp/before .                 # non-streaming and 20-chunk
    python bench/bench_ab.py /tmp/before . --stream 200 --rounds 6

Run-to-run speed on a shared machine moves by more than most changes do (the bare relay's
CPU per request read 112 µs in one run and 121 µs an hour later), so a ratio measured
today is not comparable with one measured yesterday. This script starts, once, the fast
upstreams (core 1) and one gateway per checkout (core 0, bench_gateway.py's
every-feature-on config, each with its own data folders), then loads them in turn with
wrk at --connections (32), the order reversed every other round. It prints each round's
req/s and CPU µs per request (the process's CPU seconds over requests), the medians, and
the per-round req/s ratio B/A with its median: a change is measured when that ratio
holds in every round.

Each gateway runs `python -m provider_fallback` with PYTHONPATH set to its checkout and
its working directory a temporary folder (from the repository's root, `-m` would import
the working copy for both).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _harness import HERE, body, cpu_seconds, free_port, load, start, stop_all, verify
from bench_gateway import GATEWAY_CORES, LOAD_CORES, write_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path, help="checkout A (the baseline)")
    ap.add_argument("b", type=Path, help="checkout B (the change)")
    ap.add_argument("--stream", type=int, action="append",
                    help="chunks per stream, 0 non-streaming (default: 0 and 20)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=32)
    a = ap.parse_args()
    modes = a.stream or [0, 20]
    checkouts = {"A": a.a.resolve(), "B": a.b.resolve()}
    for key, path in checkouts.items():
        if not (path / "provider_fallback" / "__init__.py").exists():
            sys.exit(f"{key}: {path} has no provider_fallback/ (give a checkout's root)")
    tmp = Path(tempfile.mkdtemp(prefix="pf-ab-"))
    procs = []
    try:
        ups = [free_port(), free_port()]
        for i, port in enumerate(ups):
            procs.append(start(f"upstream {i}", [sys.executable, str(HERE / "fast_upstream.py"),
                                                 "--port", str(port), "--ratelimit-headers"],
                               port, tmp, LOAD_CORES))
        gateways = {}
        for key, path in checkouts.items():
            cfg = tmp / f"gateway-{key}.yaml"
            write_config(cfg, ups[0], ups[1], None)
            port = free_port()
            proc = start(f"gateway {key}", [sys.executable, "-m", "provider_fallback", "serve",
                                            "--config", str(cfg), "--port", str(port),
                                            "--log-level", "warning"],
                         port, tmp, GATEWAY_CORES, env={"PYTHONPATH": str(path)}, cwd=tmp)
            procs.append(proc)
            gateways[key] = (proc, f"http://127.0.0.1:{port}/v1/chat/completions")
        time.sleep(2)
        for key, (_, url) in gateways.items():
            for m in modes:
                problem = verify(url, m)
                if problem:
                    sys.exit(f"gateway {key}, {m} chunks: {problem}")
        rows: dict[tuple[str, int], list[tuple[float, float]]] = {
            (k, m): [] for k in checkouts for m in modes}
        for r in range(a.rounds):
            for m in modes:
                for key in (["A", "B"] if r % 2 == 0 else ["B", "A"]):
                    proc, url = gateways[key]
                    load(url, body(m), a.connections, 1, cores=LOAD_CORES)   # warm
                    c0 = cpu_seconds(proc.pid)
                    out = load(url, body(m), a.connections, a.duration, cores=LOAD_CORES)
                    c1 = cpu_seconds(proc.pid)
                    cpu = (c1 - c0) / max(1, out["requests"]) * 1e6 if c0 is not None \
                        and c1 is not None else float("nan")
                    rows[(key, m)].append((out["rps"], cpu))
                    print(f"round {r + 1}, {m:3d} chunks, {key}: {out['rps']:8,.0f} req/s, "
                          f"{cpu:6.1f} µs/request, errors {out['errors']}", file=sys.stderr)
        print(f"\nA = {checkouts['A']}, B = {checkouts['B']}; {a.rounds} interleaved rounds of "
              f"{a.duration:g} s at {a.connections} connections, medians\n")
        print("| mode | A req/s | B req/s | A µs/request | B µs/request | B/A req/s per round "
              "| median |")
        print("|---|---|---|---|---|---|---|")
        for m in modes:
            ra, rb = rows[("A", m)], rows[("B", m)]
            ratios = [y[0] / x[0] for x, y in zip(ra, rb, strict=True) if x[0]]
            print(f"| {'non-streaming' if m == 0 else f'{m}-chunk streams'} "
                  f"| {statistics.median(x[0] for x in ra):,.0f} "
                  f"| {statistics.median(x[0] for x in rb):,.0f} "
                  f"| {statistics.median(x[1] for x in ra):.1f} "
                  f"| {statistics.median(x[1] for x in rb):.1f} "
                  f"| {' / '.join(f'{x:.2f}' for x in ratios)} "
                  f"| **{statistics.median(ratios):.2f}** |")
    finally:
        stop_all(procs)


if __name__ == "__main__":
    main()

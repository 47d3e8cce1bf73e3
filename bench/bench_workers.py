"""`serve --workers 2` against one worker: CPU per request of each process, and the cores left.

    python bench/bench_workers.py                       # non-streaming, 5 rounds of 5 s
    python bench/bench_workers.py --stream 20 --rounds 3 --duration 4 --json

On a 2-core machine the load generator and the upstreams cannot be "elsewhere": they
share the cores with the workers. This script measures what that costs instead of
guessing it. Same upstreams and every-feature-on config as bench_gateway.py:

- 1 worker: `serve` pinned to core 0; wrk and both upstreams pinned to core 1;
- 2 workers: `serve --workers 2` on both cores; wrk and the upstreams still pinned to
  core 1 (as little CPU as they can have), so worker 2 shares core 1 with them.

Interleaved rounds (order reversed every other round). For each load it reads, from
/proc, the CPU seconds of the supervisor, of every worker, of the upstreams and of wrk
(this script's waited-for children), and reports per system:

- req/s, and the gateway's CPU µs per request (all its processes / requests);
- each worker's busy share of a core (CPU s / wall s): equal shares mean the kernel
  spreads the connections evenly; a worker below 1.0 had CPU left;
- the cores wrk + upstreams used, and so the cores left for the workers (2 - that);
- expected req/s of 2 workers = cores used by the workers / (1-worker CPU per request):
  what "scales with the cores it gets" predicts; measured / expected near 1.0 means
  no contention inside the gateway (no lock, shared file or supervisor work that
  grows per request), only less CPU.

Ratios are taken within each round, then their median (and min-max).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import Proc, body, load, loadgen_name, stop_all, stop_on_sigterm, verify
from bench_gateway import LOAD_CORES, System, start_gateway, start_upstream, write_config

CORES = os.cpu_count() or 1


def _stat_cpu(path: str) -> float:
    """utime + stime from a /proc stat file, seconds; 0 if it is gone."""
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """CPU seconds of one process (all its threads)."""
    return _stat_cpu(f"/proc/{pid}/stat")


def _cpu_main(pid: int) -> float:
    """CPU seconds of the process's main thread (the event loop) alone."""
    return _stat_cpu(f"/proc/{pid}/task/{pid}/stat")


def workers_of(pid: int) -> list[int]:
    """The worker processes of a `serve --workers N` supervisor (its children that run
    multiprocessing's spawn entry point, not the resource tracker)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"resource_tracker" not in cmd:
            out.append(int(entry))
    return sorted(out)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(system: System, workers: list[int], payload: str, connections: int,
            duration: float, upstreams: list[Proc]) -> dict[str, Any]:
    system.proc.check()
    pids = [system.proc.pid, *workers]
    before = [_cpu(p) for p in pids]
    loops0 = sum(_cpu_main(p) for p in (workers or pids))
    up0 = sum(_cpu(u.pid) for u in upstreams)
    wrk0, t0 = _children_cpu(), time.perf_counter()
    res = load(system.url, payload, connections, duration, cores=LOAD_CORES, timeout=30)
    wall = time.perf_counter() - t0
    wrk = _children_cpu() - wrk0
    used = [_cpu(p) - b for p, b in zip(pids, before, strict=True)]
    loops = sum(_cpu_main(p) for p in (workers or pids)) - loops0
    up = sum(_cpu(u.pid) for u in upstreams) - up0
    n = res.get("requests") or 0
    row: dict[str, Any] = {"rps": res.get("rps"), "requests": n, "errors": res.get("errors", 0)}
    if n:
        row["cpu_us_per_request"] = round(sum(used) / n * 1e6, 1)
        # the event loops' share; the rest is the writer threads (request log, spend ledger)
        row["loop_cpu_us_per_request"] = round(loops / n * 1e6, 1)
    row["supervisor_busy"] = round(used[0] / wall, 3) if workers else None
    row["worker_busy"] = [round(u / wall, 3) for u in (used[1:] if workers else used)]
    row["upstreams_busy"] = round(up / wall, 3)
    row["wrk_busy"] = round(wrk / wall, 3)
    return row


def _med(values: list[float]) -> dict[str, float] | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def summarize(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    one = [r["one"] for r in rounds]
    two = [r["two"] for r in rounds]
    ratio, expected, per_req = [], [], []
    for r in rounds:
        a, b = r["one"], r["two"]
        if not (a.get("rps") and b.get("rps") and a.get("cpu_us_per_request")):
            continue
        ratio.append(b["rps"] / a["rps"])
        per_req.append(b["cpu_us_per_request"] / a["cpu_us_per_request"])
        # what the workers got, at the 1-worker cost per request
        gw_cores = sum(b["worker_busy"]) + (b["supervisor_busy"] or 0)
        expected.append(b["rps"] / (gw_cores / (a["cpu_us_per_request"] / 1e6)))
    return {
        "one_worker": {"rps": _med([x["rps"] for x in one]),
                       "cpu_us_per_request": _med([x.get("cpu_us_per_request") for x in one]),
                       "loop_cpu_us_per_request": _med([x.get("loop_cpu_us_per_request")
                                                        for x in one]),
                       "worker_busy": _med([x["worker_busy"][0] for x in one]),
                       "load_busy": _med([x["upstreams_busy"] + x["wrk_busy"] for x in one])},
        "two_workers": {"rps": _med([x["rps"] for x in two]),
                        "cpu_us_per_request": _med([x.get("cpu_us_per_request") for x in two]),
                        "loop_cpu_us_per_request": _med([x.get("loop_cpu_us_per_request")
                                                         for x in two]),
                        "worker_busy": [_med([x["worker_busy"][i] for x in two
                                              if len(x["worker_busy"]) > i])
                                        for i in range(max(len(x["worker_busy"]) for x in two))],
                        "supervisor_busy": _med([x["supervisor_busy"] for x in two]),
                        "load_busy": _med([x["upstreams_busy"] + x["wrk_busy"] for x in two]),
                        "cores_left": _med([CORES - x["upstreams_busy"] - x["wrk_busy"]
                                            for x in two])},
        "two_vs_one_rps": _med(ratio),
        "two_vs_one_cpu_per_request": _med(per_req),
        "measured_vs_expected_at_cores_used": _med(expected),
    }


def markdown(result: dict[str, Any]) -> str:
    info, s = result["info"], result["summary"]
    o, t = s["one_worker"], s["two_workers"]

    def m(d: dict[str, float] | None, fmt: str = "{:,.0f}") -> str:
        if d is None:
            return "?"
        return f"{fmt.format(d['median'])} ({fmt.format(d['min'])}–{fmt.format(d['max'])})"
    busy = " + ".join(m(w, "{:.2f}") for w in t["worker_busy"])
    return "\n".join([
        f"{info['mode']}, {info['connections']} connections, medians (min–max) of "
        f"{info['rounds']} interleaved rounds of {info['duration']:g} s, {info['loadgen']}, "
        f"{info['cores']} cores; wrk + upstreams pinned to core 1 in both systems:", "",
        "| | 1 worker (core 0) | 2 workers (both cores) |", "|---|---|---|",
        f"| req/s | {m(o['rps'])} | {m(t['rps'])} |",
        f"| gateway CPU µs / request | {m(o['cpu_us_per_request'], '{:.0f}')} | "
        f"{m(t['cpu_us_per_request'], '{:.0f}')} |",
        f"| of which event loops (main threads) | {m(o['loop_cpu_us_per_request'], '{:.0f}')} | "
        f"{m(t['loop_cpu_us_per_request'], '{:.0f}')} |",
        f"| worker busy (cores) | {m(o['worker_busy'], '{:.2f}')} | {busy} |",
        f"| supervisor busy (cores) | – | {m(t['supervisor_busy'], '{:.3f}')} |",
        f"| wrk + upstreams busy (cores) | {m(o['load_busy'], '{:.2f}')} | "
        f"{m(t['load_busy'], '{:.2f}')} |",
        "",
        f"2 workers / 1: req/s {m(s['two_vs_one_rps'], '{:.2f}')}, CPU per request "
        f"{m(s['two_vs_one_cpu_per_request'], '{:.2f}')}; measured req/s / (cores the workers "
        f"used / 1-worker CPU per request) {m(s['measured_vs_expected_at_cores_used'], '{:.2f}')}.",
    ]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--stream", type=int, default=0, metavar="CHUNKS",
                    help="streams of CHUNKS chunks (default 0: non-streaming)")
    ap.add_argument("--json", action="store_true", help="JSON on stdout (table on stderr)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pf-workers-"))
    procs: list[Proc] = []
    rounds: list[dict[str, dict[str, Any]]] = []
    try:
        up_proc, up = start_upstream(tmp, "upstream")
        backup_proc, backup = start_upstream(tmp, "backup")
        procs += [up_proc, backup_proc]
        write_config(tmp / "one.yaml", up, backup, None)
        write_config(tmp / "two.yaml", up, backup, None)
        one = start_gateway(tmp, "one", "1 worker", tmp / "one.yaml")
        procs.append(one.proc)
        two = start_gateway(tmp, "two", "serve --workers 2", tmp / "two.yaml", workers=2)
        procs.append(two.proc)
        workers = workers_of(two.proc.pid)
        if len(workers) != 2:
            raise RuntimeError(f"expected 2 workers under pid {two.proc.pid}, found {workers}")
        payload = body(a.stream)
        for s in (one, two):
            problem = verify(s.url, a.stream)
            if problem:
                raise RuntimeError(f"{s.label}: {problem}")
            load(s.url, payload, a.connections, 2, cores=LOAD_CORES)
        systems = [("one", one, []), ("two", two, workers)]
        for rnd in range(a.rounds):
            row = {}
            for key, s, ws in (systems if rnd % 2 == 0 else systems[::-1]):
                row[key] = measure(s, ws, payload, a.connections, a.duration,
                                   [up_proc, backup_proc])
            rounds.append(row)
            print(json.dumps({"round": rnd + 1, **row}), file=sys.stderr, flush=True)
    finally:
        stop_all(procs)
    result = {"info": {"mode": f"streams of {a.stream} chunks" if a.stream else "non-streaming",
                       "connections": a.connections, "duration": a.duration,
                       "rounds": a.rounds, "loadgen": loadgen_name(), "cores": CORES},
              "summary": summarize(rounds), "rounds": rounds}
    if a.json:
        print(markdown(result), file=sys.stderr)
        print(json.dumps(result, indent=2))
    else:
        print(markdown(result))


if __name__ == "__main__":
    stop_on_sigterm()
    main()

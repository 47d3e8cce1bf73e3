"""Where the gateway's time goes: a sampling profile of its event-loop thread under load.

    pip install py-spy                 # once; needs ptrace (root, or ptrace_scope 0)
    python bench/profile_gateway.py [--stream 200] [--duration 10] [--top 25]
    python bench/profile_gateway.py --profiler cprofile   # no py-spy / no ptrace
    python bench/profile_gateway.py --system bare         # the bare relay, for comparison
    python bench/profile_gateway.py --dead                # a dead primary first in the chain

Starts the fast upstreams and a gateway with bench_gateway.py's every-feature-on config
(pinned as there), runs wrk at --connections (32) with --stream chunks (200; 0:
non-streaming), and meanwhile records the gateway with

    py-spy record --pid PID --duration D --rate 250 --function --format raw -o OUT

then prints, as Markdown, the event-loop (main) thread's top functions by own time
(the leaf Python frame of each sample: time in C code such as uvloop or orjson counts
for the Python function that called it), their inclusive share, and the own-time share
per package. py-spy leaves idle samples out, so shares are of the thread's busy time.

`--profiler cprofile` instead runs the gateway's CLI with a `cProfile.Profile` of the
main thread that SIGUSR1 switches on when the load starts and SIGUSR2 writes when it
ends (Unix), and prints the same tables from `tottime`/`cumtime`. cProfile's overhead
(several times slower here) inflates small functions; prefer py-spy when it works.
"""

from __future__ import annotations

import argparse
import collections
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import body, free_port, load, start, stop_all, stop_on_sigterm, verify
from bench_gateway import (
    GATEWAY_CORES,
    LOAD_CORES,
    System,
    start_gateway,
    start_upstream,
    write_config,
)

PACKAGES = ("provider_fallback", "aiohttp", "uvicorn", "httptools", "uvloop", "asyncio",
            "orjson", "multidict", "yarl", "prometheus_client", "sqlite3", "json", "logging")


# The gateway's CLI with a cProfile of its main (event-loop) thread switched on by SIGUSR1
# and written by SIGUSR2, so startup and shutdown stay out of the profile.
CPROFILE_RUNNER = """
import cProfile, os, signal, sys
prof = cProfile.Profile()
def dump(*_):
    prof.disable()
    prof.dump_stats({out!r} + ".part")
    os.replace({out!r} + ".part", {out!r})
signal.signal(signal.SIGUSR1, lambda *_: prof.enable())
signal.signal(signal.SIGUSR2, dump)
sys.argv = ["provider-fallback", *sys.argv[1:]]
from provider_fallback.cli import main
main()
"""


def package_of(path: str) -> str:
    parts = Path(path).parts
    for p in parts[::-1]:
        name = p.removesuffix(".py")
        if name in PACKAGES:
            return name
    return "other (stdlib, site-packages)"


def short(frame: str) -> tuple[str, str]:
    """py-spy frame "func (path:line)" -> (func, shortened path:line)."""
    func, _, where = frame.rpartition(" (")
    where = where.rstrip(")")
    path, _, line = where.rpartition(":")
    parts = Path(path).parts
    for i, p in enumerate(parts):
        if p in ("site-packages", "lib") or p.startswith("python3"):
            continue
        if p in PACKAGES:
            path = "/".join(parts[i:])
            break
    else:
        path = "/".join(parts[-2:])
    return func or frame, f"{path}:{line}" if line else path


def parse_raw(text: str) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """Own and inclusive sample counts per frame of the main thread, and its total."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if frames[0].startswith("thread ") or frames[0].startswith("process "):
            frames = [f for f in frames if not f.startswith(("thread ", "process "))]
        if not frames or frames[0].startswith(("Thread._bootstrap ", "_bootstrap (")):
            # a threading.Thread (writer threads, executors), not the event loop
            continue
        n = int(count)
        samples += n
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    return own, total, samples


def tables(own: dict[str, float], total: dict[str, float], samples: float, top: int,
           unit: str) -> str:
    rows = ["| function | where | own % | inclusive % |", "|---|---|---|---|"]
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        func, where = short(frame)
        rows.append(f"| `{func}` | {where} | {100 * n / samples:.1f} | "
                    f"{100 * total.get(frame, n) / samples:.1f} |")
    by_pkg: collections.Counter[str] = collections.Counter()
    for frame, n in own.items():
        by_pkg[package_of(frame.rpartition(" (")[2])] += n
    pkg = ["| package | own % |", "|---|---|"]
    pkg += [f"| {name} | {100 * n / samples:.1f} |" for name, n in by_pkg.most_common()
            if n / samples >= 0.0005]
    return (f"Event-loop thread, {samples:,.0f} {unit}:\n\n" + "\n".join(rows) + "\n\n"
            + "\n".join(pkg) + "\n")


def from_pstats(path: Path) -> tuple[dict[str, float], dict[str, float], float]:
    stats = pstats.Stats(str(path))
    own: dict[str, float] = {}
    total: dict[str, float] = {}
    for (file, line, func), (_cc, _nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        key = f"{func} ({file}:{line})"
        own[key] = tt
        total[key] = ct
    busy = sum(own.values())
    return own, total, busy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stream", type=int, default=200, metavar="CHUNKS")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--profiler", choices=["py-spy", "cprofile"], default="py-spy")
    ap.add_argument("--keep", type=Path, help="also write the raw profile here")
    ap.add_argument("--system", choices=["gateway", "bare"], default="gateway",
                    help="profile the gateway, or the bare relay (bench/bare_relay.py) it is "
                         "measured against, for a side-by-side (py-spy only)")
    ap.add_argument("--dead", action="store_true",
                    help="the gateway's chain starts with a target nothing listens on (its "
                         "circuit opens at the first request), as bench_gateway's `dead` system")
    a = ap.parse_args()
    if a.profiler == "py-spy" and not shutil.which("py-spy"):
        sys.exit("py-spy not found: `pip install py-spy`, or use --profiler cprofile")
    tmp = Path(tempfile.mkdtemp(prefix="pf-profile-"))
    procs = []
    try:
        up_proc, up = start_upstream(tmp, "upstream")
        backup_proc, backup = start_upstream(tmp, "backup")
        procs += [up_proc, backup_proc]
        write_config(tmp / "gateway.yaml", up, backup, free_port() if a.dead else None)
        if a.system == "bare":
            if a.profiler != "py-spy":
                sys.exit("--system bare needs py-spy")
            port = free_port()
            gw = System("bare", "bare relay", start(
                "bare", [sys.executable, str(Path(__file__).with_name("bare_relay.py")),
                         "--upstream", f"http://127.0.0.1:{up}/v1", "--port", str(port)],
                port, tmp, GATEWAY_CORES), port)
        elif a.profiler == "py-spy":
            gw = start_gateway(tmp, "gateway", "gateway", tmp / "gateway.yaml")
        else:
            port = free_port()
            code = CPROFILE_RUNNER.format(out=str(tmp / "gateway.prof"))
            cmd = [sys.executable, "-c", code, "serve", "--config", str(tmp / "gateway.yaml"),
                   "--port", str(port), "--log-level", "warning"]
            gw = System("gateway", "gateway", start("gateway", cmd, port, tmp, GATEWAY_CORES),
                        port)
        procs.append(gw.proc)
        problem = verify(gw.url, a.stream)
        if problem:
            raise RuntimeError(problem)
        payload = body(a.stream)
        load(gw.url, payload, a.connections, 2, cores=LOAD_CORES)   # warm up
        if a.profiler == "py-spy":
            out = tmp / "pyspy.txt"
            spy = subprocess.Popen(["py-spy", "record", "--pid", str(gw.proc.pid), "--duration",
                                    str(max(1, round(a.duration))), "--rate", str(a.rate),
                                    "--function", "--format", "raw", "--output", str(out),
                                    "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(0.5)
            res = load(gw.url, payload, a.connections, a.duration + 1, cores=LOAD_CORES,
                       timeout=30)
            _, err = spy.communicate(timeout=a.duration + 60)
            if spy.returncode != 0 or not out.exists():
                sys.exit(f"py-spy failed ({spy.returncode}): {err.strip()[-500:]}\n"
                         "(it needs ptrace; try --profiler cprofile)")
            text = out.read_text()
            if a.keep:
                a.keep.write_text(text)
            own, total, samples = parse_raw(text)
            report = tables(dict(own), dict(total), samples, a.top, f"samples at {a.rate} Hz")
        else:
            gw.proc.popen.send_signal(signal.SIGUSR1)      # profile from here...
            res = load(gw.url, payload, a.connections, a.duration, cores=LOAD_CORES, timeout=30)
            gw.proc.popen.send_signal(signal.SIGUSR2)      # ...to here, and write the file
            end = time.time() + 30
            while not (tmp / "gateway.prof").exists() and time.time() < end:
                time.sleep(0.1)
            own_s, total_s, busy = from_pstats(tmp / "gateway.prof")
            if a.keep:
                shutil.copy(tmp / "gateway.prof", a.keep)
            report = tables(own_s, total_s, busy, a.top, "CPU seconds (cProfile)")
    finally:
        stop_all(procs)
    what = f"streams of {a.stream} chunks" if a.stream else "non-streaming"
    label = f"{a.system}, dead primary first" if a.dead else a.system
    print(f"{label}: {what}, {a.connections} connections, {res.get('rps', 0):,.0f} req/s while "
          f"profiling ({a.profiler}), errors {res.get('errors', 0)}\n")
    print(report)


if __name__ == "__main__":
    stop_on_sigterm()
    main()

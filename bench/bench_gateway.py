"""Gateway benchmark: the gateway vs. calling the simulated upstream directly, same run.

    python bench/bench_gateway.py [--duration 5] [--connections 32] [--rounds 3]
    python bench/bench_gateway.py --telemetry     # metrics + event/request log on vs off

Processes: simulated upstream(s) and the load generator on core 1, the gateway (one
worker) pinned to core 0 where the OS allows. Scenarios run interleaved for --rounds rounds
and medians are reported. Reports, per scenario, throughput at
N connections and p50 latency at 1 connection; "added" is the gateway's p50 minus the
direct p50 measured in the same run. Uses wrk when installed, else bench/loadgen.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BODY = '{"model":"bench","messages":[{"role":"user","content":"hi"}],"max_tokens":16}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(pid: int, cores: set[int]) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > max(cores):
        try:
            os.sched_setaffinity(pid, cores)
        except OSError:
            pass


def stop_on_sigterm() -> None:
    """`timeout` and CI send SIGTERM: exit through the `finally` blocks, so the gateways and
    simulated upstreams this script started are stopped too, never left running."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def wait_port(port: int, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def start_sim(port: int, models: list[str], extra: list[str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "provider_fallback", "sim", "--port", str(port)]
    for m in models:
        cmd += ["--model", m]
    proc = subprocess.Popen(cmd + (extra or []), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pin(proc.pid, {1})
    wait_port(port)
    return proc


def start_gateway(config: str, port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "provider_fallback", "serve", "--config", config,
           "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    pin(proc.pid, {0})
    wait_port(port)
    return proc


WRK_LUA = f"""wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
"""


def load(url: str, connections: int, duration: float) -> dict:
    wrk = shutil.which("wrk")
    if wrk:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(WRK_LUA)
        cmd = ["taskset", "-c", "1"] if shutil.which("taskset") else []
        out = subprocess.run(cmd + [wrk, "-t1", f"-c{connections}", f"-d{max(1, int(duration))}s",
                                    "--latency", "-s", f.name, url],
                             capture_output=True, text=True, check=True).stdout
        os.unlink(f.name)
        return parse_wrk(out)
    proc = subprocess.Popen([sys.executable, str(HERE / "loadgen.py"), url, "--connections",
                             str(connections), "--duration", str(duration), "--body", BODY],
                            stdout=subprocess.PIPE, text=True)
    pin(proc.pid, {1})
    out, _ = proc.communicate()
    return json.loads(out.strip().splitlines()[-1])


def _ms(text: str) -> float:
    text = text.strip()
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * f
    return float(text)


def parse_wrk(out: str) -> dict:
    res: dict = {"errors": 0}
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] in ("50%", "90%", "99%"):
            res[f"p{parts[0][:-1]}_ms"] = round(_ms(parts[1]), 3)
        elif parts[0] == "Requests/sec:":
            res["rps"] = float(parts[1])
        elif "requests in" in line:
            res["requests"] = int(parts[0])
        elif parts[0] == "Non-2xx":
            res["errors"] += int(parts[-1])
        elif parts[0] == "Socket" and "errors" in line:
            res["errors"] += sum(int(p.strip(",")) for p in parts[3::2])
    return res


def write_config(path: Path, upstream: int, backup: int, dead: int | None,
                 telemetry: bool | None = None) -> None:
    """`telemetry` None: the defaults; True/False: metrics + persistent event and request
    log all on (logs under the config's folder) or all off."""
    chain = (["dead/m1"] if dead else []) + ["up/m1", "backup/m1"]
    providers = [f"  - {{name: up, base_url: 'http://127.0.0.1:{upstream}/v1'}}",
                 f"  - {{name: backup, base_url: 'http://127.0.0.1:{backup}/v1'}}"]
    if dead:
        providers.append(f"  - {{name: dead, base_url: 'http://127.0.0.1:{dead}/v1'}}")
    extra = ""
    if telemetry is not None:
        on = "true" if telemetry else "false"
        extra = (f"metrics: {{enabled: {on}}}\ntelemetry: {{enabled: {on}, request_log: {on}, "
                 f"log_dir: '{path.parent / (path.stem + '-logs')}'}}\n")
    path.write_text(extra + "providers:\n" + "\n".join(providers) + "\nmodels:\n  bench:\n"
                    + "".join(f"    - {t}\n" for t in chain))


def scenario(name: str, url: str, connections: int, duration: float) -> dict:
    latency = load(url, 1, duration)
    throughput = load(url, connections, duration)
    row = {"scenario": name, "rps": throughput.get("rps"), "p50_ms_c1": latency.get("p50_ms"),
           "p99_ms_c1": latency.get("p99_ms"), "p50_ms_cN": throughput.get("p50_ms"),
           "errors": latency.get("errors", 0) + throughput.get("errors", 0)}
    print(json.dumps(row), file=sys.stderr)
    return row


def median_row(name: str, rows: list[dict]) -> dict:
    def med(key: str) -> float:
        values = sorted(r[key] for r in rows)
        return values[len(values) // 2]

    return {"scenario": name, "rps": med("rps"), "p50_ms_c1": med("p50_ms_c1"),
            "p99_ms_c1": med("p99_ms_c1"), "p50_ms_cN": med("p50_ms_cN"),
            "errors": sum(r["errors"] for r in rows), "rounds": len(rows)}


def report(rows: list[dict], summary: dict, a: argparse.Namespace) -> None:
    """The median rows as a table (or JSON with --json), then the summary line."""
    if a.json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=2))
        return
    width = max(len(r["scenario"]) for r in rows) + 4
    print(f"{'scenario':{width}} {'req/s @' + str(a.connections):>12} {'p50 ms @1':>10} "
          f"{'p99 ms @1':>10} {'errors':>7}")
    for r in rows:
        print(f"{r['scenario']:{width}} {r['rps']:>12} {r['p50_ms_c1']:>10} "
              f"{r['p99_ms_c1']:>10} {r['errors']:>7}")
    print(json.dumps(summary))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians reported")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--telemetry", action="store_true", help="compare the gateway with metrics "
                    "and the event/request log on vs off (instead of the dead-primary scenario)")
    a = ap.parse_args()
    if a.telemetry:
        return main_telemetry(a)
    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="pf-bench-"))
    try:
        up, backup, dead, gw, gw_dead = (free_port() for _ in range(5))
        procs.append(start_sim(up, ["m1", "bench"]))
        procs.append(start_sim(backup, ["m1"]))
        write_config(tmp / "healthy.yaml", up, backup, None)
        write_config(tmp / "dead.yaml", up, backup, dead)  # nothing listens on `dead`
        procs.append(start_gateway(str(tmp / "healthy.yaml"), gw))
        procs.append(start_gateway(str(tmp / "dead.yaml"), gw_dead))
        targets = [("direct upstream", up), ("gateway, 2-target chain", gw),
                   ("gateway, primary refusing connections", gw_dead)]
        runs: dict[str, list[dict]] = {name: [] for name, _ in targets}
        for _ in range(a.rounds):  # interleaved, so machine noise hits every scenario alike
            for name, port in targets:
                runs[name].append(scenario(name, f"http://127.0.0.1:{port}/v1/chat/completions",
                                           a.connections, a.duration))
        rows = [median_row(name, runs[name]) for name, _ in targets]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
    direct, healthy, deadrow = rows
    summary = {
        "loadgen": "wrk" if shutil.which("wrk") else "bench/loadgen.py",
        "connections": a.connections,
        "gateway_rps": healthy["rps"],
        "direct_rps": direct["rps"],
        "added_p50_ms_c1": round(healthy["p50_ms_c1"] - direct["p50_ms_c1"], 3),
        "dead_primary_p50_vs_healthy": round(deadrow["p50_ms_c1"] / healthy["p50_ms_c1"], 3),
        "dead_primary_rps_vs_healthy": round(deadrow["rps"] / healthy["rps"], 3),
    }
    report(rows, summary, a)


def main_telemetry(a: argparse.Namespace) -> None:
    """Overhead of metrics + persistence: two gateways, identical but for telemetry on/off,
    with /metrics scraped every second on the "on" one (as Prometheus would)."""
    import threading
    import urllib.request

    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="pf-bench-"))
    stop = threading.Event()
    scrapes = [0]
    try:
        up, backup, gw_off, gw_on = (free_port() for _ in range(4))
        procs.append(start_sim(up, ["m1", "bench"]))
        procs.append(start_sim(backup, ["m1"]))
        write_config(tmp / "off.yaml", up, backup, None, telemetry=False)
        write_config(tmp / "on.yaml", up, backup, None, telemetry=True)
        procs.append(start_gateway(str(tmp / "off.yaml"), gw_off))
        procs.append(start_gateway(str(tmp / "on.yaml"), gw_on))

        def scrape() -> None:
            while not stop.wait(1.0):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{gw_on}/metrics", timeout=5).read()
                    scrapes[0] += 1
                except OSError:
                    pass
        threading.Thread(target=scrape, daemon=True).start()
        targets = [("direct upstream", up), ("gateway, telemetry off", gw_off),
                   ("gateway, metrics + events + request log on", gw_on)]
        runs: dict[str, list[dict]] = {name: [] for name, _ in targets}
        for _ in range(a.rounds):
            for name, port in targets:
                runs[name].append(scenario(name, f"http://127.0.0.1:{port}/v1/chat/completions",
                                           a.connections, a.duration))
        rows = [median_row(name, runs[name]) for name, _ in targets]
    finally:
        stop.set()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
    db = tmp / "on-logs" / "telemetry.sqlite3"
    logged = 0
    if db.exists():
        import sqlite3

        with sqlite3.connect(db) as conn:
            logged = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    direct, off, on = rows
    summary = {
        "loadgen": "wrk" if shutil.which("wrk") else "bench/loadgen.py",
        "connections": a.connections, "direct_rps": direct["rps"],
        "telemetry_off_rps": off["rps"], "telemetry_on_rps": on["rps"],
        "on_vs_off_rps": round(on["rps"] / off["rps"], 3),
        "added_p50_ms_c1_on_vs_off": round(on["p50_ms_c1"] - off["p50_ms_c1"], 3),
        "request_rows_logged": logged, "metrics_scrapes": scrapes[0],
    }
    report(rows, summary, a)


if __name__ == "__main__":
    stop_on_sigterm()
    main()

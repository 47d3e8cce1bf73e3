"""What the wire-format adapters cost: /v1/messages and /v1/responses beside chat completions.

    python bench/bench_protocols.py [--duration 4] [--connections 32] [--rounds 3] [--json]

One gateway (one worker, core 0) in front of one simulated OpenAI-compatible upstream
(core 1, with the load generator), a one-target chain, so the only difference between the
scenarios is the translation: the same small request as chat completions, Anthropic
Messages and OpenAI Responses, non-streaming and streaming (the upstream streams 7
chunks). Scenarios run interleaved for --rounds rounds; each format's throughput is divided
by chat's *in the same round* and the median of those ratios is reported (goal: >= 0.85,
translation costing at most 15% of chat-completions throughput), with p50 latency at one
connection. The gateway's own CPU time per request (Linux: /proc) is reported beside it:
chat's CPU per request divided by a format's is the throughput ratio a saturated gateway
would show, and it holds steady when other work shares the machine. Uses wrk when
installed, else bench/loadgen.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_gateway import (  # noqa: E402  (the gateway benchmark's process helpers)
    free_port,
    parse_wrk,
    pin,
    start_gateway,
    start_sim,
    stop_on_sigterm,
)

HI = [{"role": "user", "content": "hi"}]
FORMATS = {
    "chat": ("/v1/chat/completions", {"model": "bench", "messages": HI, "max_tokens": 16}),
    "messages": ("/v1/messages", {"model": "bench", "max_tokens": 16, "messages": HI}),
    "responses": ("/v1/responses", {"model": "bench", "input": "hi", "max_output_tokens": 16}),
}


def body_of(fmt: str, stream: bool) -> str:
    body = dict(FORMATS[fmt][1])
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":"))


def load(url: str, body: str, connections: int, duration: float) -> dict:
    wrk = shutil.which("wrk")
    if wrk:
        lua = (f'wrk.method = "POST"\nwrk.body = [[{body}]]\n'
               'wrk.headers["Content-Type"] = "application/json"\n'
               'wrk.headers["anthropic-version"] = "2023-06-01"\n')
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(lua)
        cmd = ["taskset", "-c", "1"] if shutil.which("taskset") else []
        out = subprocess.run(cmd + [wrk, "-t1", f"-c{connections}", f"-d{max(1, int(duration))}s",
                                    "--latency", "-s", f.name, url],
                             capture_output=True, text=True, check=True).stdout
        os.unlink(f.name)
        return parse_wrk(out)
    proc = subprocess.Popen([sys.executable, str(HERE / "loadgen.py"), url, "--connections",
                             str(connections), "--duration", str(duration), "--body", body],
                            stdout=subprocess.PIPE, text=True)
    pin(proc.pid, {1})
    out, _ = proc.communicate()
    return json.loads(out.strip().splitlines()[-1])


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far; None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(name: str, url: str, body: str, connections: int, duration: float,
            gateway_pid: int) -> dict:
    latency = load(url, body, 1, duration)
    before = cpu_seconds(gateway_pid)
    throughput = load(url, body, connections, duration)
    after = cpu_seconds(gateway_pid)
    served = throughput.get("requests") or 0
    row = {"scenario": name, "rps": throughput.get("rps") or 0.0,
           "p50_ms_c1": latency.get("p50_ms"), "p99_ms_c1": latency.get("p99_ms"),
           # the gateway's own CPU per request: steadier than req/s on a shared machine
           "cpu_ms": round((after - before) * 1000 / served, 4)
           if before is not None and after is not None and served else None,
           "errors": latency.get("errors", 0) + throughput.get("errors", 0)}
    print(json.dumps(row), file=sys.stderr)
    return row


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="pf-bench-protocols-"))
    scenarios = [(fmt, stream) for stream in (False, True) for fmt in FORMATS]
    runs: dict[tuple[str, bool], list[dict]] = {s: [] for s in scenarios}
    try:
        up, gw = free_port(), free_port()
        procs.append(start_sim(up, ["m1"]))
        config = tmp / "bench.yaml"
        config.write_text(f"providers:\n  - {{name: up, base_url: 'http://127.0.0.1:{up}/v1'}}\n"
                          "models:\n  bench: [up/m1]\n")
        gateway = start_gateway(str(config), gw)
        procs.append(gateway)
        for _ in range(a.rounds):   # interleaved: machine noise hits every format alike
            for fmt, stream in scenarios:
                name = f"{fmt}{', stream' if stream else ''}"
                runs[(fmt, stream)].append(measure(name, f"http://127.0.0.1:{gw}{FORMATS[fmt][0]}",
                                                   body_of(fmt, stream), a.connections,
                                                   a.duration, gateway.pid))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
    rows = []
    for fmt, stream in scenarios:
        mine, chat = runs[(fmt, stream)], runs[("chat", stream)]
        ratios = [m["rps"] / c["rps"] for m, c in zip(mine, chat, strict=True) if c["rps"]]
        added = [m["p50_ms_c1"] - c["p50_ms_c1"] for m, c in zip(mine, chat, strict=True)]
        cpu = [c["cpu_ms"] / m["cpu_ms"] for m, c in zip(mine, chat, strict=True)
               if m["cpu_ms"] and c["cpu_ms"]]
        rows.append({"scenario": mine[0]["scenario"], "rps": median([r["rps"] for r in mine]),
                     "p50_ms_c1": median([r["p50_ms_c1"] for r in mine]),
                     "vs_chat_rps": round(median(ratios), 3) if ratios else None,
                     "cpu_ms": median([r["cpu_ms"] or 0.0 for r in mine]),
                     # chat's CPU per request / this format's: the throughput ratio at saturation
                     "vs_chat_cpu": round(median(cpu), 3) if cpu else None,
                     "added_p50_ms_c1": round(median(added), 3),
                     "errors": sum(r["errors"] for r in mine), "rounds": len(mine)})
    summary = {"loadgen": "wrk" if shutil.which("wrk") else "bench/loadgen.py",
               "connections": a.connections, "goal_vs_chat_rps": 0.85,
               "worst_vs_chat_rps": min(r["vs_chat_rps"] for r in rows if r["vs_chat_rps"]),
               "worst_vs_chat_cpu": min((r["vs_chat_cpu"] for r in rows if r["vs_chat_cpu"]),
                                        default=None)}
    if a.json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=2))
        return
    print(f"{'scenario':18} {'req/s @' + str(a.connections):>11} {'vs chat':>8} "
          f"{'CPU ms/req':>10} {'vs chat':>8} {'p50 ms @1':>10} {'added ms':>9} {'errors':>7}")
    for r in rows:
        print(f"{r['scenario']:18} {r['rps']:>11.0f} {r['vs_chat_rps']:>8} {r['cpu_ms']:>10} "
              f"{r['vs_chat_cpu']!s:>8} {r['p50_ms_c1']:>10} {r['added_p50_ms_c1']:>9} "
              f"{r['errors']:>7}")
    print(json.dumps(summary))


if __name__ == "__main__":
    stop_on_sigterm()
    main()

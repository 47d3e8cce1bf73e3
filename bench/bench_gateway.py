"""Gateway benchmark: the gateway beside a bare relay and the upstream itself, in one run.

    python bench/bench_gateway.py                    # non-streaming, 20- and 200-chunk streams
    python bench/bench_gateway.py --stream 200       # one mode (--stream 0: non-streaming;
                                                     #  repeat --stream for several)
    python bench/bench_gateway.py --duration 5 --rounds 3 --json
    python bench/bench_gateway.py --continuation off # the gateways run with `continuation: off`
    python bench/bench_gateway.py --continuation both  # and a twin with it off: on/off ratio
    python bench/bench_gateway.py --telemetry        # metrics + event/request log on vs off

Upstream: `bench/fast_upstream.py` (two of them: primary and backup), an OpenAI-compatible
mock that answers at once and never saturates before the relays (its CPU use during each
load is reported). Systems measured, interleaved round by round (the order reversed every
other round, so no system always runs first), medians reported:

- direct: the upstream called without any relay;
- bare relay: `bench/bare_relay.py`, uvicorn + aiohttp with no logic (the bar);
- gateway: `provider-fallback serve`, one worker, 2-target chain, every feature on (rate
  ledger with configured limits, prices and a budget, health probes, Prometheus metrics,
  persistent events and request log);
- dead primary: the same with a first target nothing listens on (circuit open);
- 2 workers: the gateway under `serve --workers 2` (same config).

The gateway, dead-primary gateway and bare relay are pinned to core 0, the upstreams and
the load generator (wrk, else bench/loadgen.py) to core 1, the 2-worker gateway to both.
Each mode: p50/p99 at 1 connection (a stream's p50 is the whole stream), throughput at
--connections (32), the gateway's and bare relay's CPU per request and per content chunk
(CPU seconds of the process, psutil or /proc, over requests x chunks). Ratios (gateway /
bare relay, dead / healthy, 2 workers / 1) are taken within each round, then their median.
Then RSS of the bare relay and gateway after a 1,000-connection run (`--rss-stream`).

Every answer shape is checked once per system before measuring (a stream must bring all
its chunks, a finish reason, usage and [DONE]): wrk counts any 200 as a success.
Results: Markdown tables for the README on stdout (stderr with --json, which prints JSON).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from _harness import (
    HERE,
    Proc,
    body,
    cpu_seconds,
    free_port,
    load,
    loadgen_name,
    memory_mib,
    start,
    stop_all,
    stop_on_sigterm,
    verify,
    wait_port,
)
from _report import markdown, markdown_telemetry

__all__ = ["free_port", "stop_on_sigterm", "wait_port"]   # bench_state.py uses these

PRICE = {"input": 0.59, "output": 0.79}
LIMITS = {"rpm": 100_000_000, "tpm": 100_000_000_000}   # configured, checked, never binding
GATEWAY_CORES = {0}
LOAD_CORES = {1}


def write_config(path: Path, upstream: int, backup: int, dead: int | None, *,
                 telemetry: bool = True, continuation: str | None = None) -> None:
    """A gateway config with every feature on (telemetry=False: metrics, events and the
    request log off, for --telemetry). Each gateway gets its own data and log folders."""
    def provider(name: str, port: int) -> dict[str, Any]:
        return {"name": name, "base_url": f"http://127.0.0.1:{port}/v1",
                "models": {"m1": {"limits": LIMITS, "price": PRICE}}}

    providers = [provider("up", upstream), provider("backup", backup)]
    chain = ["up/m1", "backup/m1"]
    if dead is not None:
        providers.append(provider("dead", dead))
        chain.insert(0, "dead/m1")
    data: dict[str, Any] = {
        "providers": providers, "models": {"bench": chain},
        "budget": {"monthly_usd": 1_000_000, "daily_usd": 100_000,
                   "data_dir": str(path.parent / f"{path.stem}-data")},
        "health": {"enabled": True},
        "metrics": {"enabled": telemetry},
        "telemetry": {"enabled": telemetry, "request_log": telemetry,
                      "log_dir": str(path.parent / f"{path.stem}-logs")},
    }
    text = yaml.safe_dump(data, sort_keys=False)
    if continuation is not None:
        text += f"continuation: {continuation}\n"
    path.write_text(text)


def continuation_supported(tmp: Path) -> tuple[bool, str]:
    """Does this gateway's config schema know `continuation: off`? (`validate` says.)"""
    probe = tmp / "continuation-probe.yaml"
    write_config(probe, 1, 2, None, continuation="off")
    out = subprocess.run([sys.executable, "-m", "provider_fallback", "validate", str(probe)],
                         capture_output=True, text=True)
    return out.returncode == 0, (out.stdout + out.stderr).strip()[-400:]


class System:
    """Something under load: a port, and the pid whose CPU and memory are read."""

    def __init__(self, key: str, label: str, proc: Proc, port: int) -> None:
        self.key, self.label, self.proc, self.port = key, label, proc, port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"


def start_upstream(tmp: Path, name: str, per_event_writes: bool = False) -> tuple[Proc, int]:
    port = free_port()
    cmd = [sys.executable, str(HERE / "fast_upstream.py"), "--port", str(port),
           "--ratelimit-headers"] + (["--per-event-writes"] if per_event_writes else [])
    return start(name, cmd, port, tmp, LOAD_CORES), port


def start_gateway(tmp: Path, key: str, label: str, config: Path, workers: int = 1) -> System:
    port = free_port()
    cmd = [sys.executable, "-m", "provider_fallback", "serve", "--config", str(config),
           "--port", str(port), "--log-level", "warning", "--workers", str(workers)]
    cores = GATEWAY_CORES if workers == 1 else None
    proc = start(key, cmd, port, tmp, cores)
    if workers > 1:
        time.sleep(2.0)   # the port opens before every worker has loaded the app
    return System(key, label, proc, port)


def measure(system: System, payload: str, chunks: int, connections: int, duration: float,
            upstream: Proc, timeout: float = 30) -> dict[str, Any]:
    """One load on `system`, with its CPU and the upstream's over the same interval. wrk's
    2 s default timeout would count a slow 200-chunk stream as an error and reconnect."""
    system.proc.check()
    cpu0, up0, t0 = cpu_seconds(system.proc.pid), cpu_seconds(upstream.pid), time.perf_counter()
    res = load(system.url, payload, connections, duration, cores=LOAD_CORES, timeout=timeout)
    cpu1, up1, wall = cpu_seconds(system.proc.pid), cpu_seconds(upstream.pid), time.perf_counter() - t0
    requests = res.get("requests") or 0
    row = {"rps": res.get("rps"), "requests": requests, "p50_ms": res.get("p50_ms"),
           "p99_ms": res.get("p99_ms"), "errors": res.get("errors", 0),
           "timeouts": res.get("timeouts", 0)}
    if cpu0 is not None and cpu1 is not None and requests:
        row["cpu_us_per_request"] = round((cpu1 - cpu0) / requests * 1e6, 2)
        if chunks:
            row["cpu_us_per_chunk"] = round((cpu1 - cpu0) / (requests * chunks) * 1e6, 3)
    if up0 is not None and up1 is not None and system.proc is not upstream:
        row["upstream_busy"] = round((up1 - up0) / wall, 3)
    return row


def med(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


def ratio(rounds: list[dict[str, dict[str, Any]]], a: str, b: str, key: str = "rps") -> float | None:
    """Median over rounds of round[a][key] / round[b][key]."""
    return med([r[a][key] / r[b][key] for r in rounds
                if a in r and b in r and r[a].get(key) and r[b].get(key)])


def diff(rounds: list[dict[str, dict[str, Any]]], a: str, b: str, key: str = "p50_ms") -> float | None:
    return med([r[a][key] - r[b][key] for r in rounds
                if a in r and b in r and r[a].get(key) is not None and r[b].get(key) is not None])


def summarize(chunks: int, c1: list[dict[str, Any]], cn: list[dict[str, Any]],
              systems: list[System]) -> dict[str, Any]:
    out: dict[str, Any] = {"chunks": chunks, "systems": {}}
    for s in systems:
        one = [r[s.key] for r in c1 if s.key in r]
        many = [r[s.key] for r in cn if s.key in r]
        out["systems"][s.key] = {
            "label": s.label,
            "rps": med([r["rps"] for r in many]),
            "p50_ms_c1": med([r["p50_ms"] for r in one]) if one else None,
            "p99_ms_c1": med([r["p99_ms"] for r in one]) if one else None,
            "p50_ms_cN": med([r["p50_ms"] for r in many]),
            "cpu_us_per_request": med([r.get("cpu_us_per_request") for r in many]),
            "cpu_us_per_chunk": med([r.get("cpu_us_per_chunk") for r in many]),
            "upstream_busy": med([r.get("upstream_busy") for r in many]),
            "errors": sum(r["errors"] for r in one + many),
        }
    out["gateway_vs_bare_rps"] = ratio(cn, "gateway", "bare")
    out["bare_added_p50_ms"] = diff(c1, "bare", "direct")
    out["gateway_added_p50_ms"] = diff(c1, "gateway", "direct")
    out["gateway_minus_bare_p50_ms"] = diff(c1, "gateway", "bare")
    out["dead_vs_healthy_rps"] = ratio(cn, "dead", "gateway")
    out["dead_vs_healthy_p50"] = ratio(c1, "dead", "gateway", "p50_ms")
    out["workers2_vs_1_rps"] = ratio(cn, "workers2", "gateway")
    out["continuation_on_vs_off_rps"] = ratio(cn, "gateway", "gateway_cont_off")
    out["continuation_on_vs_off_p50"] = ratio(c1, "gateway", "gateway_cont_off", "p50_ms")
    return out


def run_rounds(a: argparse.Namespace, systems: list[System], one_conn: set[str],
               upstream: Proc) -> dict[str, Any]:
    """Warm up, check every answer, then the interleaved rounds; per mode summaries."""
    for chunks in a.stream:
        for s in systems:
            problem = verify(s.url, chunks)
            if problem:
                raise RuntimeError(f"{s.label}, {chunks or 'non-streaming'}: {problem}")
            load(s.url, body(chunks), a.connections, 1, cores=LOAD_CORES)
    rows: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
        c: ([], []) for c in a.stream}
    for rnd in range(a.rounds):
        order = systems if rnd % 2 == 0 else systems[::-1]
        for chunks in a.stream:
            payload = body(chunks)
            c1: dict[str, Any] = {}
            cn: dict[str, Any] = {}
            for s in order:
                if s.key in one_conn:
                    c1[s.key] = measure(s, payload, chunks, 1, a.duration, upstream)
            for s in order:
                cn[s.key] = measure(s, payload, chunks, a.connections, a.duration, upstream)
            rows[chunks][0].append(c1)
            rows[chunks][1].append(cn)
            print(json.dumps({"round": rnd + 1, "chunks": chunks, "c1": c1,
                              f"c{a.connections}": cn}), file=sys.stderr, flush=True)
    return {str(c): summarize(c, *rows[c], systems) | {"rounds": {"c1": rows[c][0],
                                                                   "cN": rows[c][1]}}
            for c in a.stream}


def rss_run(a: argparse.Namespace, systems: list[System], upstream: Proc) -> dict[str, Any]:
    """RSS before and after a --rss-connections run of --rss-stream requests."""
    out: dict[str, Any] = {"connections": a.rss_connections, "chunks": a.rss_stream}
    payload = body(a.rss_stream)
    for s in systems:
        before = memory_mib(s.proc.pid)
        row = measure(s, payload, a.rss_stream, a.rss_connections, max(a.duration, 5), upstream)
        time.sleep(0.5)
        after = memory_mib(s.proc.pid)
        out[s.key] = {"label": s.label, "before": before, "after": after, "rps": row["rps"],
                      "errors": row["errors"]}
        print(json.dumps({"rss": s.key, **out[s.key]}), file=sys.stderr, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per load")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians reported")
    ap.add_argument("--stream", type=int, action="append", metavar="CHUNKS",
                    help="streams of CHUNKS content chunks (0: non-streaming); repeatable; "
                         "default: 0, 20 and 200")
    ap.add_argument("--continuation", choices=["on", "off", "both"],
                    help="write `continuation: on|off` into the gateway configs (if the "
                         "schema has the key); both: add a gateway with it off beside one on")
    ap.add_argument("--skip", action="append", default=[], choices=["dead", "workers", "rss"],
                    help="leave out the dead-primary gateway, the 2-worker gateway or the "
                         "1,000-connection RSS run")
    ap.add_argument("--rss-stream", type=int, default=20, metavar="CHUNKS",
                    help="request of the RSS run (0: non-streaming; default 20)")
    ap.add_argument("--rss-connections", type=int, default=1000)
    ap.add_argument("--per-event-writes", action="store_true",
                    help="the upstream writes each SSE event on its own (one send each, as a "
                         "provider whose tokens leave one by one) instead of a whole "
                         "response at once; costs the upstream more CPU")
    ap.add_argument("--json", action="store_true", help="JSON on stdout (tables on stderr)")
    ap.add_argument("--telemetry", action="store_true", help="compare the gateway with metrics "
                    "and the event/request log on vs off (non-streaming unless --stream)")
    a = ap.parse_args()
    a.stream = a.stream or ([0] if a.telemetry else [0, 20, 200])
    if a.telemetry:
        return main_telemetry(a)
    procs: list[Proc] = []
    tmp = Path(tempfile.mkdtemp(prefix="pf-bench-"))
    info: dict[str, Any] = {"loadgen": loadgen_name(), "connections": a.connections,
                            "duration": a.duration, "rounds": a.rounds, "continuation": "default",
                            "upstream_writes": ("one write per SSE event" if a.per_event_writes
                                                else "each response in one write")}
    try:
        cont_values: dict[str, str | None] = {"gateway": None}
        if a.continuation:
            ok, said = continuation_supported(tmp)
            if not ok:
                print(f"--continuation {a.continuation} skipped: this gateway's config has no "
                      f"`continuation` key (validate said: {said})", file=sys.stderr)
                info["continuation"] = "unsupported"
            else:
                info["continuation"] = a.continuation
                cont_values["gateway"] = "on" if a.continuation == "both" else a.continuation
                if a.continuation == "both":
                    cont_values["gateway_cont_off"] = "off"
        up_proc, up = start_upstream(tmp, "upstream", a.per_event_writes)
        procs.append(up_proc)
        backup_proc, backup = start_upstream(tmp, "backup", a.per_event_writes)
        procs.append(backup_proc)
        bare_port = free_port()
        bare = System("bare", "bare relay (uvicorn + aiohttp)", start(
            "bare", [sys.executable, str(HERE / "bare_relay.py"), "--upstream",
                     f"http://127.0.0.1:{up}/v1", "--port", str(bare_port)],
            bare_port, tmp, GATEWAY_CORES), bare_port)
        procs.append(bare.proc)
        systems = [System("direct", "direct upstream", up_proc, up), bare]
        labels = {"gateway": "gateway, 2-target chain",
                  "gateway_cont_off": "gateway, continuation off"}
        for key, value in cont_values.items():
            write_config(tmp / f"{key}.yaml", up, backup, None, continuation=value)
            systems.append(start_gateway(tmp, key, labels[key], tmp / f"{key}.yaml"))
            procs.append(systems[-1].proc)
        if "dead" not in a.skip:   # nothing listens on the dead primary's port
            write_config(tmp / "dead.yaml", up, backup, free_port(),
                         continuation=cont_values["gateway"])
            systems.append(start_gateway(tmp, "dead", "gateway, primary refusing connections",
                                         tmp / "dead.yaml"))
            procs.append(systems[-1].proc)
        if "workers" not in a.skip:
            write_config(tmp / "workers2.yaml", up, backup, None,
                         continuation=cont_values["gateway"])
            systems.append(start_gateway(tmp, "workers2", "gateway, serve --workers 2",
                                         tmp / "workers2.yaml", workers=2))
            procs.append(systems[-1].proc)
        one_conn = {"direct", "bare", "gateway", "dead", "gateway_cont_off"}
        modes = run_rounds(a, systems, one_conn, up_proc)
        by_key = {s.key: s for s in systems}
        rss = None if "rss" in a.skip else rss_run(a, [by_key["bare"], by_key["gateway"]], up_proc)
    finally:
        stop_all(procs)
    result = {"info": info, "modes": modes, "rss": rss}
    tables = markdown(result)
    if a.json:
        print(tables, file=sys.stderr)
        print(json.dumps(result, indent=2))
    else:
        print(tables)


def main_telemetry(a: argparse.Namespace) -> None:
    """Overhead of metrics + persistence: two gateways, identical but for telemetry on/off,
    with /metrics scraped every second on the "on" one (as Prometheus would)."""
    import urllib.request

    procs: list[Proc] = []
    tmp = Path(tempfile.mkdtemp(prefix="pf-bench-"))
    stop = threading.Event()
    scrapes = [0]
    try:
        up_proc, up = start_upstream(tmp, "upstream")
        backup_proc, backup = start_upstream(tmp, "backup")
        procs += [up_proc, backup_proc]
        write_config(tmp / "off.yaml", up, backup, None, telemetry=False)
        write_config(tmp / "on.yaml", up, backup, None, telemetry=True)
        off = start_gateway(tmp, "off", "gateway, telemetry off", tmp / "off.yaml")
        on = start_gateway(tmp, "on", "gateway, metrics + events + request log on", tmp / "on.yaml")
        procs += [off.proc, on.proc]

        def scrape() -> None:
            while not stop.wait(1.0):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{on.port}/metrics", timeout=5).read()
                    scrapes[0] += 1
                except OSError:
                    pass
        threading.Thread(target=scrape, daemon=True).start()
        systems = [System("direct", "direct upstream", up_proc, up), off, on]
        modes = run_rounds(a, systems, {"direct", "off", "on"}, up_proc)
    finally:
        stop.set()
        stop_all(procs)
    db = tmp / "on-logs" / "telemetry.sqlite3"
    logged = 0
    if db.exists():
        import sqlite3

        with sqlite3.connect(db) as conn:
            logged = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    for m in modes.values():
        m["on_vs_off_rps"] = ratio(m["rounds"]["cN"], "on", "off")
        m["added_p50_ms_on_vs_off"] = diff(m["rounds"]["c1"], "on", "off")
    result = {"info": {"loadgen": loadgen_name(), "connections": a.connections,
                       "duration": a.duration, "rounds": a.rounds,
                       "request_rows_logged": logged, "metrics_scrapes": scrapes[0]},
              "modes": modes}
    tables = markdown_telemetry(result)
    if a.json:
        print(tables, file=sys.stderr)
        print(json.dumps(result, indent=2))
    else:
        print(tables)


if __name__ == "__main__":
    stop_on_sigterm()
    main()

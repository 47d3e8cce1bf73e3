"""How long `provider-fallback doctor` takes against N simulated providers on loopback.

    python bench/bench_doctor.py [--providers 10] [--runs 5]

Every provider check (DNS, TCP, GET /models with the key, model listing, latency, clock)
runs in parallel, so the wall time should stay near one provider's round trip as N grows.
Prints the median of --runs runs, the exit code and the number of findings.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from pathlib import Path

import yaml

from provider_fallback.doctor import run_doctor
from provider_fallback.sim import SimProvider


async def main(n: int, runs: int) -> None:
    sims = [SimProvider(f"p{i}", models=["m"]) for i in range(n)]
    for sim in sims:
        await sim.start()
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "provider_config.yaml"
            path.write_text(yaml.safe_dump({
                "server": {"port": port},
                "providers": [{"name": sim.name, "base_url": sim.url} for sim in sims],
                "models": {"all": [f"{sim.name}/m" for sim in sims]}}))
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                report = await run_doctor(path)
                times.append(time.perf_counter() - t0)
        times.sort()
        print(f"{n} providers: median {times[len(times) // 2] * 1000:.0f} ms over {runs} runs, "
              f"exit {report.exit_code}, {len(report.findings)} findings")
    finally:
        for sim in sims:
            await sim.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--providers", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    asyncio.run(main(a.providers, a.runs))

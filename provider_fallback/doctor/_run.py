"""Running the checks: independent ones in parallel, findings in a stable order."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..config import Config
from ._findings import Finding, Report, Severity
from ._keys import ConfigLoad, check_keys, load_for_doctor, warnings_as_findings
from ._local import check_clock, check_port, check_proxy_env
from ._network import ProviderCheck, check_provider
from ._state import check_state

__all__ = ["Progress", "check_providers", "run_doctor", "startup_findings"]

# called with (label of the check that just finished, done, total)
Progress = Callable[[str, int, int], None]
_ORDER = ("config", "env", "keys", "port", "proxy", "state", "provider", "clock")


def models_by_provider(config: Config) -> dict[str, list[str]]:
    """Every model id the chains use, per provider, in chain order."""
    out: dict[str, list[str]] = {name: [] for name in config.providers}
    for chain in config.chains.values():
        for target in chain.targets:
            models = out.setdefault(target.provider.name, [])
            if target.model not in models:
                models.append(target.model)
    return out


async def check_providers(config: Config, *, timeout: float = 5.0, slow_threshold: float = 2.0,
                          load: ConfigLoad | None = None, now: Callable[[], float] = time.time,
                          on_done: Callable[[str], None] | None = None) -> list[ProviderCheck]:
    """Every provider checked concurrently; results in config order."""
    wanted = models_by_provider(config)

    async def one(name: str) -> ProviderCheck:
        result = await check_provider(config.providers[name], wanted.get(name, ()),
                                      timeout=timeout, slow_threshold=slow_threshold,
                                      key_missing=load.key_missing(name) if load else None,
                                      now=now)
        if on_done:
            on_done(f"provider {name}")
        return result

    def skipped(name: str) -> bool:  # optional and its key is unset: serve skips it too
        return load is not None and load.key_missing(name) in load.optional_missing

    names = [n for n in config.providers if not skipped(n)]
    return list(await asyncio.gather(*(one(n) for n in names)))


async def run_doctor(path: str | os.PathLike[str], *, port: int | None = None,
                     host: str | None = None, timeout: float = 5.0, slow_threshold: float = 2.0,
                     environ: Mapping[str, str] | None = None,
                     now: Callable[[], float] = time.time,
                     progress: Progress | None = None) -> Report:
    """Every check; exit code 0 / 1 / 2 via `Report.exit_code`."""
    started = time.perf_counter()
    load = load_for_doctor(Path(path), environ)
    config = load.config
    findings = list(load.findings)
    total = 3 + (len(config.providers) + 1 if config else 0)
    done = 0

    def tick(label: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(label, done, total)

    tick("config")
    bind_host = host or (config.server.host if config else "127.0.0.1")
    bind_port = port if port is not None else (config.server.port if config else 4100)
    findings.append(check_port(bind_host, bind_port))
    tick("port")
    findings.append(check_proxy_env(config.providers.values() if config else (), bind_host))
    tick("proxy")
    if config is not None:
        findings += check_keys(config, missing=load.missing)

        async def state() -> Finding:
            finding = await check_state(config.state, timeout=timeout)
            tick("state")
            return finding
        state_finding, results = await asyncio.gather(
            state(), check_providers(config, timeout=timeout, slow_threshold=slow_threshold,
                                     load=load, now=now, on_done=tick))
        findings.append(state_finding)
        for result in results:
            findings += result.findings
        skews = {r.provider: r.clock_skew for r in results if r.clock_skew is not None}
        findings.append(check_clock(skews))
    ordered = sorted(findings, key=lambda f: _ORDER.index(f.check) if f.check in _ORDER else 99)
    return Report.of(ordered, time.perf_counter() - started)


def startup_findings(config: Config) -> list[Finding]:
    """The fast subset `serve` runs before binding: no network, a few milliseconds."""
    findings = warnings_as_findings(config)
    findings += [f for f in check_keys(config) if f.severity >= Severity.WARNING]
    proxy = check_proxy_env(config.providers.values(), config.server.host)
    if proxy.severity >= Severity.WARNING:
        findings.append(proxy)
    return findings



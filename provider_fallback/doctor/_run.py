"""Running the checks: independent ones in parallel, findings in a stable order."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from ..config import Config
from ..errors import Facts
from ._commands import Runner, run_command
from ._findings import Finding, Report, Severity
from ._keys import ConfigLoad, check_keys, load_for_doctor, warnings_as_findings
from ._local import check_clock, check_port, check_proxy_env
from ._network import ProviderCheck, check_provider, is_loopback
from ._state import check_state
from ._windows import check_excluded_ports, check_firewall, check_wsl_address

__all__ = ["Progress", "check_providers", "machine_checks", "run_doctor", "startup_findings"]

# called with (label of the check that just finished, done, total)
Progress = Callable[[str, int, int], None]
_ORDER = ("config", "env", "keys", "port", "windows", "proxy", "state", "provider", "clock")


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
                     progress: Progress | None = None, platform: str = sys.platform,
                     runner: Runner = run_command) -> Report:
    """Every check; exit code 0 / 1 / 2 via `Report.exit_code`. The machine's checks (port,
    Windows' traps) run OS tools in a worker thread, alongside the network checks."""
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

    async def machine() -> list[Finding]:
        found = await asyncio.to_thread(machine_checks, config, bind_host, bind_port,
                                        platform=platform, runner=runner)
        tick("port")
        return found

    findings.append(check_proxy_env(config.providers.values() if config else (), bind_host))
    tick("proxy")
    if config is None:
        findings += await machine()
    else:
        findings += check_keys(config, missing=load.missing)

        async def state() -> Finding:
            finding = await check_state(config.state, timeout=timeout)
            tick("state")
            return finding
        local, state_finding, results = await asyncio.gather(
            machine(), state(),
            check_providers(config, timeout=timeout, slow_threshold=slow_threshold,
                            load=load, now=now, on_done=tick))
        findings += local
        findings.append(state_finding)
        for result in results:
            findings += result.findings
        skews = {r.provider: r.clock_skew for r in results if r.clock_skew is not None}
        findings.append(check_clock(skews))
    general = _general_facts(Path(path), bind_host, bind_port)
    ordered = sorted((replace(f, facts=f.facts.merge(general)) for f in findings),
                     key=lambda f: _ORDER.index(f.check) if f.check in _ORDER else 99)
    return Report.of(ordered, time.perf_counter() - started)


def _general_facts(path: Path, host: str, port: int) -> Facts:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return Facts.of(config=path, env_file=path.parent / ".env",
                    gateway_url=f"http://{shown}:{port}")


def machine_checks(config: Config | None, host: str, port: int, *,
                   platform: str = sys.platform, runner: Runner = run_command) -> list[Finding]:
    """The serve port, and on Windows its traps: excluded port ranges (the gateway's port
    and every local provider's), the firewall for a non-loopback bind, WSL2 addresses.
    Blocking (OS tools, with timeouts): run it in a thread."""
    findings = [check_port(host, port, platform=platform, runner=runner)]
    if platform != "win32":
        return findings
    ports = [("gateway", port)]
    providers: list[tuple[str, str, int]] = []
    for p in (config.providers.values() if config else ()):
        parts = urlsplit(p.base_url)
        p_host = parts.hostname or ""
        p_port = parts.port or (443 if parts.scheme == "https" else 80)
        providers.append((p.name, p_host, p_port))
        if is_loopback(p_host) and (f"provider {p.name}", p_port) not in ports:
            ports.append((f"provider {p.name}", p_port))
    findings += check_excluded_ports(ports, runner=runner)
    if not is_loopback(host):
        findings.append(check_firewall(host, port, runner=runner))
    findings += check_wsl_address(providers, runner=runner)
    return findings


def startup_findings(config: Config) -> list[Finding]:
    """The fast subset `serve` runs before binding: no network, a few milliseconds."""
    findings = warnings_as_findings(config)
    findings += [f for f in check_keys(config) if f.severity >= Severity.WARNING]
    proxy = check_proxy_env(config.providers.values(), config.server.host)
    if proxy.severity >= Severity.WARNING:
        findings.append(proxy)
    return findings



"""Windows' own traps, checked the way the runbook checks them by hand:

- ports inside an excluded range (`netsh int ipv4 show excludedportrange protocol=tcp`):
  Hyper-V, WinNAT, Docker and WSL2 reserve blocks of ports, and binding one fails with
  WinError 10013 although nothing listens there;
- a non-loopback bind without an inbound Windows Firewall rule (`netsh advfirewall`);
- a provider URL on a WSL2 address (the vEthernet (WSL) network in `ipconfig`), which
  changes every time WSL restarts.

Parsers take recorded output, so the tests run them on any OS; the checks take a runner
and are called from a worker thread.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import Facts
from ._commands import Runner, run_command
from ._findings import Finding, Severity

__all__ = ["ExcludedRange", "FirewallRule", "check_excluded_ports", "check_firewall",
           "check_wsl_address", "free_port_outside", "parse_excluded_ranges",
           "parse_firewall_rules", "parse_firewall_state", "parse_wsl_networks"]

_RANGE = re.compile(r"^\s*(\d{1,5})\s+(\d{1,5})\s*(\*)?\s*$")
_QUAD = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3})\b")
_EXCLUDED = ["netsh", "int", "ipv4", "show", "excludedportrange", "protocol=tcp"]
_RULES = ["netsh", "advfirewall", "firewall", "show", "rule", "name=all", "dir=in", "verbose"]
_STATE = ["netsh", "advfirewall", "show", "allprofiles", "state"]


@dataclass(frozen=True, slots=True)
class ExcludedRange:
    start: int
    end: int
    administered: bool      # "*": added by an administrator (netsh add), usable by apps

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.start <= port <= self.end


def parse_excluded_ranges(text: str) -> list[ExcludedRange]:
    """Rows of two port numbers (and `*` for administered exclusions); the headings are
    translated on non-English Windows and ignored."""
    out = []
    for line in text.splitlines():
        m = _RANGE.match(line)
        if m and int(m.group(1)) <= int(m.group(2)) <= 65535:
            out.append(ExcludedRange(int(m.group(1)), int(m.group(2)), m.group(3) == "*"))
    return out


def free_port_outside(ranges: Sequence[ExcludedRange], near: int) -> int:
    """The first port above `near` in no range (and not 4000, LiteLLM's usual port)."""
    port = near + 1
    while port <= 65535:
        hit = next((r for r in ranges if port in r), None)
        if hit is None and port != 4000:
            return port
        port = hit.end + 1 if hit is not None else port + 1
    return 1025


def check_excluded_ports(ports: Iterable[tuple[str, int]], *,
                         runner: Runner = run_command) -> list[Finding]:
    """One finding per (label, port) that lies in a range Windows reserves."""
    text = runner(_EXCLUDED, 5.0)
    if text is None:
        return [Finding("windows", "excluded ports", Severity.INFO,
                        "could not run `netsh int ipv4 show excludedportrange protocol=tcp`")]
    ranges = parse_excluded_ranges(text)
    findings = []
    for label, port in ports:
        hit = next((r for r in ranges if port in r and not r.administered), None)
        if hit is None:
            continue
        instead = free_port_outside(ranges, port)
        findings.append(Finding(
            "windows", f"{label} port {port}", Severity.ERROR,
            f"port {port} ({label}) is inside the excluded range {hit.start}-{hit.end} that "
            "Windows reserves (Hyper-V / WinNAT / WSL2): binding it fails with WinError 10013",
            "port_excluded", (), {"range": [hit.start, hit.end], "instead": instead},
            Facts.of(port=port, next_port=instead)))
    if not findings:
        shown = ", ".join(str(p) for _, p in ports) or "none"
        findings.append(Finding("windows", "excluded ports", Severity.OK,
                                f"ports {shown} are outside the {len(ranges)} excluded ranges"))
    return findings


@dataclass(frozen=True, slots=True)
class FirewallRule:
    name: str
    enabled: bool
    allow: bool
    protocol: str          # TCP, UDP, Any, ...
    local_ports: str       # "Any", "4000", "4000-4010,8080"
    program: str           # "Any" or a path

    def admits(self, port: int, programs: Iterable[str]) -> bool:
        if not (self.enabled and self.allow and self.protocol.upper() in ("TCP", "ANY")):
            return False
        if self.program.lower() not in ("any", "") and self.program.lower() not in {
                p.lower() for p in programs}:
            return False
        return _port_in(port, self.local_ports)


def _port_in(port: int, spec: str) -> bool:
    for part in spec.replace(" ", "").split(","):
        if part.lower() == "any":
            return True
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (hi or lo).isdigit() and int(lo) <= port <= int(hi or lo):
            return True
    return False


def parse_firewall_rules(text: str) -> list[FirewallRule]:
    """`netsh advfirewall firewall show rule name=all dir=in verbose` (English labels)."""
    rules: list[FirewallRule] = []
    fields: dict[str, str] = {}

    def flush() -> None:
        if "rule name" in fields:
            rules.append(FirewallRule(
                fields["rule name"], fields.get("enabled", "").lower() == "yes",
                fields.get("action", "").lower() == "allow", fields.get("protocol", "Any"),
                fields.get("localport", "Any"), fields.get("program", "Any")))

    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if not sep or line.startswith(" "):
            continue
        key = label.strip().lower()
        if key == "rule name":
            flush()
            fields = {}
        fields[key] = value.strip()   # "Program: C:\\..." splits at the label's colon
    flush()
    return rules


def parse_firewall_state(text: str) -> list[bool]:
    """`netsh advfirewall show allprofiles state` -> on/off per profile (English)."""
    return [line.split()[-1].upper() == "ON" for line in text.splitlines()
            if line.strip().lower().startswith("state") and line.split()[-1].upper()
            in ("ON", "OFF")]


def check_firewall(host: str, port: int, *, runner: Runner = run_command,
                   programs: Sequence[str] | None = None) -> Finding:
    """Would other machines get through Windows Firewall to `serve` on host:port?"""
    where = f"{host}:{port}"
    state = parse_firewall_state(runner(_STATE, 5.0) or "")
    if state and not any(state):
        return Finding("windows", where, Severity.OK, "Windows Firewall is off for every profile")
    text = runner(_RULES, 10.0)
    rules = parse_firewall_rules(text or "")
    facts = Facts.of(host=host, port=port)
    if not rules:
        return Finding("windows", where, Severity.INFO,
                       "could not read the Windows Firewall rules (not English, or netsh "
                       "failed): check by hand with `Get-NetFirewallPortFilter | Where-Object "
                       f"LocalPort -eq {port} | Get-NetFirewallRule`", facts=facts)
    programs = list(programs if programs is not None else _our_programs())
    allowing = [r.name for r in rules if r.admits(port, programs)]
    if allowing:
        return Finding("windows", where, Severity.OK,
                       f"Windows Firewall lets connections in to port {port} "
                       f"(rule {allowing[0]!r})", detail={"rules": allowing[:5]})
    return Finding("windows", where, Severity.WARNING,
                   f"serve binds {host}, but no enabled inbound Windows Firewall rule allows "
                   f"TCP port {port} (or this Python): other machines cannot connect",
                   "firewall_blocks_port", facts=facts)


def _our_programs() -> list[str]:
    # a venv's python.exe starts the base interpreter, which is what the firewall sees
    found = {sys.executable, getattr(sys, "_base_executable", sys.executable)}
    return [str(Path(p)) for p in found if p]


def parse_wsl_networks(ipconfig: str) -> list[ipaddress.IPv4Network]:
    """The networks of `ipconfig`'s "vEthernet (WSL...)" adapters. The adapter's name is
    not translated; its labels are, so the address and mask are its first two quads."""
    networks = []
    in_wsl = False
    quads: list[str] = []
    for line in [*ipconfig.splitlines(), "end:"]:
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            if in_wsl and len(quads) >= 2:
                try:
                    networks.append(ipaddress.IPv4Network(f"{quads[0]}/{quads[1]}",
                                                          strict=False))
                except ValueError:
                    pass
            in_wsl, quads = "(WSL" in line, []
        elif in_wsl:
            quads += _QUAD.findall(line)
    return networks


_WSL_DEFAULT = ipaddress.IPv4Network("172.16.0.0/12")


def check_wsl_address(providers: Iterable[tuple[str, str, int]], *,
                      runner: Runner = run_command) -> list[Finding]:
    """(name, host, port) of providers whose host is a WSL2 VM address."""
    candidates = []
    for name, host, port in providers:
        try:
            ip = ipaddress.IPv4Address(host)
        except ValueError:
            continue
        if ip.is_private and not ip.is_loopback:
            candidates.append((name, ip, port))
    if not candidates:
        return []
    networks = parse_wsl_networks(runner(["ipconfig"], 5.0) or "")
    findings = []
    for name, ip, port in candidates:
        net = next((n for n in networks if ip in n), None)
        if net is None and not (not networks and ip in _WSL_DEFAULT
                                and runner(["where", "wsl.exe"], 3.0)):
            continue
        why = (f"the WSL2 network {net}" if net is not None
               else "the range WSL2 uses (WSL is not running now)")
        findings.append(Finding(
            "windows", name, Severity.WARNING,
            f"{name}'s base_url points at {ip}, in {why}: that address changes every time "
            "WSL restarts", "wsl_address", (), {"host": str(ip)},
            Facts.of(provider=name, host=ip, port=port)))
    return findings

"""Windows' own traps (excluded port ranges, the firewall, WSL2 addresses, who holds a busy
port), checked from recorded output of netsh, netstat, tasklist, ipconfig and lsof, so
these tests run on any OS."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from doctor_support import by, closed_port, write_config

from provider_fallback.doctor import run_doctor
from provider_fallback.doctor._commands import decode_output, run_command
from provider_fallback.doctor._ports import (
    Holder,
    find_holder,
    parse_lsof,
    parse_netstat_listeners,
    parse_tasklist,
)
from provider_fallback.doctor._windows import (
    check_excluded_ports,
    check_firewall,
    check_wsl_address,
    free_port_outside,
    parse_excluded_ranges,
    parse_firewall_rules,
    parse_firewall_state,
    parse_wsl_networks,
)
from provider_fallback.errors import Shell

RECORDED = Path(__file__).parent / "recorded"
PYTHON_EXE = r"C:\Users\pavel\AppData\Local\Programs\Python\Python311\python.exe"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text(encoding="utf-8")


class FakeWindows:
    """A runner answering each tool with recorded output; remembers calls and threads."""

    def __init__(self, **outputs: str | None) -> None:
        self.outputs = outputs
        self.calls: list[list[str]] = []
        self.threads: set[int] = set()

    def __call__(self, args: Sequence[str], timeout: float) -> str | None:
        assert timeout > 0
        self.calls.append(list(args))
        self.threads.add(threading.get_ident())
        key = {"netsh int": "excluded", "netsh advfirewall firewall": "rules",
               "netsh advfirewall show": "state", "netstat": "netstat", "tasklist": "tasklist",
               "ipconfig": "ipconfig", "where": "where", "lsof": "lsof"}
        for prefix, name in key.items():
            if " ".join(args).startswith(prefix):
                return self.outputs.get(name)
        raise AssertionError(f"unexpected command {args}")


# -- parsers -------------------------------------------------------------------------------
def test_excluded_ranges_and_a_port_outside_them() -> None:
    ranges = parse_excluded_ranges(recorded("netsh_excludedportrange.txt"))
    assert [(r.start, r.end, r.administered) for r in ranges] == [
        (1080, 1179, False), (1180, 1279, False), (2869, 2869, False), (3925, 4024, False),
        (5357, 5357, False), (50000, 50059, True), (50060, 50159, False)]
    assert free_port_outside(ranges, 4000) == 4025
    assert free_port_outside(ranges, 1100) == 1280


def test_netstat_listeners_whatever_the_language() -> None:
    english = parse_netstat_listeners(recorded("netstat_ano.txt"))
    assert english[4000] == 15432 and english[135] == 1104 and english[4100] == 20400
    assert 52144 not in english and 5353 not in english      # a client socket, UDP
    assert parse_netstat_listeners(recorded("netstat_ano_de.txt")) == {135: 1104, 4100: 8812}


def test_tasklist_and_lsof() -> None:
    assert parse_tasklist(recorded("tasklist_15432.txt")) == {15432: "python.exe"}
    assert parse_tasklist(recorded("tasklist_none.txt")) == {}
    assert parse_lsof(recorded("lsof_listen.txt")) == Holder(48213, "Python")
    assert parse_lsof("") is None


def test_firewall_rules_and_state() -> None:
    rules = parse_firewall_rules(recorded("netsh_firewall_rules.txt"))
    assert [r.name for r in rules] == ["Python", "LiteLLM", "Old gateway", "Block 4100", "Python"]
    assert rules[0].program == PYTHON_EXE and rules[0].protocol == "UDP"
    assert rules[1].admits(4000, []) and not rules[1].admits(4100, [])
    assert not rules[2].admits(4105, [])        # disabled
    assert not rules[3].admits(4100, [])        # a block rule
    assert rules[4].admits(4100, [PYTHON_EXE.upper()]) and not rules[4].admits(4100, [])
    assert parse_firewall_state(recorded("netsh_firewall_state_on.txt")) == [True] * 3
    assert parse_firewall_state(recorded("netsh_firewall_state_off.txt")) == [False] * 3


def test_wsl_networks_whatever_the_language() -> None:
    assert [str(n) for n in parse_wsl_networks(recorded("ipconfig.txt"))] == ["172.29.160.0/20"]
    assert [str(n) for n in parse_wsl_networks(recorded("ipconfig_de.txt"))] == ["172.18.64.0/20"]


def test_output_decoding_never_raises() -> None:
    assert decode_output("ABHÖREN".encode("cp850")).startswith("ABH")
    assert decode_output("\ufeff172.29.170.5\r\n".encode("utf-16-le")).strip() == "172.29.170.5"
    assert decode_output("→ ok".encode()) == "→ ok"


def test_a_hung_or_missing_tool_is_none() -> None:
    assert run_command([sys.executable, "-c", "import time; time.sleep(30)"], 0.5) is None
    assert run_command(["no-such-tool-provider-fallback"], 1.0) is None
    assert run_command([sys.executable, "-c", "print('hi')"], 10.0).strip() == "hi"


# -- checks --------------------------------------------------------------------------------
def test_a_port_in_an_excluded_range_gets_the_netsh_fix_and_a_free_port() -> None:
    fake = FakeWindows(excluded=recorded("netsh_excludedportrange.txt"))
    findings = check_excluded_ports([("gateway", 4100), ("provider litellm", 4000),
                                     ("provider admin", 50010)], runner=fake)
    [f] = findings
    assert (f.code, f.severity.name, f.subject) == ("port_excluded", "ERROR",
                                                     "provider litellm port 4000")
    assert "3925-4024" in f.message and f.detail["instead"] == 4025
    steps = " ".join(f.steps(Shell.POWERSHELL))
    assert "netsh int ipv4 add excludedportrange protocol=tcp startport=4000 numberofports=1" in steps
    assert "net stop winnat" in steps and "Pick port 4025" in steps and "--port 4025" in steps


def test_ports_outside_every_range_are_ok() -> None:
    fake = FakeWindows(excluded=recorded("netsh_excludedportrange.txt"))
    [f] = check_excluded_ports([("gateway", 4100)], runner=fake)
    assert f.severity.name == "OK"


def test_firewall_for_a_non_loopback_bind() -> None:
    on = recorded("netsh_firewall_state_on.txt")
    rules = recorded("netsh_firewall_rules.txt")
    blocked = check_firewall("0.0.0.0", 4100, runner=FakeWindows(state=on, rules=rules),
                             programs=[r"C:\other\python.exe"])
    assert (blocked.code, blocked.severity.name) == ("firewall_blocks_port", "WARNING")
    ps = " ".join(blocked.steps(Shell.POWERSHELL))
    assert 'New-NetFirewallRule -DisplayName "provider-fallback 4100" -Direction Inbound ' \
           "-Protocol TCP -LocalPort 4100 -Action Allow" in ps
    assert "localport=4100" in " ".join(blocked.steps(Shell.CMD))
    by_program = check_firewall("0.0.0.0", 4100, runner=FakeWindows(state=on, rules=rules),
                                programs=[PYTHON_EXE])
    assert by_program.severity.name == "OK" and "Python" in by_program.message
    by_port = check_firewall("192.168.1.23", 4000, runner=FakeWindows(state=on, rules=rules),
                             programs=[])
    assert by_port.severity.name == "OK" and "LiteLLM" in by_port.message
    off = check_firewall("0.0.0.0", 4100, runner=FakeWindows(
        state=recorded("netsh_firewall_state_off.txt"), rules=None))
    assert off.severity.name == "OK" and "off" in off.message
    unknown = check_firewall("0.0.0.0", 4100, runner=FakeWindows(state=None, rules="Regelname: x"))
    assert unknown.severity.name == "INFO" and "Get-NetFirewallPortFilter" in unknown.message


def test_a_provider_on_a_wsl2_address() -> None:
    fake = FakeWindows(ipconfig=recorded("ipconfig.txt"))
    [f] = check_wsl_address([("litellm", "172.29.170.5", 4000), ("lan", "192.168.1.50", 8000),
                             ("local", "127.0.0.1", 4000), ("groq", "api.groq.com", 443)],
                            runner=fake)
    assert (f.code, f.subject, f.severity.name) == ("wsl_address", "litellm", "WARNING")
    assert "172.29.160.0/20" in f.message
    assert "http://localhost:4000" in " ".join(f.steps(Shell.POWERSHELL))
    # WSL not running now: its usual range, and wsl.exe is installed
    later = FakeWindows(ipconfig="Windows IP Configuration\n", where=r"C:\Windows\wsl.exe")
    [f] = check_wsl_address([("litellm", "172.29.170.5", 4000)], runner=later)
    assert "not running" in f.message
    assert check_wsl_address([("lan", "192.168.1.50", 8000)], runner=fake) == []


# -- the whole doctor, as on Windows --------------------------------------------------------
async def test_doctor_on_windows_names_the_holder_and_the_traps(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    netstat = recorded("netstat_ano.txt").replace("127.0.0.1:4000         0.0.0.0:0",
                                                  f"127.0.0.1:{port:<5}        0.0.0.0:0")
    litellm_port = closed_port()
    excluded = recorded("netsh_excludedportrange.txt").replace(
        "      5357        5357", f"     {litellm_port:>5}       {litellm_port:>5}")
    fake = FakeWindows(netstat=netstat, tasklist=recorded("tasklist_15432.txt"),
                       excluded=excluded, ipconfig=recorded("ipconfig.txt"))
    path = write_config(tmp_path / "gw.yaml",
                        [{"name": "litellm", "base_url": f"http://127.0.0.1:{litellm_port}/v1"},
                         {"name": "wsl", "base_url": "http://172.29.170.5:4000/v1"}],
                        {"chat": ["litellm/groq-70b", "wsl/m"]}, health={"enabled": False})
    try:
        report = await run_doctor(path, port=port, timeout=0.5, platform="win32", runner=fake,
                                  environ={})
    finally:
        busy.close()
    [held] = by(report, check="port")
    assert held.code == "address_in_use" and "pid 15432 (python.exe)" in held.message
    ps = " ".join(held.steps(Shell.POWERSHELL))
    assert f"Get-NetTCPConnection -LocalPort {port}" in ps and "Stop-Process -Id 15432" in ps
    assert "taskkill /PID 15432 /F" in " ".join(held.steps(Shell.CMD))
    assert f"--config {path}" in ps      # the real file, not provider_config.yaml
    [excl] = by(report, code="port_excluded")
    assert excl.subject == f"provider litellm port {litellm_port}"
    [wsl] = by(report, code="wsl_address")
    assert wsl.subject == "wsl"
    assert not by(report, code="firewall_blocks_port")     # loopback bind: not checked
    # every OS tool ran in a worker thread, never on the event loop's
    assert fake.calls and threading.get_ident() not in fake.threads


async def test_doctor_elsewhere_runs_no_windows_tool(tmp_path: Path) -> None:
    fake = FakeWindows()
    path = write_config(tmp_path / "gw.yaml", [{"name": "p", "base_url": "http://127.0.0.1:9/v1"}],
                        {"chat": ["p/m"]})
    report = await run_doctor(path, timeout=0.5, platform="linux", runner=fake, environ={})
    assert fake.calls == [] and not by(report, check="windows")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_linux_holder_from_proc() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        holder = find_holder(busy.getsockname()[1], platform="linux",
                             runner=FakeWindows())
    assert holder is not None and holder.pid > 0 and holder.name

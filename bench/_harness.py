"""What the benchmark scripts share: ports, processes pinned to cores, the load generator
(wrk, else bench/loadgen.py), request bodies, and a process's CPU time and memory.

CPU and memory come from psutil when installed, else from /proc (Linux); elsewhere
they are reported as unknown (None), never guessed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["HERE", "Proc", "body", "cpu_seconds", "free_port", "load", "loadgen_name",
           "memory_mib", "parse_wrk", "start", "stop_all", "stop_on_sigterm", "verify", "wait_port"]

HERE = Path(__file__).resolve().parent
MESSAGES = [{"role": "user", "content": "Write a haiku about fallbacks."}]


def body(chunks: int) -> str:
    """The chat request of a mode: non-streaming (chunks 0, a 16-token answer) or a stream
    of `chunks` content chunks (the fast upstream answers `max_tokens` tokens, one chunk
    each) that asks for the usage chunk, as cost-tracking agents do."""
    req: dict[str, Any] = {"model": "bench", "messages": MESSAGES}
    if chunks:
        req.update(max_tokens=chunks, stream=True, stream_options={"include_usage": True})
    else:
        req["max_tokens"] = 16
    return json.dumps(req, separators=(",", ":"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def stop_on_sigterm() -> None:
    """`timeout` and CI send SIGTERM: exit through the `finally` blocks, so the gateways and
    upstreams this script started are stopped too, never left running."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def _pinner(cores: set[int] | None) -> Callable[[], None] | None:
    """A preexec function pinning the child (and so every process it spawns, e.g. the
    workers of `serve --workers 2`) to `cores`, where the OS allows."""
    count = os.cpu_count() or 1
    if not cores or not hasattr(os, "sched_setaffinity") or count <= max(cores):
        return None

    def pin() -> None:
        try:
            os.sched_setaffinity(0, cores)
        except OSError:
            pass
    return pin


class Proc:
    """A process this script started, with its log file (stderr+stdout)."""

    def __init__(self, name: str, cmd: list[str], log: Path, cores: set[int] | None,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name = name
        self.log = log
        self._out = log.open("wb")
        self.popen = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT,
                                      env={**os.environ, **(env or {})}, cwd=cwd,
                                      preexec_fn=_pinner(cores))

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check(self) -> None:
        if self.popen.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{tail}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._out.close()


def start(name: str, cmd: list[str], port: int, logdir: Path, cores: set[int] | None,
          env: dict[str, str] | None = None, cwd: Path | None = None) -> Proc:
    proc = Proc(name, cmd, logdir / f"{name.replace(' ', '-')}.log", cores, env, cwd)
    end = time.time() + 60
    while time.time() < end:
        proc.check()
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.stop()
    raise RuntimeError(f"{name} never listened on {port}")


def stop_all(procs: list[Proc]) -> None:
    for p in procs:
        if p.popen.poll() is None:
            p.popen.terminate()
    for p in procs:
        p.stop()


# -- the load generator ---------------------------------------------------------------

def loadgen_name() -> str:
    return "wrk" if shutil.which("wrk") else "bench/loadgen.py"


def _lua(payload: str) -> str:
    # a Lua long string: the JSON body needs no escaping
    return (f'wrk.method = "POST"\nwrk.body = [==[{payload}]==]\n'
            'wrk.headers["Content-Type"] = "application/json"\n')


def load(url: str, payload: str, connections: int, duration: float, *,
         cores: set[int] | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Closed-loop load for `duration` seconds; {rps, requests, p50_ms, p99_ms, errors}."""
    wrk = shutil.which("wrk")
    pin = _pinner(cores)
    if wrk:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(_lua(payload))
        cmd = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency",
               "-s", f.name]
        if timeout:
            cmd.append(f"--timeout={timeout:g}s")
        try:
            out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True,
                                 preexec_fn=pin).stdout
        finally:
            os.unlink(f.name)
        return parse_wrk(out)
    out = subprocess.run([sys.executable, str(HERE / "loadgen.py"), url, "--connections",
                          str(connections), "--duration", str(duration), "--body", payload],
                         capture_output=True, text=True, check=True,
                         preexec_fn=pin).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _ms(text: str) -> float:
    text = text.strip()
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * f
    return float(text)


def parse_wrk(out: str) -> dict[str, Any]:
    res: dict[str, Any] = {"errors": 0, "timeouts": 0}
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
            # "Socket errors: connect 0, read 2, write 0, timeout 3" (timeouts among errors)
            res["errors"] += sum(int(p.strip(",")) for p in parts[3::2])
            res["timeouts"] = int(parts[-1])
    return res


# -- what a process costs ---------------------------------------------------------------

def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, ()))
    return out


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of `pid` and its children (workers) so far."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            proc = psutil.Process(pid)
            total = 0.0
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
            return total
        except psutil.Error:
            return None
    if not Path("/proc/self/stat").exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])   # utime, stime (fields 14, 15)
    return total / tick


def memory_mib(pid: int) -> dict[str, float | None] | None:
    """{rss, peak} MiB of `pid` (peak: the high-water mark, Linux only) and its children."""
    if Path(f"/proc/{pid}/status").exists():
        rss = peak = 0
        for p in _tree(pid):
            try:
                status = Path(f"/proc/{p}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    peak += int(line.split()[1])
        return {"rss": round(rss / 1024, 1), "peak": round(peak / 1024, 1)}
    try:
        import psutil
    except ImportError:
        return None
    try:
        proc = psutil.Process(pid)
        rss = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
    except psutil.Error:
        return None
    return {"rss": round(rss / 2**20, 1), "peak": None}


def verify(url: str, chunks: int, timeout: float = 30) -> str | None:
    """Send one request of the mode; None if the answer is complete (non-streaming: 200 with
    a message; streaming: `chunks` content chunks, a finish reason, usage and [DONE]),
    else what is wrong. Run before measuring: wrk counts a 200 as a success whatever
    the stream said."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", parts.path, body(chunks), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
    except OSError as exc:
        return f"no answer: {exc}"
    finally:
        conn.close()
    if resp.status != 200:
        return f"HTTP {resp.status}: {raw[:300]!r}"
    if not chunks:
        try:
            answer = json.loads(raw)
            answer["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            return f"not a chat completion: {raw[:300]!r}"
        return None
    events = [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]
    if not events or events[-1] != "[DONE]":
        return f"stream did not end with [DONE]: {raw[-300:]!r}"
    content = finish = usage = 0
    for e in events[:-1]:
        obj = json.loads(e)
        if obj.get("usage"):
            usage += 1
        for choice in obj.get("choices") or ():
            if (choice.get("delta") or {}).get("content"):
                content += 1
            if choice.get("finish_reason"):
                finish += 1
    if (content, finish, usage) != (chunks, 1, 1):
        return (f"expected {chunks} content chunks, 1 finish, 1 usage; got {content}, "
                f"{finish}, {usage}")
    return None

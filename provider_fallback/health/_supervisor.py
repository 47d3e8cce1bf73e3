"""A supervised local upstream (e.g. the user's LiteLLM proxy): started with the gateway,
restarted when it exits or when probes say it is down, with backoff and an hourly cap.

Subprocesses start on whatever loop runs (see _process.py: asyncio's where the loop has
them, a Popen thread on Windows' SelectorEventLoop). With `serve --workers N` this runs
in the supervisor process only (see _supervision.py), never once per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..config import SupervisorSpec
from ..errors._scrub import clip, scrub_secrets
from ..telemetry import EventBus
from ._process import UpstreamProcess, start_process

__all__ = ["Supervisor"]

log = logging.getLogger("provider_fallback.supervisor")

_TAIL = 50            # output lines kept for status
_STOP_GRACE = 5.0     # seconds between terminate and kill
_UNHEALTHY_PROBES = 2  # consecutive failed quick pings before a restart


class Supervisor:
    def __init__(self, provider: str, spec: SupervisorSpec, events: EventBus, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self.spec = spec
        self.events = events
        self._clock = clock
        self._proc: UpstreamProcess | None = None
        self._watch: asyncio.Task[None] | None = None
        self._restarts: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._stopping = False
        self._started_at = 0.0
        self._failed_probes = 0
        self._backoff = 1.0
        self._gave_up = False
        self.last_reason = ""
        self.tail: deque[str] = deque(maxlen=_TAIL)

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        async with self._lock:
            await self._spawn("gateway started")

    async def stop(self) -> None:
        self._stopping = True
        async with self._lock:
            await self._terminate()

    async def _spawn(self, reason: str) -> None:
        spec = self.spec
        env = {**os.environ, **spec.env} if spec.env else None
        try:
            proc = await start_process(spec.command, cwd=spec.cwd, env=env)
        except OSError as exc:
            self.last_reason = f"could not start {spec.command[0]!r}: {exc}"
            log.error("supervised upstream %s: %s", self.provider, self.last_reason)
            self.events.emit("UPSTREAM_RESTART_FAILED", provider=self.provider,
                             reason=self.last_reason)
            self._proc = None
            return
        self._proc = proc
        self._started_at = self._clock()
        self._failed_probes = 0
        self.last_reason = reason
        log.info("supervised upstream %s started (pid %s): %s", self.provider, proc.pid, reason)
        self.events.emit("UPSTREAM_STARTED", provider=self.provider, pid=proc.pid, reason=reason)
        self._watch = asyncio.create_task(self._watch_process(proc))

    async def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        watch, self._watch = self._watch, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), _STOP_GRACE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    async def _watch_process(self, proc: UpstreamProcess) -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            # the upstream may print its own keys: scrub before keeping or logging
            text = clip(scrub_secrets(line.decode(errors="replace")), 300)
            self.tail.append(text)
            log.debug("[%s] %s", self.provider, text)
        code = await proc.wait()
        if self._stopping or self._proc is not proc:
            return
        # exited on its own: restart (outside this task, which _terminate would cancel)
        asyncio.get_running_loop().create_task(self.restart(f"exited with code {code}"))

    # -- decisions --------------------------------------------------------------------
    def observe_probe(self, ok: bool, code: str | None) -> None:
        """Called after each quick ping of this provider."""
        if ok:
            self._failed_probes = 0
            self._backoff = 1.0
            return
        self._failed_probes += 1
        in_grace = self._clock() - self._started_at < self.spec.startup_grace
        if (self.spec.restart_on_unhealthy and not in_grace
                and self._failed_probes >= _UNHEALTHY_PROBES and not self._lock.locked()):
            asyncio.get_running_loop().create_task(
                self.restart(f"{self._failed_probes} failed health probes ({code})"))

    async def restart(self, reason: str) -> bool:
        if self._stopping:
            return False
        async with self._lock:
            now = self._clock()
            while self._restarts and now - self._restarts[0] > 3600:
                self._restarts.popleft()
            if len(self._restarts) >= self.spec.max_restarts_per_hour:
                if not self._gave_up:
                    self._gave_up = True
                    self.last_reason = (f"not restarted ({reason}): already restarted "
                                        f"{len(self._restarts)} times in the last hour")
                    log.error("supervised upstream %s %s", self.provider, self.last_reason)
                    self.events.emit("UPSTREAM_RESTART_FAILED", provider=self.provider,
                                     reason=self.last_reason)
                return False
            self._gave_up = False
            self._restarts.append(now)
            await self._terminate()
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, 60.0)
            if self._stopping:
                return False
            log.warning("restarting supervised upstream %s: %s", self.provider, reason)
            await self._spawn(reason)
            if self._proc is not None:
                self.events.emit("UPSTREAM_RESTARTED", provider=self.provider,
                                 pid=self._proc.pid, reason=reason)
            return self._proc is not None

    def status(self) -> dict[str, Any]:
        proc = self._proc
        now = self._clock()
        return {"command": list(self.spec.command),
                "pid": proc.pid if proc is not None else None,
                "running": proc is not None and proc.returncode is None,
                "uptime_s": round(now - self._started_at, 1) if proc is not None else None,
                "restarts_last_hour": sum(1 for t in self._restarts if now - t <= 3600),
                "last_reason": self.last_reason,
                "output_tail": list(self.tail)[-5:]}

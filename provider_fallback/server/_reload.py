"""Live reload: `POST /admin/reload`, `provider-fallback reload`, and (with
`server.watch_config: true`) a change to the config file or the `.env` beside it.

The file is read and validated off the event loop; a bad file keeps the running config
and answers with the same problem list `validate` prints. A good one becomes a successor
Router (routing/_handover.py) swapped in with one assignment: new requests go to it at
once, in-flight ones finish on the old router, which is closed when they are done.

With `serve --workers N` each worker is its own process: the worker that reloads on an
admin request writes a small reload token (a file named in the environment by the
supervisor) that every other worker polls, and they reload from the same file. A file
change is seen by every worker on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._redact import REDACTOR, Redactor
from ..config import Config, load_config
from ..errors import ConfigError, InvalidRequestError
from ..routing._handover import retire, successor
from ..telemetry import config_secrets
from ._http import Receive, Scope, Send, send_json

if TYPE_CHECKING:
    from ._app import GatewayApp

__all__ = ["RELOAD_TOKEN_ENV", "Reloader", "install_reload"]

log = logging.getLogger("provider_fallback.reload")

RELOAD_TOKEN_ENV = "PROVIDER_FALLBACK_RELOAD_TOKEN"   # set by `serve --workers` for its workers
TOKEN_POLL_S = 0.25
WATCH_POLL_S = 0.5
SETTLE_S = 0.3        # a file must stay unchanged this long: editors write in several steps


class Reloader:
    """Reloads one gateway's config; one reload at a time."""

    def __init__(self, app: GatewayApp, path: str | None = None) -> None:
        self.app = app
        self.path = path or app.router.config.source
        self.generation = 0
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._token = os.environ.get(RELOAD_TOKEN_ENV)
        self._token_seen: tuple[int, int] | None = None

    # -- reloading ------------------------------------------------------------------------
    async def reload(self, *, origin: str = "admin") -> dict[str, Any]:
        """Re-read and swap in the config. Returns the answer for the admin API: `ok`, the
        changes by name, or the problems (nothing is changed then)."""
        async with self._lock:
            if not self.path:
                raise InvalidRequestError("the running config was not read from a file, so "
                                          "there is nothing to reload", code="config_error",
                                          http_status=409)
            try:
                config = await asyncio.to_thread(load_config, self.path)
            except ConfigError as exc:
                problems = list(getattr(exc, "problems", None) or [exc.message])
                log.warning("reload (%s) refused: %s; the running config stays", origin,
                            exc.message)
                self.app.router.events.emit("CONFIG_RELOAD_FAILED", origin=origin,
                                            pid=os.getpid(), code="config_error",
                                            problems=len(problems),
                                            error=exc.message[:300])
                return {"ok": False, "code": "config_error", "file": self.path,
                        "message": exc.message, "problems": problems,
                        "resolution": ["fix the file (`provider-fallback validate FILE` "
                                       "prints the same list), then reload again"]}
            old = self.app.router
            new, diff = await successor(old, config)
            self._swap(new, config)
            task = asyncio.create_task(self._retire(old), name="retire-router")
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
            self.generation += 1
            answer = {"ok": True, "generation": self.generation, "file": self.path,
                      "origin": origin, "changes": diff.as_dict(),
                      "warnings": list(config.warnings), "pid": os.getpid()}
            new.events.emit("CONFIG_RELOADED", origin=origin, generation=self.generation,
                            pid=os.getpid(), **{k: v for k, v in diff.as_dict().items() if v})
            log.info("config reloaded (%s, generation %d): %s", origin, self.generation,
                     {k: v for k, v in diff.as_dict().items() if v} or "no changes")
            if origin == "admin":
                await asyncio.to_thread(self._tell_workers)
            return answer

    def _swap(self, new: Any, config: Config) -> None:
        app = self.app
        old_secrets = app._secrets.secrets
        app.router = new                        # new requests: the new config, from now on
        app._admin.router = new
        telemetry = getattr(app, "telemetry", None)
        if telemetry is not None:
            telemetry.follow(new)
        app.master_key = config.server.master_key
        app.max_body = config.server.max_body_size
        # keys of both configs stay masked: in-flight answers may still echo an old one
        secrets = sorted({*old_secrets, *config_secrets(config)}, key=len, reverse=True)
        app._secrets = Redactor(secrets)
        REDACTOR.register(new, secrets)         # process-wide, for as long as the router lives
        new.events.redact(secrets)
        for handler in logging.getLogger().handlers:
            formatter = handler.formatter
            current = getattr(formatter, "secrets", None)
            if isinstance(current, Redactor):
                formatter.secrets = Redactor({*current.secrets, *secrets})  # type: ignore[union-attr]

    async def _retire(self, old: Any) -> None:
        try:
            await retire(old)
        except Exception:  # never let a closing pool take the gateway down
            log.exception("closing the replaced router failed")

    # -- other workers, file changes ------------------------------------------------------
    def _tell_workers(self) -> None:
        if not self._token:
            return
        path = Path(self._token)
        path.write_text(f"{os.getpid()} {self.generation} {time.time()}", encoding="utf-8")
        self._token_seen = _stamp(path)

    async def start(self) -> None:
        if self._token:
            self._token_seen = _stamp(Path(self._token))
            self._tasks.append(asyncio.create_task(self._watch_token(
                catch_up=self._token_seen is not None), name="reload-token"))
        if self.app.router.config.server.watch_config and self.path:
            self._tasks.append(asyncio.create_task(self._watch_files(), name="reload-watch"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for task in list(self._retiring):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 5.0)

    async def _watch_token(self, *, catch_up: bool = False) -> None:
        assert self._token
        path = Path(self._token)
        if catch_up:
            # a worker (re)started after a sibling reloaded: its config may be older than
            # the reload it never saw; reading the file again costs nothing if not
            await self._quietly("worker")
        while True:
            await asyncio.sleep(TOKEN_POLL_S)
            stamp = _stamp(path)
            if stamp is None or stamp == self._token_seen:
                continue
            self._token_seen = stamp
            try:
                sender = path.read_text(encoding="utf-8").split()[0]
            except (OSError, IndexError):
                continue
            if sender != str(os.getpid()):
                await self._quietly("worker")

    async def _watch_files(self) -> None:
        assert self.path
        files = [Path(self.path), Path(self.path).absolute().parent / ".env"]
        seen = [_stamp(f) for f in files]
        while True:
            await asyncio.sleep(WATCH_POLL_S)
            now = [_stamp(f) for f in files]
            if now == seen:
                continue
            while True:              # let the editor finish writing
                await asyncio.sleep(SETTLE_S)
                settled = [_stamp(f) for f in files]
                if settled == now:
                    break
                now = settled
            seen = now
            await self._quietly("file")

    async def _quietly(self, origin: str) -> None:
        try:
            await self.reload(origin=origin)
        except Exception:   # a watcher must outlive any one failed reload
            log.exception("reload (%s) failed", origin)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def install_reload(app: GatewayApp) -> Reloader:
    reloader = Reloader(app)
    app.reloader = reloader  # type: ignore[attr-defined]

    async def reload_route(scope: Scope, receive: Receive, send: Send) -> None:
        answer = await reloader.reload(origin="admin")
        await send_json(send, 200 if answer["ok"] else 422, answer)

    app.add_route("POST", "/admin/reload", reload_route)
    app.on_startup.append(reloader.start)
    app.on_shutdown.append(reloader.stop)
    return reloader

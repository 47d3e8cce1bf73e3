"""Starting a supervised upstream on whatever event loop runs: asyncio subprocesses where the
loop has them (Proactor on Windows, every Unix loop), else `subprocess.Popen` with a reader
thread. Windows' SelectorEventLoop, which uvicorn picks for `--workers`, raises
NotImplementedError from `create_subprocess_exec`.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol

__all__ = ["ThreadedProcess", "UpstreamProcess", "start_process"]

_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)   # no console window on Windows


class UpstreamProcess(Protocol):
    """What the supervisor uses of a child process (asyncio's Process has all of it)."""

    @property
    def pid(self) -> int: ...
    @property
    def returncode(self) -> int | None: ...
    @property
    def stdout(self) -> AsyncIterator[bytes] | None: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...
    async def wait(self) -> int: ...


class _Lines:
    """The child's output lines, fed by the reader thread, read with `async for`."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> bytes:
        line = await self._queue.get()
        if line is None:
            raise StopAsyncIteration
        return line


class ThreadedProcess:
    """A `subprocess.Popen` child with asyncio's Process interface (loops without
    subprocess support)."""

    def __init__(self, popen: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._popen = popen
        self._lines = _Lines()
        self._loop = loop
        threading.Thread(target=self._read, name=f"upstream-{popen.pid}-output",
                         daemon=True).start()

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    @property
    def stdout(self) -> _Lines:
        return self._lines

    def _read(self) -> None:
        assert self._popen.stdout is not None
        put = self._lines._queue.put_nowait
        try:
            for line in self._popen.stdout:
                self._loop.call_soon_threadsafe(put, line)
        except (OSError, ValueError):
            pass
        finally:
            self._popen.stdout.close()
            try:
                self._loop.call_soon_threadsafe(put, None)
            except RuntimeError:   # the loop is closed: nobody is reading any more
                pass

    def terminate(self) -> None:
        if self._popen.poll() is None:
            self._popen.terminate()

    def kill(self) -> None:
        if self._popen.poll() is None:
            self._popen.kill()

    async def wait(self) -> int:
        code = self._popen.poll()
        if code is not None:
            return code
        return await asyncio.to_thread(self._popen.wait)


async def start_process(command: Sequence[str], *, cwd: str | None,
                        env: Mapping[str, str] | None) -> UpstreamProcess:
    """Start `command` with stdout+stderr piped, stdin closed. OSError if it cannot start."""
    options = {"cwd": cwd, "env": dict(env) if env is not None else None,
               "stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE,
               "stderr": subprocess.STDOUT, "creationflags": _NO_WINDOW}
    try:
        return await asyncio.create_subprocess_exec(*command, **options)  # type: ignore[arg-type]
    except NotImplementedError:
        pass  # e.g. Windows' SelectorEventLoop: fall back to a thread
    popen = subprocess.Popen(list(command), **options)  # type: ignore[call-overload]  # noqa: S603
    return ThreadedProcess(popen, asyncio.get_running_loop())

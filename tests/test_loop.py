"""`running_loop()`: the running loop without Python 3.11's getpid() system call per lookup,
correct across loops, threads and forks; and the request path no longer looks the loop up
through asyncio once or more per request."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import aiohttp
import pytest
from gateway_harness import CHAT, gateway_running, make_config, sims_running

from provider_fallback._loop import current_task, running_loop


def test_each_asyncio_run_gets_its_own_loop_and_none_outside():
    async def which() -> asyncio.AbstractEventLoop:
        assert running_loop() is running_loop() is asyncio.get_running_loop()
        return running_loop()

    first, second = asyncio.run(which()), asyncio.run(which())
    assert first is not second
    with pytest.raises(RuntimeError):
        running_loop()   # the kept loop stopped: no loop runs here


def test_each_thread_gets_the_loop_it_runs():
    seen: dict[str, tuple[object, object]] = {}

    async def record(name: str) -> None:
        seen[name] = (running_loop(), asyncio.get_running_loop())
        await asyncio.sleep(0.05)   # the two loops run at the same time
        assert running_loop() is asyncio.get_running_loop()

    threads = [threading.Thread(target=asyncio.run, args=(record(n),)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["a"][0] is seen["a"][1] and seen["b"][0] is seen["b"][1]
    assert seen["a"][0] is not seen["b"][0]


def test_current_task_is_the_running_task():
    async def main() -> None:
        assert current_task() is asyncio.current_task()
        assert await asyncio.create_task(_task_of_itself())

    async def _task_of_itself() -> bool:
        return current_task() is asyncio.current_task()

    asyncio.run(main())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_a_forked_child_forgets_the_parents_loop():
    async def fork_inside() -> int:
        running_loop()   # kept in the parent
        pid = os.fork()
        if pid == 0:     # the child: its copy of the running loop is not its own
            try:
                running_loop()
                os._exit(1)
            except RuntimeError:
                os._exit(0)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    if sys.version_info >= (3, 12):
        pytest.skip("3.12+ uses asyncio's own lookup")
    assert asyncio.run(fork_inside()) == 0


async def test_the_request_path_does_not_look_the_loop_up_through_asyncio(monkeypatch):
    """Python 3.11's asyncio.get_running_loop() and current_task() make a getpid() system
    call each; the gateway made two per answer and four per stream (strace, 2026-12-08)."""
    calls = {"n": 0}
    real_get, real_task = asyncio.get_running_loop, asyncio.current_task

    def ours() -> bool:
        # a caller in the package, other than the kept lookup's own miss (once per loop)
        caller = sys._getframe(2).f_globals.get("__name__", "")
        return caller.startswith("provider_fallback") and caller != "provider_fallback._loop"

    def get_running_loop() -> asyncio.AbstractEventLoop:
        calls["n"] += ours()
        return real_get()

    def current(loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Task | None:
        calls["n"] += loop is None and ours()
        return real_task(loop)

    async with sims_running({"name": "p", "models": ["m"], "chunk_count": 5}) as (p,):
        cfg = make_config({"p": p}, {"chat": ["p/m"]})
        async with gateway_running(cfg) as gw, aiohttp.ClientSession() as s:
            async def ask(stream: bool) -> None:
                async with s.post(gw.url + "/chat/completions",
                                  json={"model": "chat", "stream": stream, **CHAT}) as r:
                    assert r.status == 200
                    assert (b"[DONE]" in await r.read()) is stream

            for stream in (False, True):   # warm: connections, the kept loop
                await ask(stream)
            monkeypatch.setattr(asyncio, "get_running_loop", get_running_loop)
            monkeypatch.setattr(asyncio, "current_task", current)
            for i in range(40):
                await ask(i % 2 == 0)
            monkeypatch.undo()
    assert calls["n"] <= 2, f"{calls['n']} lookups through asyncio in 40 requests"

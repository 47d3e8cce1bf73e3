"""The supervisor runs its upstream on whatever loop it gets: on a loop without subprocess
support (Windows' SelectorEventLoop, which uvicorn picks for --workers, raises
NotImplementedError from create_subprocess_exec) it falls back to Popen and a thread."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
from ports import free_port

from provider_fallback.config import SupervisorSpec
from provider_fallback.health._process import ThreadedProcess
from provider_fallback.health._supervisor import Supervisor
from provider_fallback.telemetry import EventBus


class NoSubprocessLoop(asyncio.SelectorEventLoop):
    """What Windows' SelectorEventLoop does with subprocesses."""

    async def _make_subprocess_transport(self, *args, **kwargs):  # type: ignore[override]
        raise NotImplementedError


async def _until(pred, timeout: float = 30.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not await pred():
        assert asyncio.get_running_loop().time() < end, "condition not met in time"
        await asyncio.sleep(0.05)


async def _answers(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "/models") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


async def _scenario(port: int) -> dict[str, object]:
    events = EventBus()
    spec = SupervisorSpec(command=(sys.executable, "-m", "provider_fallback", "sim", "--port",
                                   str(port), "--model", "m"), max_restarts_per_hour=3)
    sup = Supervisor("local", spec, events)
    url = f"http://127.0.0.1:{port}/v1"
    await sup.start()
    try:
        kind = type(sup._proc).__name__
        await _until(lambda: _answers(url))
        first = sup.status()["pid"]
        sup._proc.kill()                                   # the upstream dies: restarted

        async def restarted() -> bool:
            return events.count("UPSTREAM_RESTARTED") == 1 and await _answers(url)
        await _until(restarted)
        second = sup.status()["pid"]

        async def has_output() -> bool:
            return any("simulated provider" in line for line in sup.tail)
        await _until(has_output)
    finally:
        await sup.stop()
    return {"kind": kind, "first": first, "second": second, "running": sup.status()["running"],
            "down": not await _answers(url)}


def test_supervisor_on_a_loop_without_subprocesses_falls_back_to_a_thread() -> None:
    with asyncio.Runner(loop_factory=NoSubprocessLoop) as runner:
        result = runner.run(_scenario(free_port()))
    assert result["kind"] == ThreadedProcess.__name__
    assert result["first"] != result["second"]
    assert result["running"] is False and result["down"] is True     # stopped with it


def test_supervisor_on_the_default_loop_uses_asyncio_subprocesses() -> None:
    with asyncio.Runner() as runner:
        result = runner.run(_scenario(free_port()))
    assert result["kind"] == "Process" and result["down"] is True

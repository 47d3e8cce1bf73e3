"""Run one simulated provider in the foreground until Ctrl-C (any OS)."""

from __future__ import annotations

import asyncio
import os

from ._faults import Fault
from ._server import SimProvider

__all__ = ["run_sim"]


def run_sim(port: int, models: list[str], flavor: str, fault: str | None, rpm: int | None,
            latency: float) -> None:
    standing = Fault.parse(fault) if fault else None

    async def main() -> None:
        sim = SimProvider("sim", port=port, models=models, flavor=flavor, rpm=rpm, latency=latency)
        if standing is not None:
            sim.set_fault(standing)
        await sim.start()
        print(f"simulated provider on {sim.url} (models: {', '.join(models)}; flavor: {flavor}"
              f"{'; fault: ' + standing.name if standing else ''})", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await sim.stop()

    try:
        asyncio.run(_with_uvloop(main))
    except KeyboardInterrupt:
        pass


def _with_uvloop(main):  # type: ignore[no-untyped-def]
    if os.environ.get("PROVIDER_FALLBACK_LOOP", "").lower() == "asyncio":
        return main()
    try:
        import uvloop
    except ImportError:
        return main()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return main()

"""The running event loop, found without a system call.

Python 3.11's `asyncio.get_running_loop()` (and so `asyncio.current_task()`) asks the
kernel for the process id on every call, to notice a loop inherited through `fork()`;
3.12 dropped that check. The request path looks the loop up a few times per request (four
per stream), and where a system call is dear (a virtual machine that traps each one:
measured on the benchmark machine, 2026-12-08) those lookups were a visible share of a
stream's CPU. `running_loop()` keeps the loop it found per thread and trusts it while it
runs: a thread runs one loop at a time, and a loop that stopped (its `asyncio.run` ended)
is looked up afresh. A forked child forgets what its parent kept.

One pattern defeats the per-thread cache and is not supported on the request path: a loop
stopped in one thread and run again in another while the first thread runs a loop of its
own.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["current_task", "running_loop"]

running_loop: Callable[[], asyncio.AbstractEventLoop]

if sys.version_info >= (3, 12):   # no system call there: the standard lookup
    running_loop = asyncio.get_running_loop
else:
    _kept = threading.local()

    def running_loop() -> asyncio.AbstractEventLoop:
        """`asyncio.get_running_loop()` (RuntimeError when none runs in this thread)."""
        loop = getattr(_kept, "loop", None)
        if loop is not None and loop.is_running():
            return loop   # type: ignore[no-any-return]
        loop = _kept.loop = asyncio.get_running_loop()
        return loop

    if hasattr(os, "register_at_fork"):   # not on Windows, which has no fork
        os.register_at_fork(after_in_child=lambda: _kept.__dict__.clear())


def current_task() -> asyncio.Task[Any] | None:
    """`asyncio.current_task()` of the running loop."""
    return asyncio.current_task(running_loop())

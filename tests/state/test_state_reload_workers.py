"""Reload with `serve --workers 2` sharing their state through a real Redis."""

from __future__ import annotations

import sys

import pytest
from gateway_harness import sims_running
from reload_support import run_workers_reload

pytestmark = pytest.mark.skipif(sys.platform == "win32",
                                reason="spawned workers are slow to start on Windows CI")


async def test_every_worker_reloads_with_redis_state(tmp_path, redis_url, prefix):
    async with sims_running({"name": "p", "models": ["m"]}, {"name": "q", "models": ["m"]}) as (p, q):
        await run_workers_reload(tmp_path, p, q, {"backend": "redis", "url": redis_url,
                                                  "prefix": prefix})

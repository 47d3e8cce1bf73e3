"""A supervised local upstream: a real `provider-fallback sim` process the gateway manages."""

from __future__ import annotations

import sys

from gateway_harness import CHAT, eventually
from ports import free_port

from provider_fallback import Router, config_from_dict


async def test_gateway_starts_restarts_and_caps_restarts_of_a_local_upstream(tmp_path):
    port = free_port()
    cfg = config_from_dict({
        "providers": [{"name": "local", "base_url": f"http://127.0.0.1:{port}/v1",
                       "supervise": {"command": [sys.executable, "-m", "provider_fallback", "sim",
                                                 "--port", str(port), "--model", "m"],
                                     "cwd": str(tmp_path), "startup_grace": 60,  # about exits, not probes
                                     "max_restarts_per_hour": 1}}],
        "models": {"chat": ["local/m"]},
        "health": {"quick_interval": 0.2, "quick_timeout": 1},
        "policy": {"timeout": 5, "connect_timeout": 1},
    }, environ={})
    async with Router(cfg) as router:
        sup = router.monitor.supervisors["local"]

        async def answers() -> bool:
            try:
                return (await router.chat(model="chat", **CHAT)).provider == "local"
            except Exception:
                return False

        await eventually(answers, timeout=20)
        first_pid = sup.status()["pid"]
        assert router.status()["providers"]["local"]["supervised"]["running"] is True

        sup._proc.kill()                        # the upstream dies
        await eventually(lambda: router.events.count("UPSTREAM_RESTARTED") == 1, timeout=10)
        await eventually(answers, timeout=20)
        assert sup.status()["pid"] != first_pid
        assert "exited" in sup.status()["last_reason"]

        sup._proc.kill()                        # and again: over the hourly cap
        await eventually(lambda: router.events.count("UPSTREAM_RESTART_FAILED") == 1, timeout=10)
        assert "already restarted" in sup.status()["last_reason"]
    assert sup.status()["running"] is False     # stopped with the gateway


async def test_a_supervised_upstream_starts_with_probes_off(tmp_path):
    """`health.enabled: false` turns the probes off, not the supervised upstreams."""
    port = free_port()
    cfg = config_from_dict({
        "providers": [{"name": "local", "base_url": f"http://127.0.0.1:{port}/v1",
                       "supervise": {"command": [sys.executable, "-m", "provider_fallback", "sim",
                                                 "--port", str(port), "--model", "m"],
                                     "cwd": str(tmp_path), "startup_grace": 60}}],
        "models": {"chat": ["local/m"]},
        "health": {"enabled": False},
        "policy": {"timeout": 5, "connect_timeout": 1},
    }, environ={})
    async with Router(cfg) as router:
        assert router.monitor is not None and "local" in router.monitor.supervisors

        async def answers() -> bool:
            try:
                return (await router.chat(model="chat", **CHAT)).provider == "local"
            except Exception:
                return False

        await eventually(answers, timeout=60)
        probes = router.status()["providers"]["local"]["probes"]
        assert all("health.enabled" in p.get("skipped", "") for p in probes.values())

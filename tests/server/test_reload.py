"""Live reload over loopback: the gateway under uvicorn, simulated providers, a config
file edited on disk, `POST /admin/reload` (and a file watch, and the CLI)."""

from __future__ import annotations

import asyncio

import pytest
from gateway_harness import CHAT, eventually, gateway_running, sims_running
from openai import APIStatusError, AsyncOpenAI
from reload_support import post_reload, write
from typer.testing import CliRunner

from provider_fallback import load_config
from provider_fallback.cli import app as cli
from provider_fallback.errors import ConfigError
from provider_fallback.sim import Fault


def _client(gw) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0)


async def _served_by(gw, model: str = "chat") -> str:
    async with _client(gw) as client:
        raw = await client.chat.completions.with_raw_response.create(model=model, **CHAT)
        return raw.headers["x-provider-fallback-provider"]


async def test_reload_swaps_the_config_and_keeps_state_of_unchanged_targets(tmp_path):
    async with sims_running({"name": "a", "models": ["m"]}, {"name": "b", "models": ["m"]}) as (a, b):
        path = write(tmp_path / "cfg.yaml", {"a": a.url}, {"chat": ["a/m"]},
                     budget={"data_dir": str(tmp_path)})
        async with gateway_running(load_config(path)) as gw:
            first = gw.router
            for _ in range(3):
                assert await _served_by(gw) == "a"
            target = first.config.chains["chat"].targets[0]
            used = first.limits.view(target, first._clock())["rpm"]["used"]
            pool = first._client._pools["a"]
            write(path, {"a": a.url, "b": b.url}, {"chat": ["b/m", "a/m"], "more": ["a/m"]},
                  budget={"data_dir": str(tmp_path)})
            status, answer = await post_reload(gw.base_url)
            assert status == 200 and answer["ok"] is True, answer
            assert answer["changes"]["providers_added"] == ["b"]
            assert answer["changes"]["chains_added"] == ["more"]
            assert answer["changes"]["chains_changed"] == ["chat"]
            assert gw.app.router is not first
            assert await _served_by(gw) == "b"                # new requests: new chains
            assert await _served_by(gw, "more") == "a"
            router = gw.app.router
            # a's keep-alive pool moved over (no reconnects)
            assert router._client._pools["a"] is pool and not pool.closed
            # what the old router counted and recorded for a/m is still there
            assert router.state.stats("a/m").successes == 4
            assert router.limits.view(router.config.chains["more"].targets[0],
                                      router._clock())["rpm"]["used"] == used + 1
            assert router.budget is first.budget               # same spend ledger and budget
            assert [e.type for e in router.events.recent()].count("CONFIG_RELOADED") == 1
            # the old router let go of its pools once it had nothing in flight; a's lives on
            await eventually(lambda: not first._client._pools, timeout=5)
            assert not pool.closed


async def test_in_flight_requests_finish_on_the_old_config(tmp_path):
    async with sims_running({"name": "slow", "models": ["m"], "latency": 1.0},
                            {"name": "b", "models": ["m"]}) as (slow, b):
        path = write(tmp_path / "cfg.yaml", {"slow": slow.url}, {"chat": ["slow/m"]})
        async with gateway_running(load_config(path)) as gw:
            old = gw.router
            in_flight = asyncio.create_task(_served_by(gw))
            await eventually(lambda: old.inflight == 1, timeout=5)
            write(path, {"b": b.url}, {"chat": ["b/m"]})      # the slow provider is gone
            status, answer = await post_reload(gw.base_url)
            assert status == 200 and answer["changes"]["providers_removed"] == ["slow"]
            assert await _served_by(gw) == "b"
            assert old.inflight == 1 and old._client._pools   # still answering, pool open
            assert await in_flight == "slow"                   # a complete answer, old config
            await eventually(lambda: not old._client._pools, timeout=5)


async def test_a_bad_file_keeps_the_running_config_and_lists_the_problems(tmp_path):
    async with sims_running({"name": "a", "models": ["m"]}) as (a,):
        path = write(tmp_path / "cfg.yaml", {"a": a.url}, {"chat": ["a/m"]})
        async with gateway_running(load_config(path)) as gw:
            running = gw.router
            write(path, {"a": a.url}, {"chat": ["nowhere/m"]}, polcy={"timeout": 3})
            with pytest.raises(ConfigError) as validate:
                load_config(path)
            status, answer = await post_reload(gw.base_url)
            assert status == 422 and answer["ok"] is False and answer["code"] == "config_error"
            assert answer["problems"] == validate.value.problems      # validate's list
            assert len(answer["problems"]) == 2
            assert gw.app.router is running
            assert await _served_by(gw) == "a"
            assert running.events.count("CONFIG_RELOAD_FAILED") == 1


async def test_circuits_kept_for_unchanged_providers_reset_for_changed_ones(tmp_path):
    async with sims_running({"name": "a", "models": ["m"]}, {"name": "b", "models": ["m"]},
                            {"name": "c", "models": ["m"]}) as (a, b, c):
        path = write(tmp_path / "cfg.yaml", {"a": a.url, "b": b.url},
                     {"chat": ["a/m", "b/m"]})
        async with gateway_running(load_config(path)) as gw:
            a.push_fault(Fault(status=401))
            b.push_fault(Fault(status=401))
            with pytest.raises(APIStatusError):
                await _served_by(gw)                       # both keys "revoked": circuits open
            router = gw.router
            now = router._clock()
            ta, tb = router.config.chains["chat"].targets
            assert router.health.blocked(ta, now) and router.health.blocked(tb, now)
            # b moves to a new address (c's); a is untouched
            write(path, {"a": a.url, "b": c.url}, {"chat": ["a/m", "b/m"]})
            status, answer = await post_reload(gw.base_url)
            assert answer["changes"]["providers_reset"] == ["b"]
            new = gw.app.router
            ta, tb = new.config.chains["chat"].targets
            now = new._clock()
            assert new.health.blocked(ta, now).code == "invalid_api_key"  # still cooling down
            assert new.health.blocked(tb, now) is None                   # the edit may be the fix
            assert await _served_by(gw) == "b"
            assert c.count() == 1


async def test_dotenv_is_read_again(tmp_path):
    async with sims_running({"name": "a", "models": ["m"], "api_key": "sk-new-KEY-0123456789"}) as (a,):
        (tmp_path / ".env").write_text("A_KEY=sk-old-KEY-0123456789\n", encoding="utf-8")
        path = write(tmp_path / "cfg.yaml", {"a": {"name": "a", "base_url": a.url,
                                                   "api_key": "os.environ/A_KEY"}},
                     {"chat": ["a/m"]})
        async with gateway_running(load_config(path, environ={})) as gw:
            with pytest.raises(APIStatusError):
                await _served_by(gw)                        # the old key is refused
            (tmp_path / ".env").write_text("A_KEY=sk-new-KEY-0123456789\n", encoding="utf-8")
            status, answer = await post_reload(gw.base_url)
            assert answer["changes"]["providers_reset"] == ["a"]
            assert await _served_by(gw) == "a"
            assert "sk-new-KEY-0123456789" in gw.app._secrets.secrets   # masked from now on
            assert "sk-old-KEY-0123456789" in gw.app._secrets.secrets


async def test_watch_config_reloads_on_a_file_change(tmp_path):
    async with sims_running({"name": "a", "models": ["m"]}, {"name": "b", "models": ["m"]}) as (a, b):
        path = write(tmp_path / "cfg.yaml", {"a": a.url}, {"chat": ["a/m"]},
                     server={"watch_config": True})
        async with gateway_running(load_config(path)) as gw:
            await asyncio.sleep(0.1)
            write(path, {"b": b.url}, {"chat": ["b/m"]}, server={"watch_config": True})
            await eventually(lambda: gw.app.reloader.generation == 1, timeout=10)
            assert await _served_by(gw) == "b"
            events = [e for e in gw.app.router.events.recent() if e.type == "CONFIG_RELOADED"]
            assert events[-1].fields["origin"] == "file"


async def test_cli_reload(tmp_path):
    async with sims_running({"name": "a", "models": ["m"]}, {"name": "b", "models": ["m"]}) as (a, b):
        path = write(tmp_path / "cfg.yaml", {"a": a.url}, {"chat": ["a/m"]})
        async with gateway_running(load_config(path)) as gw:
            runner = CliRunner()
            write(path, {"a": a.url, "b": b.url}, {"chat": ["b/m"]})
            res = await asyncio.to_thread(runner.invoke, cli, ["reload", "--url", gw.base_url])
            assert res.exit_code == 0, res.output
            assert "reloaded" in res.output and "providers added: b" in res.output
            write(path, {"a": a.url}, {"chat": ["zzz/m"]})
            res = await asyncio.to_thread(runner.invoke, cli, ["reload", "--url", gw.base_url])
            assert res.exit_code == 1
            assert "unknown provider 'zzz'" in res.output and "config_error" in res.output
            assert await _served_by(gw) == "b"


async def test_a_supervised_upstream_keeps_running_across_a_reload(tmp_path):
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    local = {"name": "local", "base_url": f"http://127.0.0.1:{port}/v1",
             "supervise": {"command": [sys.executable, "-m", "provider_fallback", "sim",
                                       "--port", str(port), "--model", "m"],
                           "cwd": str(tmp_path), "startup_grace": 10}}
    health = {"quick_interval": 0.5, "quick_timeout": 1}
    async with sims_running({"name": "b", "models": ["m"]}) as (b,):
        path = write(tmp_path / "cfg.yaml", {"local": local}, {"chat": ["local/m"]},
                     health=health)
        async with gateway_running(load_config(path)) as gw:
            async def answers() -> bool:
                try:
                    return await _served_by(gw) == "local"
                except APIStatusError:
                    return False
            await eventually(answers, timeout=30)
            sup = gw.router.monitor.supervisors["local"]
            pid = sup.status()["pid"]
            write(path, {"local": local, "b": b.url}, {"chat": ["local/m", "b/m"]}, health=health)
            status, answer = await post_reload(gw.base_url)
            assert status == 200 and answer["changes"]["providers_added"] == ["b"]
            new = gw.app.router
            assert new.monitor.supervisors["local"] is sup and sup.status()["pid"] == pid
            assert new.events.count("UPSTREAM_STARTED") == 1     # not restarted
            assert await _served_by(gw) == "local"
            assert new.status()["providers"]["local"]["supervised"]["running"] is True
        assert sup.status()["running"] is False                 # stopped with the gateway

"""Several keys per provider (`api_key: [os.environ/K1, os.environ/K2]`): each key has its own
rate ledger and auth circuit, the key with most headroom goes first, a 429 or 401 on one key
moves to the next key before the next provider, and keys are named by index, never by value."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import aiohttp
import pytest
from gateway_harness import CHAT, gateway_running, make_config, sims_running
from openai import AsyncOpenAI

from provider_fallback import ConfigError
from provider_fallback.config import config_from_dict
from provider_fallback.sim import Fault

K1, K2 = "gsk_first_key_aaaaaaaaaaaaaaaaaaaa", "gsk_second_key_bbbbbbbbbbbbbbbbbbb"
ENV = {"GROQ_KEY_1": K1, "GROQ_KEY_2": K2}
KEYS = {"api_key": ["os.environ/GROQ_KEY_1", "os.environ/GROQ_KEY_2"]}


def _cfg(data_keys=None, environ=None):
    return config_from_dict({
        "providers": [{"name": "groq", "base_url": "https://api.groq.com/openai/v1",
                       "api_key": data_keys or KEYS["api_key"]},
                      {"name": "backup", "base_url": "http://127.0.0.1:9/v1"}],
        "models": {"fast": ["groq/llama", "backup/m"]}}, environ=ENV if environ is None else environ)


def test_each_key_is_a_provider_of_its_own_named_by_index():
    cfg = _cfg()
    assert list(cfg.providers) == ["groq", "groq#2", "backup"]
    one, two = cfg.providers["groq"], cfg.providers["groq#2"]
    assert (one.family, one.key_index, one.key_count) == ("groq", 1, 2)
    assert (two.family, two.key_index, two.key_count) == ("groq", 2, 2)
    assert one.api_key.reveal() == K1 and two.api_key.reveal() == K2
    assert two.api_key_source == "os.environ/GROQ_KEY_2"
    assert [t.key for t in cfg.chains["fast"].targets] == ["groq/llama", "groq#2/llama", "backup/m"]
    assert [p.name for p in cfg.families["groq"]] == ["groq", "groq#2"]
    assert K1 not in repr(cfg) and K2 not in repr(cfg)


def test_pass_through_and_bare_model_names_use_every_key_and_name_2_pins_one():
    cfg = _cfg()
    assert [t.key for t in cfg.resolve("groq/other").targets] == ["groq/other", "groq#2/other"]
    assert [t.key for t in cfg.resolve("groq/llama").targets] == ["groq/llama", "groq#2/llama"]
    assert [t.key for t in cfg.resolve("llama").targets] == ["groq/llama", "groq#2/llama"]
    assert [t.key for t in cfg.resolve("groq#2/llama").targets] == ["groq#2/llama"]


def test_an_unset_key_variable_leaves_the_others_with_a_warning():
    cfg = _cfg(environ={"GROQ_KEY_1": K1})
    assert list(cfg.providers) == ["groq", "backup"]
    assert any("GROQ_KEY_2 not set; it uses 1 of its 2 keys" in w for w in cfg.warnings)


def test_every_key_variable_unset_is_the_usual_problem():
    with pytest.raises(ConfigError) as err:
        _cfg(environ={})
    text = str(err.value)
    assert "GROQ_KEY_1" in text and "GROQ_KEY_2" in text


def test_an_empty_key_list_is_refused_and_literal_keys_in_a_list_are_caught():
    with pytest.raises(ConfigError) as err:
        _cfg(data_keys=[], environ={})
    assert "api_key" in str(err.value)
    with pytest.raises(ConfigError) as err:
        _cfg(data_keys=["os.environ/GROQ_KEY_1", K2])
    assert "literal secret" in str(err.value) and K2 not in str(err.value)


@asynccontextmanager
async def _two_keys(chain=("groq/m", "backup/m"), policy=None, **sim):
    """A sim accepting K1 and K2 (`sim` overrides its settings), a backup, and the gateway
    with `groq` configured with both keys."""
    spec = {"name": "groq", "models": ["m"], "api_keys": [K1, K2], **sim}
    async with sims_running(spec, {"name": "backup", "models": ["m"]}) as (groq, backup):
        cfg = make_config({"groq": groq, "backup": backup}, {"chat": list(chain)},
                          providers={"groq": KEYS}, environ=ENV, policy=policy)
        async with gateway_running(cfg) as gw:
            yield groq, backup, gw


async def _ask(gw, times=1):
    """`times` chat requests through the gateway; their raw responses."""
    async with AsyncOpenAI(base_url=gw.url, api_key="unused", max_retries=0) as client:
        return [await client.chat.completions.with_raw_response.create(model="chat", **CHAT)
                for _ in range(times)]


def _served_by(raw):
    return raw.headers["x-provider-fallback-provider"]


async def test_the_key_with_most_headroom_goes_first():
    """Two keys with 2 requests a minute each: four requests are answered by the provider,
    two on each key, none by the backup."""
    async with _two_keys(rpm=2, flavor="groq") as (groq, backup, gw):
        answered = [_served_by(raw) for raw in await _ask(gw, 4)]
    assert sorted(answered) == ["groq", "groq", "groq#2", "groq#2"]
    assert sorted(r.key for r in groq.log) == [1, 1, 2, 2]
    assert all(r.status == 200 for r in groq.log) and not backup.log


async def test_a_rate_limited_then_revoked_key_falls_over_key_by_key_then_provider():
    async with _two_keys(policy={"rate_limit_max_wait": 0}, flavor="groq") as (groq, _, gw):
        groq.revoked.add(K2)
        groq.push_fault(Fault(status=429, retry_after=30))
        async with aiohttp.ClientSession() as s, \
                s.post(gw.url + "/chat/completions", json={"model": "chat", **CHAT}) as r:
            assert r.status == 200
            assert r.headers["x-provider-fallback-provider"] == "backup"
            attempts = r.headers["x-provider-fallback-attempts"]
        status = gw.router.status()
        events = [json.dumps(e.as_dict(), default=str) for e in gw.router.events.recent(200)]
    assert [(x.key, x.status) for x in groq.log] == [(1, 429), (2, 401)]
    assert attempts == "3"   # key 1, key 2, then the next provider
    # each key has its own circuit: the rate-limited key and the revoked key
    providers = status["providers"]
    assert providers["groq#2"]["circuit"].get("code") == "invalid_api_key"
    assert providers["groq"]["circuit"]["state"] == "closed"
    assert providers["groq"]["targets"]["groq/m"]["last_code"].startswith("rate_limit")
    text = json.dumps(status, default=str) + "".join(events)
    assert K1 not in text and K2 not in text and K2[4:] not in text


async def test_a_revoked_first_key_moves_to_the_second_key_before_the_next_provider():
    async with _two_keys() as (groq, backup, gw):
        groq.revoked.add(K1)
        assert [_served_by(raw) for raw in await _ask(gw, 3)] == ["groq#2"] * 3
    # the revoked key is tried once; its auth circuit keeps it out of the next requests
    assert [(x.key, x.status) for x in groq.log] == [(1, 401), (2, 200), (2, 200), (2, 200)]
    assert not backup.log


async def test_a_host_that_refuses_connections_holds_every_key():
    async with _two_keys() as (groq, _, gw):
        await groq.close_listener()
        raw = (await _ask(gw, 2))[-1]
    assert _served_by(raw) == "backup"
    skipped = raw.headers["x-provider-fallback-skipped"]
    assert "groq/m: circuit_open: connection_refused" in skipped
    assert "groq#2/m: circuit_open: connection_refused" in skipped


async def test_disable_and_force_by_the_provider_name_act_on_every_key():
    async with _two_keys(chain=("backup/m", "groq/m")) as (_, _, gw):
        router = gw.router
        router.health.force("groq")
        assert _served_by((await _ask(gw))[0]) in ("groq", "groq#2")
        router.health.force(None)
        router.health.disable("groq")
        now = router._clock()
        targets = router.config.chains["chat"].targets
        assert all(router.health.blocked(t, now) is not None for t in targets[1:])
        router.health.enable("groq")
        assert all(router.health.blocked(t, now) is None for t in targets)
        router.health.disable("groq#2")
        assert router.health.blocked(targets[1], now) is None
        assert router.health.blocked(targets[2], now) is not None


async def test_a_key_added_to_the_file_is_used_after_a_reload(tmp_path):
    from reload_support import post_reload, write

    from provider_fallback import load_config

    spec = {"name": "groq", "models": ["m"], "api_keys": [K1, K2], "rpm": 1, "flavor": "groq"}
    async with sims_running(spec, {"name": "backup", "models": ["m"]}) as (groq, backup):
        (tmp_path / ".env").write_text(f"GROQ_KEY_1={K1}\nGROQ_KEY_2={K2}\n", encoding="utf-8")

        def config(keys):
            return write(tmp_path / "cfg.yaml", {
                "groq": {"name": "groq", "base_url": groq.url, "api_key": keys},
                "backup": backup.url}, {"chat": ["groq/m", "backup/m"]},
                policy={"rate_limit_max_wait": 0, "timeout": 5})

        async with gateway_running(load_config(config("os.environ/GROQ_KEY_1"),
                                               environ={})) as gw:
            assert [_served_by(raw) for raw in await _ask(gw, 2)] == ["groq", "backup"]
            config(KEYS["api_key"])
            status, answer = await post_reload(gw.base_url)
            assert status == 200, answer
            assert _served_by((await _ask(gw))[0]) == "groq#2"   # the new key's own minute
            assert K2 in gw.app._secrets.secrets


async def test_a_model_the_provider_does_not_have_is_not_asked_again_on_every_key():
    async with _two_keys(models=["other"]) as (groq, _, gw):
        raw = (await _ask(gw))[0]
    assert _served_by(raw) == "backup"
    assert [(x.key, x.status) for x in groq.log] == [(1, 404)]
    assert "groq#2/m: circuit_open: model_not_found" in raw.headers["x-provider-fallback-skipped"]

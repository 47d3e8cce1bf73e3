"""Redirects at the provider boundary, over loopback: same host followed, another host is
`provider_moved` and never sees the key (requests, probes and doctor alike)."""

from __future__ import annotations

import aiohttp
import pytest
from gateway_harness import CHAT

from provider_fallback import Router, config_from_dict
from provider_fallback.errors import AllProvidersFailedError
from provider_fallback.health._probes import probe
from provider_fallback.sim import SimProvider

KEY = "sk-or-redirecttest-SECRET-0123456789"


@pytest.fixture
async def moved():
    """`new` is the provider at its new address (checks the key); `old` redirects every
    request there with a 308, on another host name (localhost instead of 127.0.0.1)."""
    new = SimProvider("new", models=["m"], api_key=KEY)
    await new.start()
    old = SimProvider("old", models=["m"], redirect_to=f"http://localhost:{new.port}")
    await old.start()
    yield old, new
    await old.stop()
    await new.stop()


def _config(url: str, *extra_chain: str, extra_providers=()):
    return config_from_dict({
        "allow_literal_secrets": True,
        "providers": [{"name": "kilo", "base_url": url, "api_key": KEY}, *extra_providers],
        "models": {"chat": ["kilo/m", *extra_chain]},
        "health": {"enabled": False}}, environ={})


async def test_a_redirect_to_another_host_is_provider_moved_and_the_key_stays_home(moved):
    old, new = moved
    async with Router(_config(old.url)) as router:
        with pytest.raises(AllProvidersFailedError) as info:
            await router.chat(model="chat", **CHAT)
        (attempt,) = info.value.attempts
        assert (attempt.code, attempt.status) == ("provider_moved", 308)
        failure = info.value.last
        assert f"set base_url: http://localhost:{new.port}/v1" in failure.message
        assert failure.detail["new_base_url"] == f"http://localhost:{new.port}/v1"
        # before: aiohttp followed the 308, dropped Authorization, the new host said 401
        # and the provider was cooled down as invalid_api_key for 30 minutes
        assert new.count() == 0
        # the whole provider is held back at once, for 30 minutes (a lone target is still
        # tried as a bypass, and says so)
        blocked = router.health.blocked(router.config.chains["chat"].targets[0], router._clock())
        assert blocked is not None and blocked.code == "provider_moved"
        assert blocked.key == "kilo"                              # the provider circuit
        assert blocked.until - router._clock() > 1600        # 30 min, less up to 10% jitter
        with pytest.raises(AllProvidersFailedError) as again:
            await router.chat(model="chat", **CHAT)
        assert again.value.attempts[0].note.startswith("bypass")
    assert new.count() == 0


async def test_a_moved_provider_falls_over_to_the_next_target(moved):
    old, new = moved
    backup = SimProvider("backup", models=["b"])
    async with backup:
        cfg = _config(old.url, "backup/b",
                      extra_providers=[{"name": "backup", "base_url": backup.url}])
        async with Router(cfg) as router:
            answer = await router.chat(model="chat", **CHAT)
            assert answer.provider == "backup"
            assert [a.code for a in answer.attempts] == ["provider_moved", "ok"]
            assert router.events.count("FALLBACK") == 1
    assert new.count() == 0


async def test_a_same_host_redirect_is_followed_with_the_same_post(moved):
    _, new = moved
    new.keep_bodies = True
    url = f"http://127.0.0.1:{new.port}/moved/v1"
    async with Router(_config(url)) as router:
        answer = await router.chat(model="chat", **CHAT)
        assert answer.provider == "kilo" and answer.text
    statuses = [r.status for r in new.log]
    assert statuses == [308, 200]
    assert new.log[1].path == "/v1/chat/completions" and new.log[1].body["messages"]


async def test_probes_report_provider_moved_without_the_key(moved):
    old, new = moved
    provider = _config(old.url).providers["kilo"]
    async with aiohttp.ClientSession() as session:
        for tier in ("quick", "full"):
            result = await probe(session, provider, tier, timeout=5, proxy=None)
            assert (result.ok, result.code, result.status) == (False, "provider_moved", 308)
            assert f"localhost:{new.port}" in result.detail
    assert new.count() == 0


async def test_doctor_reports_the_move_with_the_fix(moved, tmp_path, monkeypatch):
    import yaml

    from provider_fallback.doctor import run_doctor

    old, new = moved
    monkeypatch.setenv("KILO_API_KEY", KEY)
    path = tmp_path / "provider_config.yaml"
    path.write_text(yaml.safe_dump({
        "providers": [{"name": "kilo", "base_url": old.url, "api_key": "os.environ/KILO_API_KEY"}],
        "models": {"chat": ["kilo/m"]}}), encoding="utf-8")
    report = await run_doctor(path)
    [finding] = [f for f in report.findings if f.code == "provider_moved"]
    assert finding.severity.name == "ERROR" and report.exit_code == 2
    assert f"set base_url: http://localhost:{new.port}/v1" in finding.resolution[0]
    assert new.count() == 0

"""Doctor's check of `state:`: memory is fine, a reachable Redis reports its version, an
unreachable one is a warning with the fix, and the password never shows."""

from __future__ import annotations

import os

import pytest
import redis
from doctor_support import by, closed_port, write_config

from provider_fallback.doctor import Severity, check_state, run_doctor
from provider_fallback.errors import spec
from provider_fallback.state._redis_url import effective_prefix


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("PF_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is required under CI=true: {url} unreachable: {exc}")
        pytest.skip(f"needs a real Redis at {url} ({exc})")
    return url


def _cfg(tmp_path, state=None):
    extra = {"state": state} if state is not None else {}
    return write_config(tmp_path / "provider_config.yaml",
                        [{"name": "local", "base_url": f"http://127.0.0.1:{closed_port()}/v1"}],
                        {"chat": ["local/m"]}, **extra)


async def test_memory_state_is_ok(tmp_path):
    report = await run_doctor(_cfg(tmp_path))
    [finding] = by(report, check="state")
    assert finding.severity is Severity.OK and "memory" in finding.message


@pytest.mark.redis
async def test_a_reachable_redis_reports_its_version(tmp_path, redis_url):
    report = await run_doctor(_cfg(tmp_path, {"backend": "redis", "url": redis_url,
                                              "prefix": "pf-doctor:"}))
    [finding] = by(report, check="state")
    assert finding.severity is Severity.OK, finding.message
    assert "Redis " in finding.message and "answers in" in finding.message
    assert "pf-doctor:" in finding.message


async def test_an_unreachable_redis_is_a_warning_that_hides_the_password(tmp_path):
    url = f"redis://:hunter2-secret@127.0.0.1:{closed_port()}/0"
    report = await run_doctor(_cfg(tmp_path, {"backend": "redis", "url": url}))
    [finding] = by(report, check="state")
    assert finding.severity is Severity.WARNING and finding.code == "state_unreachable"
    assert "local state" in finding.message
    assert "hunter2-secret" not in str(report.as_dict())
    assert finding.resolution[0] == spec("state_unreachable").steps(finding.facts)[0]
    assert f"-p {url.rsplit(':', 1)[1].split('/')[0]}" in finding.resolution[0]


async def test_the_state_check_gives_up_after_its_timeout():
    from provider_fallback import config_from_dict

    # a blackhole address: connecting never completes
    cfg = config_from_dict({"providers": [{"name": "p", "base_url": "http://127.0.0.1:9/v1"}],
                            "models": {"chat": ["p/m"]},
                            "state": {"backend": "redis", "url": "redis://10.255.255.1:6379/0"}})
    finding = await check_state(cfg.state, timeout=0.3)
    assert finding.severity is Severity.WARNING and finding.code == "state_unreachable"


async def test_a_cluster_url_is_checked_with_its_tagged_prefix():
    from provider_fallback import config_from_dict

    cfg = config_from_dict({"providers": [{"name": "p", "base_url": "http://127.0.0.1:9/v1"}],
                            "models": {"chat": ["p/m"]},
                            "state": {"backend": "redis", "prefix": "pf:",
                                      "url": f"redis+cluster://127.0.0.1:{closed_port()}"}})
    finding = await check_state(cfg.state, timeout=2)
    assert finding.code == "state_unreachable"   # no cluster there
    assert effective_prefix(cfg.state.url.reveal(), "pf:") == "{pf}:"

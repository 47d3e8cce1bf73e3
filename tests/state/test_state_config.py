"""The `state:` section: validation, defaults, and the URL treated as a secret."""

from __future__ import annotations

import pytest

from provider_fallback import config_from_dict
from provider_fallback.errors import ConfigError
from provider_fallback.state import MemoryState, make_state
from provider_fallback.state._redis import RedisState
from provider_fallback.state._redis_url import parse_sentinel_url, redact_url

BASE = {"providers": [{"name": "p", "base_url": "http://127.0.0.1:9/v1"}],
        "models": {"chat": ["p/m"]}}


def test_memory_is_the_default() -> None:
    cfg = config_from_dict(BASE)
    assert cfg.state.backend == "memory"
    assert isinstance(make_state(cfg), MemoryState)


def test_redis_url_from_the_environment_is_a_secret() -> None:
    cfg = config_from_dict({**BASE, "state": {"backend": "redis", "url": "os.environ/REDIS_URL",
                                              "cache_ttl": "100ms", "prefix": "gw1:"}},
                           environ={"REDIS_URL": "redis://:hunter2@127.0.0.1:6379/0"})
    assert cfg.state.cache_ttl == 0.1 and cfg.state.prefix == "gw1:"
    assert "hunter2" not in repr(cfg.state) and "hunter2" not in repr(cfg)
    state = make_state(cfg)
    assert isinstance(state, RedisState)
    assert "hunter2" not in str(state.view())
    assert redact_url("redis://user:pw@h:1/0") == "redis://user:[secret]@h:1/0"


@pytest.mark.parametrize(("section", "words"), [
    ({"backend": "mongo"}, ["state.backend"]),
    ({"backend": "redis"}, ["state", "url"]),
    ({"backend": "redis", "url": "http://x"}, ["scheme 'http'"]),
    ({"backend": "memory", "ttl": 1}, ["unknown key 'ttl'"]),
])
def test_mistakes_name_the_key(section: dict[str, object], words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({**BASE, "state": section})
    text = str(info.value)
    assert all(w in text for w in words), text


def test_sentinel_urls_are_parsed() -> None:
    got = parse_sentinel_url("redis+sentinel://:pw@s1:26380,s2,[::1]:26381/mymaster/2")
    assert got.sentinels == (("s1", 26380), ("s2", 26379), ("::1", 26381))
    assert (got.service, got.db, got.username, got.password) == ("mymaster", 2, None, "pw")
    assert "pw" not in repr(got)
    assert parse_sentinel_url("redis+sentinel://h:1/svc").db == 0
    assert (redact_url("redis+sentinel://:pw@s1:1,s2:2/m")
            == "redis+sentinel://:[secret]@s1:1,s2:2/m")


def test_a_sentinel_url_is_accepted_and_kept_secret() -> None:
    cfg = config_from_dict({**BASE, "state": {
        "backend": "redis", "url": "redis+sentinel://:hunter2@127.0.0.1:26379/mymaster"}})
    state = make_state(cfg)
    assert isinstance(state, RedisState)
    assert "hunter2" not in str(state.view()) and "hunter2" not in repr(cfg)


@pytest.mark.parametrize(("url", "words"), [
    ("redis+sentinel://127.0.0.1:26379", ["service name"]),
    ("redis+sentinel://127.0.0.1:26379/m/x", ["database 'x'"]),
    ("redis+sentinel://127.0.0.1:nope/m", ["port 'nope'"]),
    ("redis+sentinel://:secretpw@h:1", ["service name"]),
])
def test_bad_sentinel_urls_say_why(url: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({**BASE, "state": {"backend": "redis", "url": url}})
    text = str(info.value)
    assert all(w in text for w in words) and "secretpw" not in text, text

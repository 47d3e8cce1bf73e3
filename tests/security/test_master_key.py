"""The master key: long enough to be exposed, never blank, compared exactly as sent."""

from __future__ import annotations

import pytest
from front_door import exchange, front_door, parse, port_of, request

from provider_fallback import config_from_dict
from provider_fallback.config import check_bind
from provider_fallback.errors import ConfigError

KEY = "front-door-master-key-0123"
BASE = {"providers": [{"name": "p", "base_url": "http://127.0.0.1:9/v1"}],
        "models": {"chat": ["p/m"]}}


def _config(host: str, key: str):
    return config_from_dict({**BASE, "server": {"host": host, "master_key": "os.environ/K"}},
                            environ={"K": key})


@pytest.mark.parametrize("key", ["x", "short-key-15chr", " " * 20])
def test_a_weak_or_blank_key_is_refused_for_a_public_bind(key):
    with pytest.raises(ConfigError, match="server.master_key"):
        _config("0.0.0.0", key)
    with pytest.raises(ConfigError):
        check_bind("0.0.0.0", key)


def test_a_16_character_key_may_be_exposed():
    assert _config("0.0.0.0", "k" * 16).server.master_key is not None
    check_bind("0.0.0.0", "k" * 16)


def test_a_key_of_one_space_is_refused_even_on_loopback():
    with pytest.raises(ConfigError, match="server.master_key"):
        _config("127.0.0.1", " ")
    # written literally in the file, too
    with pytest.raises(ConfigError, match="only whitespace"):
        config_from_dict({**BASE, "server": {"master_key": " "}}, environ={})


async def test_the_key_is_compared_as_sent():
    async with front_door({"master_key": "os.environ/PF_MASTER"},
                          environ={"PF_MASTER": KEY}) as (gw, _):
        port = port_of(gw)

        async def status(**headers: str) -> int:
            return parse(await exchange(port, request("GET", "/health/providers",
                                                      headers=headers)))[0]

        assert await status(Authorization=f"Bearer {KEY}") == 200
        assert await status(Authorization=f"bearer {KEY}") == 200     # the scheme word only
        assert await status(**{"x-api-key": KEY}) == 200
        assert await status(Authorization=f"Bearer {KEY}\t") == 401    # `key\t` is not `key`
        assert await status(Authorization=f"Bearer  {KEY}") == 401     # nor ` key`
        assert await status(**{"x-api-key": f"{KEY} "}) == 401
        assert await status(Authorization=f"Basic {KEY}") == 401
        assert await status() == 401
        assert await status(Authorization=f"Bearer {KEY[:-1]}") == 401

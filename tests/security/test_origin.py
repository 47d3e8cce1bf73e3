"""DNS rebinding and cross-site writes: a page elsewhere cannot drive a loopback gateway
that has no master key; CORS only for the origins listed; request bodies only as JSON."""

from __future__ import annotations

import pytest
from front_door import CHAT_BODY, exchange, front_door, parse, port_of, request

from provider_fallback import config_from_dict
from provider_fallback.errors import ConfigError

EVIL = "http://evil.example"


async def test_a_rebound_host_name_is_refused_on_every_route():
    async with front_door() as (gw, _):
        port = port_of(gw)
        for method, path, body in (("GET", "/health/providers", b""), ("GET", "/admin/status", b""),
                                   ("POST", "/admin/providers/p0/disable", b"{}"),
                                   ("POST", "/v1/chat/completions", CHAT_BODY)):
            raw = await exchange(port, request(method, path, body,
                                               host=f"evil.example:{port}".encode()))
            status, _, answer = parse(raw)
            assert status == 403 and answer["error"]["code"] == "forbidden_host", (path, raw[:300])
        assert gw.router.state.disabled_until("p0") is None
        for host in (b"127.0.0.1", f"localhost:{port}".encode(), b"[::1]:4100", b"app.localhost"):
            assert parse(await exchange(port, request("GET", "/health", host=host)))[0] == 200


async def test_a_cross_site_simple_post_cannot_disable_a_provider():
    # the attack of the issue: text/plain (no CORS preflight), foreign Origin, rebound Host
    async with front_door() as (gw, _):
        port = port_of(gw)
        for host in (b"127.0.0.1:%d" % port, b"evil.example:%d" % port):
            raw = await exchange(port, request(
                "POST", "/admin/providers/p0/disable", b'{"for": "1h"}', host=host,
                headers={"Origin": EVIL, "Content-Type": "text/plain"}))
            assert parse(raw)[0] == 403
        assert gw.router.state.disabled_until("p0") is None


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
async def test_a_foreign_origin_cannot_post_chat(content_type):
    async with front_door() as (gw, sims):
        raw = await exchange(port_of(gw), request(
            "POST", "/v1/chat/completions", CHAT_BODY,
            headers={"Origin": EVIL, "Content-Type": content_type}))
        status, _, body = parse(raw)
        assert status == 403 and body["error"]["code"] == "forbidden_origin"
        assert sims[0].count() == 0   # nothing was forwarded


async def test_the_gateways_own_pages_and_plain_clients_still_work():
    async with front_door() as (gw, _):
        port = port_of(gw)
        own = f"http://127.0.0.1:{port}"
        raw = await exchange(port, request("POST", "/admin/providers/p0/disable", b"{}",
                                           host=f"127.0.0.1:{port}".encode(),
                                           headers={"Origin": own}))
        assert parse(raw)[0] == 200                      # the dashboard (same origin)
        raw = await exchange(port, request("POST", "/admin/providers/p0/enable"))
        assert parse(raw)[0] == 200                      # no body, no Origin: the CLI
        assert parse(await exchange(port, request("POST", "/v1/chat/completions",
                                                  CHAT_BODY)))[0] == 200
        # a foreign page may still GET (the browser does not let it read the answer)
        assert parse(await exchange(port, request("GET", "/v1/models",
                                                  headers={"Origin": EVIL})))[0] == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
async def test_bodies_must_be_json(content_type):
    async with front_door() as (gw, sims):
        headers = {"Content-Type": content_type} if content_type else {}
        data = request("POST", "/v1/chat/completions", CHAT_BODY, headers=headers)
        if content_type is None:
            data = data.replace(b"Content-Type: application/json\r\n", b"")
        status, _, body = parse(await exchange(port_of(gw), data))
        assert status == 415 and body["error"]["code"] == "unsupported_media_type"
        assert sims[0].count() == 0
        ok = request("POST", "/v1/chat/completions", CHAT_BODY,
                     headers={"Content-Type": "application/json; charset=utf-8"})
        assert parse(await exchange(port_of(gw), ok))[0] == 200


async def test_cors_only_for_listed_origins():
    app_origin = "http://localhost:3000"
    async with front_door({"cors_origins": [app_origin]}) as (gw, _):
        port = port_of(gw)
        preflight = request("OPTIONS", "/v1/chat/completions", headers={
            "Origin": app_origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        status, headers, _ = parse(await exchange(port, preflight))
        assert status == 204 and headers["access-control-allow-origin"] == app_origin
        assert "POST" in headers["access-control-allow-methods"]
        assert "authorization" in headers["access-control-allow-headers"]
        raw = await exchange(port, request("POST", "/v1/chat/completions", CHAT_BODY,
                                           headers={"Origin": app_origin}))
        status, headers, _ = parse(raw)
        assert status == 200 and headers["access-control-allow-origin"] == app_origin
        assert "x-provider-fallback-provider" in headers["access-control-expose-headers"]
        # another origin gets neither a preflight nor a write
        preflight = preflight.replace(app_origin.encode(), EVIL.encode())
        assert parse(await exchange(port, preflight))[0] != 204
        raw = await exchange(port, request("POST", "/v1/chat/completions", CHAT_BODY,
                                           headers={"Origin": EVIL}))
        status, headers, _ = parse(raw)
        assert status == 403 and "access-control-allow-origin" not in headers


async def test_without_cors_origins_no_cors_headers_are_sent():
    async with front_door() as (gw, _):
        raw = await exchange(port_of(gw), request("GET", "/v1/models",
                                                  headers={"Origin": "http://localhost:3000"}))
        assert "access-control-allow-origin" not in parse(raw)[1]


async def test_with_a_master_key_any_host_name_is_served():
    key = "front-door-master-key-0123"
    async with front_door({"master_key": "os.environ/PF_MASTER"},
                          environ={"PF_MASTER": key}) as (gw, _):
        raw = await exchange(port_of(gw), request("GET", "/health/providers",
                                                  host=b"gateway.internal:4100",
                                                  headers={"Authorization": f"Bearer {key}"}))
        assert parse(raw)[0] == 200


def test_cors_any_origin_needs_a_master_key():
    base = {"providers": [{"name": "p", "base_url": "http://127.0.0.1:9/v1"}],
            "models": {"chat": ["p/m"]}}
    with pytest.raises(ConfigError, match="cors_origins"):
        config_from_dict({**base, "server": {"cors_origins": ["*"]}}, environ={})
    with pytest.raises(ConfigError, match="not an origin"):
        config_from_dict({**base, "server": {"cors_origins": ["localhost:3000/app"]}}, environ={})
    cfg = config_from_dict({**base, "server": {"cors_origins": ["HTTP://LocalHost:3000/"]}},
                           environ={})
    assert cfg.server.cors_origins == ("http://localhost:3000",)

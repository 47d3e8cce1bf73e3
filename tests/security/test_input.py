"""What a client may send: random JSON never gets a 500 or a traceback, nesting is bounded
before anything is forwarded, admin query parameters are validated, and a client that
leaves early is one INFO line."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest
from front_door import exchange, front_door, parse, port_of, request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provider_fallback.sim import Fault

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                       children, max_size=4),
    max_leaves=25)
fields = st.fixed_dictionaries({}, optional={
    "model": st.sampled_from(["chat", "p0/m", "p0/x", "nope", ""]) | json_values,
    "messages": st.just([{"role": "user", "content": "hi"}]) | json_values,
    "stream": st.booleans() | json_values, "input": json_values, "max_tokens": json_values,
    "tools": json_values, "n": json_values})

def _nested(depth: int) -> bytes:
    inner = b"[" * (depth - 3) + b"]" * (depth - 3)
    return b'{"model":"chat","messages":[{"role":"user","content":' + inner + b"}]}"

@pytest.mark.parametrize(("depth", "status"), [(64, 200), (65, 400), (254, 400), (255, 400),
                                               (1024, 400), (1025, 400), (5000, 400)])
async def test_json_nesting_is_bounded_before_it_is_forwarded(depth, status):
    # before: 255-1024 levels parsed, then failed to serialise: 500 gateway_error
    async with front_door() as (gw, sims):
        got, _, body = parse(await exchange(port_of(gw), request(
            "POST", "/v1/chat/completions", _nested(depth))))
        assert got == status, body
        if status == 400:
            assert body["error"]["code"] in ("invalid_request", "invalid_json")
            assert sims[0].count() == 0

async def test_fuzzed_bodies_never_get_a_500():
    async with front_door() as (gw, sims):
        sims[0].set_fault(Fault(status=400, message="upstream says no"), model="x")
        cases: list[tuple[str, bytes]] = []

        @settings(max_examples=250, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(path=st.sampled_from(["/v1/chat/completions", "/v1/embeddings",
                                     "/admin/providers/p0/disable", "/admin/providers/p0/probe"]),
               body=fields | json_values)
        def collect(path: str, body: object) -> None:
            cases.append((path, json.dumps(body).encode()))

        collect()
        async with aiohttp.ClientSession() as http:
            for path, data in cases:
                async with http.post(gw.base_url + path, data=data,
                                     headers={"Content-Type": "application/json"}) as resp:
                    text = await resp.text()
                    assert resp.status < 500 or resp.status in (502, 503), (path, data, text)
                    assert "Traceback" not in text
                    if resp.status >= 400:
                        assert json.loads(text)["error"]["code"]
        gw.router.health.enable("p0")
        async with aiohttp.ClientSession() as http, http.get(gw.base_url + "/health") as resp:
            assert resp.status == 200

@pytest.mark.parametrize("query", ["since_id=abc", "limit=x", "limit=0", "limit=100000",
                                   "since_id=-1", "since_id=1&since_id=2", "bogus=1",
                                   "since_id=99999999999999999999", "limit=%ff"])
async def test_admin_query_parameters_are_validated(query):
    async with front_door() as (gw, _):
        for path in ("/admin/events", "/admin/events/stream"):
            if "limit" in query and path.endswith("stream"):
                continue
            status, _, body = parse(await exchange(port_of(gw), request("GET", f"{path}?{query}")))
            assert status == 400 and body["error"]["code"] == "invalid_request", (path, body)
        status, _, body = parse(await exchange(port_of(gw), request(
            "GET", "/admin/events?since_id=0&limit=5")))
        assert status == 200 and "events" in body

async def test_admin_body_limit_names_its_own_setting():
    async with front_door() as (gw, _):
        status, _, body = parse(await exchange(port_of(gw), request(
            "POST", "/admin/providers/p0/disable", b'{"for": "' + b"1" * 70_000 + b'"}')))
        assert status == 413 and "server.max_body_size" not in body["error"]["message"]
        assert "64 KiB" in body["error"]["message"]

async def test_a_client_that_leaves_before_the_answer_is_one_info_line(caplog):
    caplog.set_level(logging.DEBUG)
    async with front_door() as (gw, sims):
        sims[0].set_fault(Fault(latency=0.5))
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(gw))
        writer.write(request("POST", "/v1/chat/completions",
                             b'{"model":"chat","messages":[{"role":"user","content":"x"}]}'))
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        await asyncio.sleep(0.8)   # the upstream answers after the client has gone
    lines = [r for r in caplog.records if "closed the connection" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]

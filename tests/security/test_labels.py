"""Client input never grows metric labels or routing state: made-up pass-through models are
model="other" in /metrics, and at most server.max_passthrough_models names get state."""

from __future__ import annotations

import re
import uuid

import aiohttp
from front_door import front_door

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def _series(text: str) -> set[str]:
    return {line.split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


async def test_random_pass_through_models_do_not_grow_metrics():
    async with front_door({"max_passthrough_models": 1000}) as (gw, _):
        async with aiohttp.ClientSession() as http:
            async def burst(n: int) -> set[str]:
                for _ in range(n):
                    async with http.post(gw.url + "/chat/completions",
                                         json={"model": f"p0/{uuid.uuid4().hex}", **CHAT}) as r:
                        await r.read()
                gw.app.telemetry.metrics._rendered = None   # no reuse between the two scrapes
                async with http.get(gw.base_url + "/metrics") as r:
                    return _series(await r.text())

            first = await burst(20)
            second = await burst(80)
        assert first == second, sorted(second - first)[:10]
        models = {m for s in second for m in re.findall(r'model="([^"]*)"', s)}
        assert models <= {"m", "other", "none", ""}


async def test_pass_through_names_are_bounded():
    async with front_door({"max_passthrough_models": 5}) as (gw, _):
        async with aiohttp.ClientSession() as http:
            async def post(model: str) -> tuple[int, dict]:
                async with http.post(gw.url + "/chat/completions",
                                     json={"model": model, **CHAT}) as r:
                    return r.status, await r.json()

            for i in range(5):
                assert (await post(f"p0/name-{i}"))[0] != 400
            status, body = await post("p0/one-too-many")
            assert status == 400 and body["error"]["code"] == "passthrough_limit"
            assert "server.max_passthrough_models" in body["error"]["message"]
            assert (await post("p0/name-3"))[0] != 400     # a known name still routes
            assert (await post("chat"))[0] == 200           # aliases are never limited
            status, body = await post("p0/" + "x" * 300)
            assert status == 400 and "at most 256" in body["error"]["message"]
        keys = set(gw.router.state._stats)
        assert len(keys - {"p0/m"}) <= 5

"""Shared state on a Redis Cluster (`redis+cluster://`): URL parsing, the hash-tagged prefix,
and two replicas (routers, then gateway processes) sharing circuits, leases, rpm windows
and events through a real 3-master cluster of dedicated redis-servers (the `redis_cluster`
fixture)."""

from __future__ import annotations

import asyncio
import math
import re
import signal
import time
from pathlib import Path

import aiohttp
import pytest
import redis
import yaml
from gateway_harness import (
    eventually,
    sims_running,
)
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection
from redis_harness import DedicatedCluster
from state_gateways import (
    BACKUP,
    PRIMARY,
    chat,
    circuit,
    gateway,
    router_config,
    routers,
    status,
    write_config,
)
from typer.testing import CliRunner

from provider_fallback import Router, config_from_dict
from provider_fallback.cli import app
from provider_fallback.errors import ConfigError
from provider_fallback.health._breaker import Circuit, CircuitState, RollingWindow
from provider_fallback.sim import Fault
from provider_fallback.state import _redis_cluster, make_state
from provider_fallback.state._redis import RedisState
from provider_fallback.state._redis_cluster import StatePipeline
from provider_fallback.state._redis_url import (
    effective_prefix,
    has_hash_tag,
    open_client,
    parse_cluster_url,
    redact_url,
)
from provider_fallback.telemetry import EventBus

BASE = {"providers": [{"name": "p", "base_url": "http://127.0.0.1:9/v1"}],
        "models": {"chat": ["p/m"]}}


# -- the URL and the prefix (no server needed) --------------------------------------------
def test_cluster_urls_are_parsed() -> None:
    got = parse_cluster_url("redis+cluster://app:pw@n1:7000,n2,[::1]:7002/")
    assert got.nodes == (("n1", 7000), ("n2", 6379), ("::1", 7002))
    assert (got.username, got.password, got.tls) == ("app", "pw", False)
    assert "pw" not in repr(got)
    assert parse_cluster_url("rediss+cluster://:pw@n1:7000").tls is True
    assert parse_cluster_url("redis+cluster://n1:7000/0").nodes == (("n1", 7000),)
    assert parse_cluster_url("redis+cluster://n1:7000").password is None
    assert (redact_url("redis+cluster://app:pw@n1:7000,n2:7001")
            == "redis+cluster://app:[secret]@n1:7000,n2:7001")
    assert redact_url("rediss+cluster://:p%40ss@n1:1/") == "rediss+cluster://:[secret]@n1:1/"


@pytest.mark.parametrize(("url", "words"), [
    ("redis+cluster://", ["lists no cluster host"]),
    ("redis+cluster://:secretpw@n1:7000,,n2:7001", ["lists no cluster host"]),
    ("redis+cluster://n1:nope", ["port 'nope'"]),
    ("redis+cluster://n1:70000", ["port '70000'"]),
    ("redis+cluster://:secretpw@n1:7000/2", ["only database 0"]),
    ("redis+cluster://n1:7000/?ssl_cert_reqs=none", ["no '?options'"]),
    ("redis+clusters://n1:7000", ["scheme 'redis+clusters'", "redis+cluster://"]),
])
def test_bad_cluster_urls_name_the_key_and_the_fix(url: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({**BASE, "state": {"backend": "redis", "url": url}})
    text = str(info.value)
    assert "state.url" in text and "redis+cluster://" in text, text
    assert all(w in text for w in words) and "secretpw" not in text, text


@pytest.mark.parametrize(("prefix", "url", "want"), [
    ("pf:", "redis+cluster://n1:7000", "{pf}:"),
    ("pf:", "rediss+cluster://n1:7000", "{pf}:"),
    ("gw1", "redis+cluster://n1:7000", "{gw1}"),
    ("a:b::", "redis+cluster://n1:7000", "{a:b}::"),
    (":", "redis+cluster://n1:7000", "{:}"),
    ("{gw1}:", "redis+cluster://n1:7000", "{gw1}:"),       # already tagged: kept
    ("app:{gw1}:", "redis+cluster://n1:7000", "app:{gw1}:"),
    ("x{}:", "redis+cluster://n1:7000", "{x{}}:"),         # `{}` is no tag to Redis
    ("pf:", "redis://h:6379/0", "pf:"),                    # one server: keys stay put
    ("pf:", "redis+sentinel://h:26379/m", "pf:"),
    ("pf:", None, "pf:"),
])
def test_the_prefix_gets_a_hash_tag_on_a_cluster_only(prefix: str, url: str | None,
                                                      want: str) -> None:
    got = effective_prefix(url, prefix)
    assert got == want
    if url is not None and "cluster" in url:
        assert has_hash_tag(got)
        # Redis hashes the text between the first `{` and the next `}`: inside the prefix
        start = got.index("{")
        assert got.index("}", start + 1) < len(got)


def test_a_cluster_url_is_accepted_kept_secret_and_tags_the_prefix() -> None:
    cfg = config_from_dict({**BASE, "state": {
        "backend": "redis", "url": "redis+cluster://:hunter2@127.0.0.1:7000,127.0.0.1:7001",
        "prefix": "gw:"}})
    assert cfg.state.prefix == "gw:" and cfg.state.key_prefix == "{gw}:"
    state = make_state(cfg)
    assert isinstance(state, RedisState)
    view = state.view()
    assert view["prefix"] == "{gw}:" and "hunter2" not in str(view) and "hunter2" not in repr(cfg)


async def test_open_client_gives_a_redis_cluster_seeded_with_every_node() -> None:
    client, closer = open_client("redis+cluster://app:pw@127.0.0.1:7000,127.0.0.1:7001",
                                 socket_timeout=1.0)
    try:
        assert isinstance(client, RedisCluster) and closer is client
        assert [(n.host, n.port) for n in client.startup_nodes] == [("127.0.0.1", 7000),
                                                                    ("127.0.0.1", 7001)]
        kwargs = client.connection_kwargs
        assert (kwargs["username"], kwargs["password"], kwargs["socket_timeout"]) == (
            "app", "pw", 1.0)
    finally:
        await closer.aclose()
    tls, closer = open_client("rediss+cluster://127.0.0.1:7000")
    assert tls.connection_kwargs["connection_class"] is SSLConnection  # type: ignore[attr-defined]
    await closer.aclose()


def test_every_command_the_state_pipelines_is_allowed_on_a_cluster() -> None:
    """redis-py refuses some commands in a cluster pipeline (MGET, PUBLISH, ...): none of
    those the state package queues may be one that StatePipeline still refuses."""
    package = Path(_redis_cluster.__file__).parent
    used = {name for f in package.glob("*.py")
            for name in re.findall(r"\bpipe\.(\w+)\(", f.read_text(encoding="utf-8"))}
    assert {"eval", "hgetall", "xadd"} <= used
    refused = {name for name in used
               if "block_pipeline_command" in getattr(StatePipeline, name).__qualname__}
    assert not refused, f"blocked in cluster pipelines: {refused}"


def test_validate_accepts_a_cluster_url_and_explains_a_bad_one(tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({**BASE, "state": {
        "backend": "redis", "url": "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"}}))
    res = runner.invoke(app, ["validate", str(good)])
    assert res.exit_code == 0, res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**BASE, "state": {
        "backend": "redis", "url": "redis+cluster://127.0.0.1:7000/3"}}))
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 1
    assert "state.url" in res.output and "only database 0" in res.output, res.output
    assert "Traceback" not in res.output


# -- on a real cluster ----------------------------------------------------------------------
def _circuit_state(state: RedisState, key: str) -> CircuitState | None:
    c = state.circuit(key)
    return None if c is None else c.state


def _state(router: Router, key: str) -> str:
    c = router.state.circuit(key)
    return "closed" if c is None else c.state.value


@pytest.mark.redis
async def test_every_call_of_the_state_works_on_the_cluster(redis_cluster: DedicatedCluster,
                                                            cluster_prefix: str) -> None:
    # polls 10 s apart: what B learns within the test came through pub/sub or the stream
    cfg = config_from_dict({**BASE, "state": {"backend": "redis", "url": redis_cluster.url,
                                              "prefix": cluster_prefix, "cache_ttl": "10s",
                                              "timeout": "1s"}})
    bus_a, bus_b = EventBus(), EventBus()
    a, b = RedisState(cfg.state, events=bus_a), RedisState(cfg.state, events=bus_b)
    await a.start()
    await b.start()
    try:
        assert a.connected and b.connected
        assert a.view()["prefix"] == "{" + cluster_prefix.rstrip(":") + "}:"
        # PUT_LUA (EVAL on a pipeline) publishes from inside the script; B's subscription
        # on the channel gets it and applies the circuit
        c = Circuit("p/m", RollingWindow(60.0))
        c.state, c.open_until, c.code = CircuitState.OPEN, time.monotonic() + 30, "x"
        a.put_circuit(c)
        await eventually(lambda: _circuit_state(b, "p/m") is CircuitState.OPEN, timeout=3)
        assert math.isclose(b.circuit("p/m").open_until, c.open_until,  # type: ignore[union-attr]
                            abs_tol=0.5)
        # XADD on A's pipeline, XREAD BLOCK on B
        bus_a.emit("PROBE", n=1)
        await eventually(lambda: [e.fields.get("origin") for e in bus_b.recent()
                                  if e.type == "PROBE"] == [a.replica], timeout=3)
        # SET NX PX: one lease; RELEASE_LUA (EVAL on the pipeline) frees it once A's
        # circuit closes
        assert await a.lease("p/m", 30.0) is True
        assert await b.lease("p/m", 30.0) is False
        a.put_circuit(Circuit("p/m", RollingWindow(60.0)))

        async def b_gets_the_lease() -> bool:
            return await b.lease("p/m", 30.0)
        await eventually(b_gets_the_lease, timeout=3)
        # the Lua sliding window (EVAL) across both: 7 admitted, then the wait
        admitted = [await (a if i % 2 else b).admit("p/m", 7) for i in range(12)]
        assert admitted.count(None) == 7 and all(w and w > 0 for w in admitted[7:])
        # a batch of 5 each, 1 spent: the 4 unspent go back on close
        assert await a.admit("p/n", 100) is None and await b.admit("p/n", 100) is None
        assert a.connected and b.connected and a.degradations == b.degradations == 0
    finally:
        await a.aclose()
        await b.aclose()
    rl_key = f"{a.view()['prefix']}rl:p/n"
    [(port, _)] = redis_cluster.keys(rl_key).items()
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    try:
        assert sum(int(v) for v in client.hvals(rl_key)) == 2   # 1-second buckets
    finally:
        client.close()


@pytest.mark.redis
async def test_status_reports_the_cluster(redis_cluster: DedicatedCluster,
                                          cluster_prefix: str) -> None:
    async with sims_running(PRIMARY, BACKUP) as sims:
        async with routers(router_config(sims, redis_cluster.url, cluster_prefix), 1) as (a,):
            view = a.status()["state"]
            assert view["backend"] == "redis" and view["connected"] is True
            assert view["url"] == redis_cluster.url and view["prefix"].startswith("{")


@pytest.mark.redis
@pytest.mark.slow
async def test_two_gateway_processes_share_a_circuit_through_the_cluster(
        tmp_path: Path, redis_cluster: DedicatedCluster, cluster_prefix: str) -> None:
    async with sims_running(PRIMARY, BACKUP) as (p, b):
        cfg = write_config(tmp_path / "provider_config.yaml", [p, b], redis_cluster.url,
                           cluster_prefix)
        async with gateway(cfg) as ga, gateway(cfg) as gb, aiohttp.ClientSession() as http:
            assert await chat(http, gb) == "primary"
            p.set_fault(Fault(status=429, retry_after=120), model="m1")
            assert await chat(http, ga) == "backup"

            async def b_sees_it() -> bool:
                return await circuit(http, gb, "primary/m1") == "open"
            await eventually(b_sees_it, timeout=10)
            seen = p.count()
            assert await chat(http, gb) == "backup" and p.count() == seen
            state = (await status(http, gb))["state"]
            assert state["connected"] is True and state["prefix"].startswith("{")


@pytest.mark.redis
async def test_doctor_checks_the_cluster(redis_cluster: DedicatedCluster) -> None:
    from provider_fallback.doctor import Severity, check_state

    cfg = config_from_dict({**BASE, "state": {"backend": "redis", "url": redis_cluster.url}})
    finding = await check_state(cfg.state, timeout=5)
    assert finding.severity is Severity.OK, finding.message
    assert "Redis 7." in finding.message and "'{pf}:'" in finding.message


@pytest.mark.redis
async def test_no_restore_while_a_node_still_refuses(redis_cluster: DedicatedCluster,
                                                     cluster_prefix: str) -> None:
    # A cluster coming back answers on our slot's node while another still reports
    # cluster_state:fail and refuses everything (CLUSTERDOWN). Restoring then flapped:
    # restored, degraded at the next call that met that node, restored again. Made
    # lasting here: the slot's node serves without full coverage, a third node is stopped,
    # so the last one reports fail until the third is back.
    cfg = config_from_dict({**BASE, "state": {"backend": "redis", "url": redis_cluster.url,
                                              "prefix": cluster_prefix, "cache_ttl": "0.2s",
                                              "timeout": "0.5s"}})
    slot = redis.crc.key_slot(effective_prefix(redis_cluster.url, cluster_prefix).encode())
    clients = {p: redis.Redis(host="127.0.0.1", port=p, socket_timeout=1)
               for p in redis_cluster.ports}
    owner = next(p for p, c in clients.items()
                 if any(lo <= slot <= hi for lo, hi, *_ in c.cluster("slots")
                        if _[0][1] == p))
    stopped, refusing = (p for p in redis_cluster.ports if p != owner)
    bus = EventBus()
    state = RedisState(cfg.state, events=bus)

    def info(port: int) -> str:
        return clients[port].cluster("info")["cluster_state"]
    try:
        clients[owner].config_set("cluster-require-full-coverage", "no")
        redis_cluster.procs[stopped].send_signal(signal.SIGSTOP)
        await eventually(lambda: info(refusing) == "fail" and info(owner) == "ok", timeout=15)
        await state.start()
        await asyncio.sleep(1.0)                       # several polls: all answer on `owner`
        assert not state.connected
        assert bus.count("STATE_RESTORED") == 0
        redis_cluster.procs[stopped].send_signal(signal.SIGCONT)
        await eventually(lambda: state.connected, timeout=15)
        # said once each: degraded at the start, restored once the cluster is whole
        assert [e.type for e in bus.recent() if e.type.startswith("STATE_")] == [
            "STATE_DEGRADED", "STATE_RESTORED"]
    finally:
        redis_cluster.procs[stopped].send_signal(signal.SIGCONT)
        clients[owner].config_set("cluster-require-full-coverage", "yes")
        await state.aclose()
        for c in clients.values():
            c.close()
        await eventually(lambda: all(info(p) == "ok" for p in redis_cluster.ports), timeout=15)

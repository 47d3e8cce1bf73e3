"""A Redis Sentinel group the failover tests can break: a master, one replica and N
sentinels (quorum N // 2 + 1), all on spare loopback ports under the test's tmp_path.

The sentinels notice a dead master after `down-after-milliseconds` (1 s) and promote the
replica; `failover-timeout` is short, so a failover completes in a few seconds.

The replica authenticates to the master as the ACL user `repl`, so a test can cut
replication (`cut_replication`: the user is disabled and the link dropped) to make writes
that the promoted replica will never have: the writes an asynchronous replica loses when
its master dies.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import redis
from redis_harness import binary, free_port, wait_until

SERVICE = "mymaster"
REPL_USER, REPL_PASSWORD = "repl", "repl-secret"


def _client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)


class RedisNode:
    """One redis-server (or redis-sentinel) process on a spare port."""

    def __init__(self, exe: str, workdir: Path, args: list[str]) -> None:
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.cmd = [exe, *args]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "out.log"

    def spawn(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.workdir)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to clients or sentinels."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None


class SentinelGroup:
    """Master + replica + `sentinels` sentinels. `start()` returns once replication is up
    and every sentinel knows the replica and the other sentinels (else a failover could
    not happen). `url` is the gateway's `redis+sentinel://` URL listing every sentinel."""

    def __init__(self, workdir: Path, sentinels: int = 3) -> None:
        server, sentinel = binary("redis-server"), binary("redis-sentinel")
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--repl-diskless-sync-delay", "0"]   # a full sync at once, not in 5 s
        acl = f"user {REPL_USER} on >{REPL_PASSWORD} ~* &* +@all"
        self.master = RedisNode(server, workdir / "master", [])
        # `user` is not a command line option: the ACL goes in a config file
        master_conf = self.master.workdir / "redis.conf"
        master_conf.write_text(f"{acl}\n")
        self.master.cmd += [str(master_conf), "--port", str(self.master.port), *common]
        self.replica = RedisNode(server, workdir / "replica", [])
        replica_conf = self.replica.workdir / "redis.conf"
        replica_conf.write_text(f"{acl}\n")   # it becomes the master: same users
        self.replica.cmd += [str(replica_conf), "--port", str(self.replica.port), *common,
                             "--replicaof", "127.0.0.1", str(self.master.port),
                             "--masteruser", REPL_USER, "--masterauth", REPL_PASSWORD]
        self.quorum = sentinels // 2 + 1
        self.sentinels: list[RedisNode] = []
        for i in range(sentinels):
            node = RedisNode(sentinel, workdir / f"sentinel{i}", [])
            conf = node.workdir / "sentinel.conf"   # sentinel rewrites it: must be writable
            conf.write_text(
                f"port {node.port}\nbind 127.0.0.1\ndir {node.workdir}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} {self.quorum}\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 3000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n")
            node.cmd.append(str(conf))
            self.sentinels.append(node)
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        self.url = f"redis+sentinel://{hosts}/{SERVICE}/0"
        self.first_master_port = self.master.port

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        for node in (self.master, self.replica):
            node.spawn()
            client = _client(node.port)
            try:
                wait_until(f"redis-server on {node.port}", client.ping, timeout, node.proc)
            finally:
                client.close()
        replica = _client(self.replica.port)
        try:
            wait_until("replication link up",
                  lambda: replica.info("replication").get("master_link_status") == "up",
                  timeout, self.replica.proc)
        finally:
            replica.close()
        for node in self.sentinels:
            node.spawn()
        others = len(self.sentinels) - 1
        for node in self.sentinels:
            client = _client(node.port)
            try:
                def ready(c: redis.Redis = client) -> bool:
                    replicas = c.sentinel_slaves(SERVICE)
                    return (len(c.sentinel_sentinels(SERVICE)) >= others and
                            any(r["port"] == self.replica.port and not r["is_disconnected"]
                                for r in replicas))
                wait_until(f"sentinel on {node.port} knows the group", ready, timeout, node.proc)
            finally:
                client.close()

    def stop(self) -> None:
        for node in (*self.sentinels, self.replica, self.master):
            node.kill()

    # -- what the tests do -----------------------------------------------------------------
    def kill_master(self) -> None:
        """SIGKILL the current master: the sentinels must elect the replica."""
        self.master.kill()

    def freeze_master(self) -> None:
        """SIGSTOP the current master: a hung host, or one cut off by the network. Unlike a
        killed one it closes nothing: its clients only notice through their timeouts.
        `stop()` still kills it."""
        assert self.master.proc is not None
        self.master.proc.send_signal(signal.SIGSTOP)

    def cut_replication(self) -> None:
        """From now on, writes to the master never reach the replica."""
        client = _client(self.master.port)
        try:
            client.acl_setuser(REPL_USER, enabled=False)
            client.client_kill_filter(_type="replica")
        finally:
            client.close()
        replica = _client(self.replica.port)
        try:
            wait_until("replication link down",
                  lambda: replica.info("replication").get("master_link_status") != "up",
                  10.0, self.replica.proc)
        finally:
            replica.close()

    def reported_master(self) -> tuple[str, int] | None:
        """The master address the first sentinel that answers names (None if none does)."""
        for node in self.sentinels:
            client = _client(node.port)
            try:
                addr = client.sentinel_get_master_addr_by_name(SERVICE)
                if addr:
                    return str(addr[0]), int(addr[1])
            except redis.RedisError:
                continue
            finally:
                client.close()
        return None

    def promoted(self) -> bool:
        """Every sentinel names the replica as master, and the replica says it is one."""
        for node in self.sentinels:
            client = _client(node.port)
            try:
                addr = client.sentinel_get_master_addr_by_name(SERVICE)
            except redis.RedisError:
                return False
            finally:
                client.close()
            if not addr or int(addr[1]) != self.replica.port:
                return False
        client = _client(self.replica.port)
        try:
            return bool(client.info("replication").get("role") == "master")
        except redis.RedisError:
            return False
        finally:
            client.close()

    def new_master(self) -> redis.Redis:
        """A plain client on the promoted replica (close it)."""
        return _client(self.replica.port)

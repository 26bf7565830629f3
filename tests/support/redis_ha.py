"""Real Redis topologies for tests, from the machine's redis-server, on free ports in
temporary folders: a Sentinel set (one master, one replica, three sentinels) and a
Cluster (three shards, each a master and a replica, so that a master can fail over).

Never touches a Redis already running on the machine.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

from tests.support.redis_server import find_redis_server

MASTER = "tracker"
DEADLINE = 30.0


def free_port() -> int:
    """A free port whose cluster bus port (+10000) is free too, as Redis Cluster needs."""
    while True:
        port = random.randint(20000, 55000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


def _binary() -> str:
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary")
    return binary


class Node:
    """One redis-server (or sentinel) process, configured by a file in its own folder."""

    def __init__(self, folder: Path, lines: list[str], sentinel: bool = False) -> None:
        self.port = free_port()
        self.folder = folder / str(self.port)
        self.folder.mkdir()
        config = self.folder / "redis.conf"
        config.write_text("\n".join([f"port {self.port}", "bind 127.0.0.1", "save \"\"",
                                     "appendonly no", f"dir {self.folder}", *lines]) + "\n")
        args = [_binary(), str(config)] + (["--sentinel"] if sentinel else [])
        self.log = (self.folder / "log").open("wb")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                        cwd=self.folder)
        self.client = redis.Redis(port=self.port, socket_timeout=2, decode_responses=True)
        deadline = time.monotonic() + DEADLINE
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.folder / "log").read_text())
            time.sleep(0.05)

    def host_port(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def answers(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        self.kill()
        self.client.close()
        self.log.close()


def wait_until(condition, what: str, deadline: float = DEADLINE) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline
    while True:
        try:
            if condition():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting until {what}")
        time.sleep(0.1)


class SentinelSet:
    def __enter__(self) -> SentinelSet:
        self.folder = Path(tempfile.mkdtemp(prefix="tracker-sentinel-"))
        self.master = Node(self.folder, [])
        self.replica = Node(self.folder, [f"replicaof 127.0.0.1 {self.master.port}"])
        self.sentinels = [Node(self.folder, [
            f"sentinel monitor {MASTER} 127.0.0.1 {self.master.port} 2",
            f"sentinel down-after-milliseconds {MASTER} 1000",
            f"sentinel failover-timeout {MASTER} 4000",
            f"sentinel parallel-syncs {MASTER} 1"], sentinel=True) for _ in range(3)]
        wait_until(lambda: self.replica.client.info("replication")["master_link_status"] == "up",
                   "the replica is in sync")
        wait_until(lambda: all(
            len(s.client.sentinel_sentinels(MASTER)) == 2
            and len(s.client.sentinel_slaves(MASTER)) == 1 for s in self.sentinels),
            "every sentinel knows the others and the replica")
        return self

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{MASTER}"

    def master_port(self) -> int:
        return int(self.sentinels[0].client.sentinel_get_master_addr_by_name(MASTER)[1])

    def kill_master(self) -> None:
        """SIGKILL the master; return once the sentinels have promoted the replica."""
        self.master.kill()
        wait_until(lambda: all(int(s.client.sentinel_get_master_addr_by_name(MASTER)[1])
                               == self.replica.port for s in self.sentinels),
                   "the sentinels promoted the replica")

    def __exit__(self, *exc_info: object) -> None:
        for node in [*self.sentinels, self.replica, self.master]:
            node.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class ClusterSet:
    def __enter__(self) -> ClusterSet:
        self.folder = Path(tempfile.mkdtemp(prefix="tracker-cluster-"))
        lines = ["cluster-enabled yes", "cluster-config-file nodes.conf",
                 "cluster-node-timeout 1000", "cluster-replica-validity-factor 0"]
        self.nodes = [Node(self.folder, lines) for _ in range(6)]
        cli = shutil.which("redis-cli") or str(Path(_binary()).with_name("redis-cli"))
        subprocess.run([cli, "--cluster", "create",
                        *(f"127.0.0.1:{n.port}" for n in self.nodes),
                        "--cluster-replicas", "1", "--cluster-yes"],
                       check=True, capture_output=True, timeout=DEADLINE)
        wait_until(lambda: all(n.client.cluster("info")["cluster_state"] == "ok"
                               for n in self.nodes), "the cluster is up")
        wait_until(self._replicas_in_sync, "every replica is in sync")
        return self

    def _replicas_in_sync(self) -> bool:
        replicas = [n for n in self.nodes if n.client.info("replication")["role"] == "slave"]
        return len(replicas) == 3 and all(
            n.client.info("replication")["master_link_status"] == "up" for n in replicas)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:3])

    def owner(self, channel: str) -> Node:
        """The master that owns `channel`'s slot now."""
        slot = self.nodes[0].client.cluster("keyslot", channel)
        alive = next(n for n in self.nodes if n.process.poll() is None)
        for start, end, master, *_ in alive.client.cluster("slots"):
            if start <= slot <= end:
                return next(n for n in self.nodes if n.port == int(master[1]))
        raise AssertionError(f"no owner for slot {slot}")

    def kill_owner(self, channel: str) -> Node:
        """SIGKILL the master of `channel`; return once its replica took over."""
        old = self.owner(channel)
        old.kill()
        alive = [n for n in self.nodes if n is not old]
        wait_until(lambda: self.owner(channel) is not old and all(
            n.client.cluster("info")["cluster_state"] == "ok" for n in alive),
            "the replica took over")
        return old

    def move_slot(self, channel: str) -> Node:
        """Give `channel`'s slot to another master, as a resharding does (the slot holds no
        key: nothing to migrate); return the new owner once every node agrees."""
        slot = self.nodes[0].client.execute_command("CLUSTER", "KEYSLOT", channel)
        old = self.owner(channel)
        masters = [n for n in self.nodes if n.process.poll() is None
                   and n.client.info("replication")["role"] == "master"]
        new = next(n for n in masters if n is not old)
        old_id, new_id = (n.client.execute_command("CLUSTER", "MYID") for n in (old, new))
        new.client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", old_id)
        old.client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", new_id)
        for node in (new, old, *[n for n in masters if n not in (old, new)]):
            node.client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", new_id)
        wait_until(lambda: all(self._owner_seen_by(n, slot) == new.port for n in masters),
                   "every master saw the slot move")
        return new

    @staticmethod
    def _owner_seen_by(node: Node, slot: int) -> int | None:
        for start, end, master, *_ in node.client.cluster("slots"):
            if start <= slot <= end:
                return int(master[1])
        return None

    def kill_owner_and_its_replica(self, channel: str) -> None:
        """SIGKILL the master of `channel` and its replica: no failover, the slot is lost."""
        old = self.owner(channel)
        for node in self.nodes:
            if node is not old and node.process.poll() is None:
                replication = node.client.info("replication")
                if replication["role"] == "slave" and int(replication["master_port"]) == old.port:
                    node.kill()
        old.kill()

    def __exit__(self, *exc_info: object) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

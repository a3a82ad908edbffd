"""A cluster-mode-enabled topology built with direct cluster commands.

Building steps: start every node at once; give each primary a balanced range of the 16,384
slots (CLUSTER ADDSLOTSRANGE) and a distinct config epoch; introduce the nodes (CLUSTER MEET);
attach each replica to its primary (CLUSTER REPLICATE); then poll, every few milliseconds,
until every node reports `cluster_state:ok`, every node sees the same slot map covering all
slots, and every replica's link to its primary is up. No fixed sleeps.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import redis
from redis.cluster import ClusterNode, LoadBalancingStrategy, RedisCluster

from ..errors import ClusterNotReadyError, ConfigurationError, UnknownNodeError
from ..node import Node, Role
from ..ports import BUS_PORT_OFFSET
from .base import Progress, Topology
from .placement import DEFAULT_AZS, place
from .replication import validate_replicas

SLOT_COUNT = 16384
#: ElastiCache's limit on shards per cluster.
MAX_SHARDS = 500
#: What one idle lab node costs, with room for the course's small data sets.
NODE_BUDGET_BYTES = 48 * 1024 * 1024
POLL_INTERVAL_S = 0.005


def available_memory_bytes() -> int:
    """Memory the machine can still give to new processes (a conservative guess off Linux)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
        except (ValueError, OSError):
            pass
    return 4 * 1024**3


def max_shards(replicas: int) -> int:
    """The most shards of `replicas` replicas this machine's free memory allows (at most 500)."""
    per_shard = NODE_BUDGET_BYTES * (1 + replicas)
    return max(1, min(MAX_SHARDS, available_memory_bytes() // per_shard))


def slot_ranges(shards: int) -> list[tuple[int, int]]:
    """Split the 16,384 slots into `shards` contiguous, balanced, inclusive ranges."""
    bounds = [round(index * SLOT_COUNT / shards) for index in range(shards + 1)]
    return [(bounds[index], bounds[index + 1] - 1) for index in range(shards)]


class Cluster(Topology):
    """Shards of one primary and `replicas` replicas each, spread over availability zones.

    Example::

        with Cluster(shards=3, replicas=2) as cluster:
            client = cluster.client()           # a RedisCluster client
            client.set("user:1", "Ada")
            cluster.primary(0), cluster.replicas(0)
    """

    kind = "cluster"

    def __init__(self, shards: int = 3, replicas: int = 2, azs=DEFAULT_AZS, **options: Any) -> None:
        super().__init__(azs=azs, **options)
        self.replica_count = validate_replicas(replicas)
        if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
            raise ConfigurationError(f"shards must be a whole number of at least 1 (got {shards!r}); 3 is a good start.")
        limit = max_shards(self.replica_count)
        if shards > limit:
            raise ConfigurationError(
                f"{shards} shards x {1 + self.replica_count} nodes will not fit in this machine's free memory "
                f"(about {available_memory_bytes() // 2**20} MB free allows {limit} shards of {1 + self.replica_count} nodes). "
                "Use fewer shards or replicas, or stop other labs."
            )
        self.shard_count = shards
        self.node_ids: dict[int, str] = {}  # port -> cluster node id

    def _record_settings(self) -> dict:
        return {**super()._record_settings(), "shards": self.shard_count, "replicas": self.replica_count}

    # -- building -----------------------------------------------------------------------------
    def _build(self, progress: Progress) -> None:
        layout = place(self.shard_count, self.replica_count, self.azs)
        specs = [(f"shard-{shard}-primary", Role.PRIMARY, shard, plan.primary, {"cluster": True}) for shard, plan in enumerate(layout)]
        for shard, plan in enumerate(layout):
            specs += [
                (f"shard-{shard}-replica-{number}", Role.REPLICA, shard, az, {"cluster": True})
                for number, az in enumerate(plan.replicas, start=1)
            ]
        progress(f"starting {len(specs)} nodes ({self.shard_count} shards x {1 + self.replica_count}) in {', '.join(self.azs)}")
        nodes = self._new_nodes(specs)
        self._launch(nodes)
        clients = {node.port: node.client(socket_timeout=5.0) for node in nodes}
        try:
            progress("assigning the 16,384 hash slots")
            for node in nodes:
                self.node_ids[node.port] = clients[node.port].execute_command("CLUSTER", "MYID")
            for epoch, node in enumerate(nodes, start=1):
                # Distinct epochs up front avoid the engine's slow epoch-collision resolution.
                clients[node.port].execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
            for (first, last), primary in zip(slot_ranges(self.shard_count), self._primaries()):
                clients[primary.port].execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
            progress("introducing the nodes to each other (CLUSTER MEET)")
            first_node = nodes[0]
            for node in nodes[1:]:
                clients[first_node.port].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, node.port + BUS_PORT_OFFSET)
            for replica in self._all_replicas():
                primary = self.primary(replica.shard)
                if primary is not first_node:
                    clients[replica.port].execute_command("CLUSTER", "MEET", "127.0.0.1", primary.port, primary.port + BUS_PORT_OFFSET)
            progress("attaching replicas to their primaries (CLUSTER REPLICATE)")
            self._attach_replicas(clients)
            progress("waiting for cluster_state:ok, one slot map and every replica link")
            self._wait_ready(clients)
        finally:
            for client in clients.values():
                client.close()

    def _attach_replicas(self, clients: dict[int, redis.Redis]) -> None:
        waiting = list(self._all_replicas())
        deadline = time.monotonic() + self.start_timeout
        while waiting:
            still = []
            for replica in waiting:
                primary_id = self.node_ids[self.primary(replica.shard).port]
                try:
                    clients[replica.port].execute_command("CLUSTER", "REPLICATE", primary_id)
                except redis.ResponseError as error:
                    if "Unknown node" not in str(error):
                        raise
                    still.append(replica)  # the MEET handshake has not finished yet
            waiting = still
            if waiting and time.monotonic() > deadline:
                raise ClusterNotReadyError(f"replicas {[node.name for node in waiting]} never learned their primary's id.")
            if waiting:
                time.sleep(POLL_INTERVAL_S)

    def _wait_ready(self, clients: dict[int, redis.Redis]) -> None:
        deadline = time.monotonic() + self.start_timeout
        reason = "not checked yet"
        while True:
            reason = self._not_ready_reason(clients)
            if reason is None:
                return
            if time.monotonic() > deadline:
                raise ClusterNotReadyError(
                    f"the cluster was not ready after {self.start_timeout:.0f} s: {reason}. "
                    "The machine may be overloaded; try fewer shards, or stop other labs."
                )
            time.sleep(POLL_INTERVAL_S)

    def _not_ready_reason(self, clients: dict[int, redis.Redis]) -> str | None:
        """Why the cluster is not ready yet, or None when it is. Cheap checks first."""
        for node in self.nodes:
            state = clients[node.port].execute_command("CLUSTER", "INFO")
            if "cluster_state:ok" not in state:
                return f"{node.name} does not report cluster_state:ok yet"
        maps = {node.port: _slot_map(clients[node.port]) for node in self.nodes}
        reference = maps[self.nodes[0].port]
        if sum(last - first + 1 for first, last, _primary, _replicas in reference) != SLOT_COUNT:
            return "not every slot is assigned yet"
        for node in self.nodes:
            if maps[node.port] != reference:
                return f"{node.name} does not agree on the slot map yet"
        for replica in self._all_replicas():
            if clients[replica.port].info("replication").get("master_link_status") != "up":
                return f"{replica.name}'s link to its primary is not up yet"
        return None

    # -- looking things up ------------------------------------------------------------------
    def _primaries(self) -> list[Node]:
        return [node for node in self.nodes if node.role is Role.PRIMARY]

    def _all_replicas(self) -> list[Node]:
        return [node for node in self.nodes if node.role is Role.REPLICA]

    @property
    def shards(self) -> list[int]:
        return sorted({node.shard for node in self.nodes if node.shard is not None})

    def _check_shard(self, shard: int) -> None:
        if shard not in self.shards:
            raise UnknownNodeError(f"shard {shard!r} does not exist; this cluster's shards are {self.shards}.")

    def primary(self, shard: int) -> Node:
        """The primary of `shard` (labkit's record; `refresh()` re-reads roles from the servers)."""
        self._check_shard(shard)
        for node in self.nodes:
            if node.shard == shard and node.role is Role.PRIMARY:
                return node
        raise UnknownNodeError(f"shard {shard} has no primary right now.")

    def replicas(self, shard: int) -> list[Node]:
        self._check_shard(shard)
        return [node for node in self.nodes if node.shard == shard and node.role is Role.REPLICA]

    def node_id(self, node: Node | int | str) -> str:
        """The cluster node id (40 hex characters) of a node."""
        return self.node_ids[self.node(node).port]

    def _topology_client(self, *, read_from_replicas: bool = False, decode_responses: bool = True, **kwargs: Any) -> RedisCluster:
        startup = [ClusterNode("127.0.0.1", node.port) for node in self._primaries()]
        if read_from_replicas:
            kwargs.setdefault("load_balancing_strategy", LoadBalancingStrategy.ROUND_ROBIN_REPLICAS)
        kwargs.setdefault("socket_connect_timeout", 1.0)
        kwargs.setdefault("socket_timeout", 5.0)
        return RedisCluster(startup_nodes=startup, decode_responses=decode_responses, **kwargs)


def _slot_map(client: redis.Redis) -> list[tuple[int, int, str, tuple[str, ...]]]:
    """CLUSTER SLOTS reduced to (first, last, primary id, sorted replica ids), sorted."""
    entries = []
    for entry in client.execute_command("CLUSTER", "SLOTS"):
        first, last, primary, *replicas = entry
        entries.append((int(first), int(last), primary[2], tuple(sorted(replica[2] for replica in replicas))))
    return sorted(entries)

"""A replication group with cluster mode disabled: one primary and 0 to 5 replicas."""

from __future__ import annotations

import time
from typing import Any

import redis

from ..errors import ClusterNotReadyError, ConfigurationError, UnknownNodeError
from ..node import Node, Role
from .base import Progress, Topology
from .placement import DEFAULT_AZS, place

MAX_REPLICAS = 5


def validate_replicas(replicas: object) -> int:
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 <= replicas <= MAX_REPLICAS:
        raise ConfigurationError(
            f"replicas must be a whole number from 0 to {MAX_REPLICAS}, as in ElastiCache (got {replicas!r}); "
            "2 replicas in 3 AZs is the usual highly available choice."
        )
    return replicas


class ReplicationGroup(Topology):
    """One primary and its replicas, each replica in another AZ than the primary.

    Example::

        with ReplicationGroup(replicas=2) as group:
            group.client().set("k", "v")                  # writes go to the primary
            group.client(group.replicas()[0]).get("k")    # reads from a replica (eventually "v")
    """

    kind = "replication"

    def __init__(self, replicas: int = 2, azs=DEFAULT_AZS, **options: Any) -> None:
        super().__init__(azs=azs, **options)
        self.replica_count = validate_replicas(replicas)

    def _record_settings(self) -> dict:
        return {**super()._record_settings(), "replicas": self.replica_count}

    def _build(self, progress: Progress) -> None:
        layout = place(1, self.replica_count, self.azs)[0]
        progress(f"starting the primary in {layout.primary} and {self.replica_count} replica(s) in {', '.join(layout.replicas) or '-'}")
        nodes = self._new_nodes(
            [("primary", Role.PRIMARY, 0, layout.primary, {})]
            + [(f"replica-{index}", Role.REPLICA, 0, az, {}) for index, az in enumerate(layout.replicas, start=1)]
        )
        self._launch(nodes)
        primary, replicas = nodes[0], nodes[1:]
        if replicas:
            progress("attaching replicas (REPLICAOF) and waiting for their first sync")
            for replica in replicas:
                # The command connects at once; a --replicaof flag would wait for the next 1 s cron tick.
                with replica.client() as client:
                    client.replicaof("127.0.0.1", primary.port)
            wait_for_replica_links(replicas, self.start_timeout)

    def primary(self, shard: int = 0) -> Node:
        """The node that is primary now (labkit's record; `refresh()` re-reads it from the servers)."""
        if shard != 0:
            raise UnknownNodeError(f"a replication group has one shard, numbered 0 (got {shard!r}); use a Cluster for more shards.")
        for node in self.nodes:
            if node.role is Role.PRIMARY:
                return node
        raise UnknownNodeError("this replication group has no primary right now.")

    def replicas(self, shard: int = 0) -> list[Node]:
        self.primary(shard)  # validates the shard number
        return [node for node in self.nodes if node.role is Role.REPLICA]

    def _topology_client(self, **kwargs: Any) -> redis.Redis:
        return self.primary().client(**kwargs)


def wait_for_replica_links(replicas: list[Node], timeout: float) -> None:
    """Poll every few ms until each replica reports master_link_status:up."""
    deadline = time.monotonic() + timeout
    clients = {node.port: node.client(socket_timeout=1.0) for node in replicas}
    pending = list(replicas)
    try:
        while pending:
            pending = [node for node in pending if not _link_up(clients[node.port])]
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(node.name for node in pending)
                raise ClusterNotReadyError(
                    f"replica(s) {names} did not finish their first sync within {timeout:.0f} s. "
                    "The machine may be overloaded; stop other labs and try again."
                )
            time.sleep(0.005)
    finally:
        for client in clients.values():
            client.close()


def _link_up(client: redis.Redis) -> bool:
    try:
        return client.info("replication").get("master_link_status") == "up"
    except redis.RedisError:
        return False

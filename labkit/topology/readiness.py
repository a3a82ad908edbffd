"""When is a lab (or a node of it) ready? Small strategy objects, polled until they say so.

A strategy's `reason()` returns why it is not ready yet, or None when it is; `wait()` polls it every
few milliseconds until its deadline and then raises an error that names the node and the reason.
Start, restart and rebalance all use them.

Example::

    ClusterConverged(cluster.nodes).wait(30.0)      # every node ok, one slot map, every replica linked
    NodeRejoined(node, cluster=True).wait(20.0)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis

from .._polling import is_transient
from .._wire import SLOT_COUNT, slot_map
from ..errors import ClusterNotReadyError, LabkitError
from ..node import Node, Role

POLL_INTERVAL_S = 0.005


class Readiness:
    """Base of the strategies: `reason()` is None once ready; `wait(timeout)` polls it."""

    #: What a timeout raises; the message is "<what> was not ready after N s: <reason>. <advice>".
    error: type[LabkitError] = ClusterNotReadyError
    what = "the lab"
    advice = "The machine may be overloaded; try fewer shards, or stop other labs."

    def reason(self) -> str | None:
        raise NotImplementedError

    def close(self) -> None:
        """Close the connections the strategy opened."""

    def wait(self, timeout: float, error: Callable[[str], LabkitError] | None = None) -> None:
        """Poll `reason()` until it is None; raise `error(message)` (default: `self.error`) on timeout."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    reason = self.reason()
                except Exception as failure:  # noqa: BLE001 - only transient errors mean "not yet"
                    if not is_transient(failure):
                        raise
                    reason = f"{type(failure).__name__}: {failure}"
                if reason is None:
                    return
                if time.monotonic() > deadline:
                    message = f"{self.what} was not ready after {timeout:.0f} s: {reason}. {self.advice}"
                    raise (error or self.error)(message)
                time.sleep(POLL_INTERVAL_S)
        finally:
            self.close()


@dataclass
class _Clients:
    """One short-timeout client per node, opened on first use."""

    timeout: float = 5.0
    clients: dict[int, redis.Redis] = field(default_factory=dict)

    def of(self, node: Node) -> redis.Redis:
        client = self.clients.get(node.port)
        if client is None:
            client = self.clients[node.port] = node.client(socket_timeout=self.timeout, socket_connect_timeout=1.0)
        return client

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()


class ClusterConverged(Readiness):
    """Every node reports cluster_state:ok, all agree on one slot map covering every slot, and
    every replica's link to its primary is up (RLTest's rule). Cheap checks first.

    Example::

        ClusterConverged(cluster.nodes).wait(30.0)
    """

    what = "the cluster"

    def __init__(self, nodes: Sequence[Node]) -> None:
        self.nodes = list(nodes)
        self._clients = _Clients()

    def reason(self) -> str | None:
        for node in self.nodes:
            if "cluster_state:ok" not in self._clients.of(node).execute_command("CLUSTER", "INFO"):
                return f"{node.name} (port {node.port}) does not report cluster_state:ok yet"
        maps = {node.port: slot_map(self._clients.of(node).execute_command("CLUSTER", "SLOTS")) for node in self.nodes}
        reference = maps[self.nodes[0].port]
        if sum(last - first + 1 for first, last, _primary, _replicas in reference) != SLOT_COUNT:
            return "not every slot is assigned yet"
        for node in self.nodes:
            if maps[node.port] != reference:
                return f"{node.name} (port {node.port}) does not agree on the slot map yet"
        for replica in (node for node in self.nodes if node.role is Role.REPLICA):
            if self._clients.of(replica).info("replication").get("master_link_status") != "up":
                return f"{replica.name}'s (port {replica.port}) link to its primary is not up yet"
        return None

    def close(self) -> None:
        self._clients.close()


class ReplicasLinked(Readiness):
    """Each replica reports master_link_status:up (its first sync is done).

    Example::

        ReplicasLinked(group.replicas()).wait(10.0)
    """

    what = "the replicas"
    advice = "The machine may be overloaded; stop other labs and try again."

    def __init__(self, replicas: Sequence[Node]) -> None:
        self.pending = list(replicas)
        self._clients = _Clients(timeout=1.0)

    def reason(self) -> str | None:
        still = []
        for node in self.pending:
            try:
                up = self._clients.of(node).info("replication").get("master_link_status") == "up"
            except redis.RedisError:
                up = False
            if not up:
                still.append(node)
        self.pending = still
        if still:
            return f"replica(s) {', '.join(f'{node.name} (port {node.port})' for node in still)} did not finish their first sync"
        return None

    def close(self) -> None:
        self._clients.close()


class NodeRejoined(Readiness):
    """A restarted node is back in its topology: in a cluster, cluster_state:ok; a replica's link
    is up; a primary says it is one.

    Example::

        NodeRejoined(node, cluster=True, before=cluster.sync_roles).wait(20.0)
    """

    def __init__(self, node: Node, cluster: bool, before: Callable[[], object] | None = None) -> None:
        self.node = node
        self.cluster = cluster
        self.before = before
        self.what = f"{node.name} (port {node.port})"
        self.advice = f"See its log: {node.logfile}"
        self._clients = _Clients(timeout=1.0)

    def reason(self) -> str | None:
        if self.before is not None:
            self.before()  # e.g. re-read roles: a restarted primary may have come back as a replica
        client = self._clients.of(self.node)
        if self.cluster and "cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
            return "it does not report cluster_state:ok yet"
        if self.node.role is Role.REPLICA:
            info = client.info("replication")
            if info.get("role") != "slave" or info.get("master_link_status") != "up":
                return "its link to its primary is not up yet"
            return None
        if client.execute_command("ROLE")[0] != "master":
            return "it is not primary yet"
        return None

    def close(self) -> None:
        self._clients.close()

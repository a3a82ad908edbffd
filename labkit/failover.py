"""Failover: the replication group's Multi-AZ monitor, and the cluster's engine-driven failover.

A replication group (cluster mode disabled) has no failure detector of its own, so labkit plays
ElastiCache's part: a monitor thread PINGs the primary; when it has not answered for
`failure_detection_s` it promotes the replica with the highest replication offset (the least
lag), points the other replicas at it and moves the primary endpoint. A cluster detects and
promotes by itself over its cluster bus; labkit only watches (to log it) and can ask for a
manual failover (`CLUSTER FAILOVER [FORCE|TAKEOVER]`).

Example::

    with labkit.ReplicationGroup(replicas=2, failure_detection_s=1.0) as group:
        group.kill(group.primary())
        group.wait_for_failover()          # the new primary, about 1 s later
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ._wire import replication_offset as wire_replication_offset
from .errors import FailoverError
from .node import Node, NodeStatus

#: How often the replication-group monitor PINGs the primary.
MONITOR_INTERVAL_S = 0.05
#: How long one health-check PING may take before it counts as a failure.
PING_TIMEOUT_S = 0.25
FAILOVER_MODES = ("graceful", "force", "takeover")


@dataclass(frozen=True)
class ReplicaOffset:
    """A replica's replication offset: how much of the primary's stream it has applied."""

    node: str
    offset: int
    link_up: bool


@dataclass(frozen=True)
class ReplicaLag:
    """How far a replica is behind, as its primary sees it (replicas report every second).

    `lag_bytes`: replication stream the primary sent that the replica has not acknowledged;
    `seconds_since_ack`: how long since the replica last acknowledged anything.
    """

    node: str
    state: str
    acknowledged_offset: int
    lag_bytes: int
    seconds_since_ack: int


def quick_client(node: Node, timeout: float = PING_TIMEOUT_S) -> redis.Redis:
    """A client that fails fast and never retries: health checks must see failures, not hide them."""
    return node.client(socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))


def replication_offset(client: redis.Redis) -> tuple[int, bool]:
    """(applied replication offset, link up?) of a replica, read from INFO replication."""
    return wire_replication_offset(client.info("replication"))


def best_replica(replicas: Iterable[Node]) -> tuple[Node | None, list[ReplicaOffset]]:
    """The reachable replica with the highest replication offset, and every offset read."""
    offsets: list[ReplicaOffset] = []
    best: tuple[int, Node] | None = None
    for node in replicas:
        if node.status is not NodeStatus.UP:
            continue
        try:
            with quick_client(node) as client:
                offset, link_up = replication_offset(client)
        except redis.RedisError:
            continue
        offsets.append(ReplicaOffset(node.name, offset, link_up))
        if best is None or offset > best[0]:
            best = (offset, node)
    return (best[1] if best else None), offsets


def check_mode(mode: str) -> str:
    """`mode` if it is a failover mode labkit knows, else a FailoverError that explains the three."""
    if not isinstance(mode, str) or mode not in FAILOVER_MODES:
        raise FailoverError(
            f"mode must be one of {', '.join(repr(name) for name in FAILOVER_MODES)} (got {mode!r}): "
            "'graceful' waits for the replica to catch up (no lost writes), 'force' does not wait for the "
            "primary, 'takeover' does not even ask the other primaries."
        )
    return mode


def alive(node: Node) -> bool:
    """Whether labkit believes the node is up and its process is still running."""
    return node.status is NodeStatus.UP and node.is_running()


def ping(client: redis.Redis) -> bool:
    """One health-check PING: True if it answered, False on any Redis error (a failed check is data)."""
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False

"""A replication group with cluster mode disabled: one primary and 0 to 5 replicas.

With `automatic_failover=True` (ElastiCache's Multi-AZ, the default) a monitor thread watches
the primary and promotes the replica with the least lag when it dies or hangs; the
`primary_endpoint` follows it and `reader_endpoint` spreads connections over the replicas.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .._polling import BackgroundThread, wait_until
from .._wire import replicas_seen, replication_offset
from ..endpoints import PrimaryEndpoint, ReaderEndpoint
from ..errors import ClusterNotReadyError, ConfigurationError, FailoverError, TopologyStateError, UnknownNodeError
from ..failover import MONITOR_INTERVAL_S, ReplicaLag, ReplicaOffset, alive, best_replica, check_mode, ping, quick_client
from ..node import Node, NodeStatus, Role
from .base import Lifecycle, NodeSpec, Progress, Topology
from .placement import DEFAULT_AZS, place
from .readiness import ReplicasLinked
from .spec import MAX_REPLICAS, LabSpec, check_durability, common_options

__all__ = ["MAX_REPLICAS", "ReplicationGroup", "wait_for_replica_links", "wait_for_streaming"]


class ReplicationGroup(Topology):
    """One primary and its replicas, each replica in another AZ than the primary.

    Example::

        with ReplicationGroup(replicas=2) as group:
            writer = group.primary_endpoint.client()      # follows failovers, like a DNS name
            writer.set("k", "v")
            group.reader_endpoint.client().get("k")       # a replica (eventually "v")
            group.reader_endpoint.client(az="az-b")       # a replica in az-b while there is one
            group.kill(group.primary())                   # about 1 s later a replica is promoted

    `automatic_failover` (Multi-AZ, on by default when there is a replica), `failure_detection_s` (how long the primary
    must be silent before a replica is promoted: 0.9 s by default), `endpoint_propagation_s` (how long the
    endpoints take to follow, like a DNS TTL), and `min_replicas_to_write` /
    `min_replicas_max_lag` (refuse writes when too few replicas keep up) are per group.
    """

    kind = "replication"

    def __init__(
        self,
        replicas: int = 2,
        azs=DEFAULT_AZS,
        *,
        automatic_failover: bool | None = None,
        failure_detection_s: float = 0.9,
        endpoint_propagation_s: float = 0.0,
        min_replicas_to_write: int = 0,
        min_replicas_max_lag: int = 10,
        **options: Any,
    ) -> None:
        if automatic_failover is None:  # ElastiCache's Multi-AZ: on whenever there is a replica to promote
            automatic_failover = isinstance(replicas, int) and not isinstance(replicas, bool) and replicas > 0
        self._setup(LabSpec(
            "replication", replicas=replicas, azs=azs, automatic_failover=automatic_failover,
            failure_detection_s=failure_detection_s, endpoint_propagation_s=endpoint_propagation_s,
            min_replicas_to_write=min_replicas_to_write, min_replicas_max_lag=min_replicas_max_lag,
            **common_options(self.kind, options),
        ))

    def _setup(self, spec: LabSpec) -> None:
        super()._setup(spec)
        self.automatic_failover = spec.automatic_failover
        self.failure_detection_s = spec.failure_detection_s
        self.endpoint_propagation_s = spec.endpoint_propagation_s
        self.min_replicas_to_write = spec.min_replicas_to_write
        self.min_replicas_max_lag = spec.min_replicas_max_lag
        self._primary_endpoint = PrimaryEndpoint(
            f"primary.{self.lab_id}.cache.local", [], self.endpoint_propagation_s, azs=self.azs, connection_options=self.connection_options,
        )
        self._reader_endpoint = ReaderEndpoint(
            f"reader.{self.lab_id}.cache.local", [], self.endpoint_propagation_s, azs=self.azs, connection_options=self.connection_options,
        )
        self._monitor: BackgroundThread | None = None
        self._monitor_client: tuple[tuple[int, tuple[str, str] | None], redis.Redis] | None = None
        self._last_primary_answer = time.monotonic()
        #: Held by every change of roles: the monitor's promotions, manual failovers, demotions, restarts.
        self._failover_lock = threading.RLock()
        self._to_demote: set[Node] = set()
        self._partitioned: set[Node] = set()
        self._nowhere_port: int | None = None
        self._no_candidate_logged = False
        self._upstream_port: int | None = None
        self.promotions: list[tuple[float, str]] = []  # (time.monotonic(), node name) of each promotion

    @property
    def monitor(self) -> BackgroundThread | None:
        """The Multi-AZ monitor thread (None when automatic failover is off); its `failures` and
        `last_error` say how its health checks fare."""
        return self._monitor

    def _build(self, progress: Progress) -> None:
        layout = place(1, self.replica_count, self.azs)[0]
        progress(f"starting the primary in {layout.primary} and {self.replica_count} replica(s) in {', '.join(layout.replicas) or '-'}")
        nodes = self.add_nodes(
            [NodeSpec("primary", Role.PRIMARY, 0, layout.primary)]
            + [NodeSpec(f"replica-{index}", Role.REPLICA, 0, az) for index, az in enumerate(layout.replicas, start=1)]
        )
        primary, replicas = nodes[0], nodes[1:]
        if replicas:
            progress("attaching replicas (REPLICAOF) and waiting for their first sync")
            for replica in replicas:
                # The command connects at once; a --replicaof flag would wait for the next 1 s cron tick.
                with replica.client() as client:
                    client.replicaof("127.0.0.1", primary.port)
            wait_for_replica_links(replicas, self.start_timeout)
            wait_for_streaming(primary, len(replicas), self.start_timeout)
        self._apply_durability()
        self._move_endpoints(immediately=True)
        if self.automatic_failover and not self.detached:
            self._last_primary_answer = time.monotonic()
            self._monitor = BackgroundThread(f"labkit-failover-monitor-{self.lab_id}", self._monitor_step, MONITOR_INTERVAL_S).start()

    def _stop_background(self, wait: bool = True) -> None:
        if self._monitor is not None:
            self._monitor.stop(wait)
            self._monitor = None
        if wait:  # else the monitor thread may still be using its client: it closes it itself
            self._close_monitor_client()

    def _close_monitor_client(self) -> None:
        if self._monitor_client is not None:
            self._monitor_client[1].close()
            self._monitor_client = None

    # -- a read-only copy of a primary outside the group ------------------------------------------
    @property
    def upstream_port(self) -> int | None:
        """The port of the primary outside this group that its primary replicates from (a Global
        Datastore's secondary Region: `set_upstream()`), or None when the group is writable."""
        return self._upstream_port

    def set_upstream(self, port: int | None) -> None:
        """Make the group a read-only copy of a primary outside it, or (None) writable again.

        With a port, the group's primary runs REPLICAOF 127.0.0.1 `port` (that primary, or a
        labkit.Link to it); its replicas keep replicating from it (chained), and the Multi-AZ
        monitor, when it promotes a replica, points the new primary at `port` too instead of making
        it writable. With None, the primary runs REPLICAOF NO ONE and accepts writes.

        Example::

            secondary.set_upstream(link.port)   # eu-west-1 follows us-east-1 through the link
            secondary.set_upstream(None)        # promoted: writable again
        """
        self.require_running()
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
            raise ConfigurationError(f"set_upstream needs a TCP port (got {port!r}), or None to make the group writable again.")
        if port is not None and port in self.ports:
            raise ConfigurationError(f"port {port} is a node of this group; the upstream is a primary outside it (or a Link to one).")
        with self._failover_lock:
            primary = self.primary()
            with quick_client(primary, 2.0) as client:
                self._follow_upstream(client, port)
            self._upstream_port = port
            detail = f"replicates from port {port} (read-only)" if port is not None else "REPLICAOF NO ONE: accepts writes"
            self.log_event("upstream", primary.name, detail)

    @staticmethod
    def _follow_upstream(client: redis.Redis, port: int | None) -> None:
        if port is None:
            client.replicaof("no", "one")
        else:
            client.replicaof("127.0.0.1", port)

    # -- a group `labkit up` started, attached from here ---------------------------------------------
    # Every attached process follows the record every tick; the one holding the monitor lease also
    # runs the Multi-AZ monitor (promotions are written to the record, the others adopt them).
    _follow_interval_s = MONITOR_INTERVAL_S

    def _attached_background_started(self) -> None:
        if self.automatic_failover:
            self._monitor = self._follower  # the same thread: it follows, and monitors once it holds the lease

    def _attached_step(self) -> None:
        if not self.follow_record():
            self._close_monitor_client()
            return
        if not self.automatic_failover:
            return
        assert self._attachment is not None
        lease = self._attachment.monitor
        if not lease.holding:
            if not lease.acquire(note=str(os.getpid())):
                self._last_primary_answer = time.monotonic()  # another process watches the primary
                return
            self._take_over_monitor()
        try:
            self._monitor_step()
        except TopologyStateError:
            if self.lifecycle is Lifecycle.RUNNING:
                raise  # else `labkit down` took the lab away in the middle of the step: nothing to report

    def _take_over_monitor(self) -> None:
        """This process now runs the Multi-AZ monitor: find nodes that still think they are primary
        (a paused old primary the previous monitor had not demoted yet)."""
        self._last_primary_answer = time.monotonic()
        with self._failover_lock, self.roles_frozen():
            primary = self.primary()
            stale = set()
            for node in self.nodes:
                if node is primary or node in self._partitioned:
                    continue
                if node.status is NodeStatus.PAUSED:
                    stale.add(node)  # it answers nothing now: demoted once resumed
                    continue
                if not alive(node):
                    continue  # a restart makes it a replica of the primary anyway
                try:
                    with quick_client(node, 1.0) as client:
                        role = client.execute_command("ROLE")
                except redis.RedisError:
                    stale.add(node)
                    continue
                if role[0] == "master" or int(role[2]) != primary.port:
                    stale.add(node)
            self._to_demote = stale
        self.log_event("monitor", "group", f"this process (pid {os.getpid()}) runs the Multi-AZ monitor of the group now")

    def _roles_adopted(self, primaries_before: dict) -> None:
        new = self.primary()
        if primaries_before.get(0) is not new:
            self.promotions.append((time.monotonic(), new.name))
            self._last_primary_answer = time.monotonic()
            self._to_demote.discard(new)
            self.log_event("failover", new.name, f"{new.name} in {new.az} is primary now (changed by another process attached to this group)")
        self._move_endpoints()

    # -- looking things up ----------------------------------------------------------------------
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

    def refresh(self) -> ReplicationGroup:
        """Re-read each live node's role from the server; a node that replicates from the group's
        upstream (`set_upstream()`) is the group's primary, read-only as it is."""
        super().refresh()
        if self._upstream_port is not None:
            for node in self.nodes:
                if node.status is NodeStatus.UP and node.role is Role.REPLICA:
                    try:
                        with quick_client(node, 1.0) as client:
                            role = client.execute_command("ROLE")
                    except redis.RedisError:
                        continue
                    if int(role[2]) == self._upstream_port:
                        node.role = Role.PRIMARY
        return self

    def traffic_client(self, socket_timeout: float) -> redis.Redis:
        """Background traffic goes through the primary endpoint, so it follows failovers."""
        return self.primary_endpoint.client(retry=Retry(NoBackoff(), 0), socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)

    def verification_client(self) -> redis.Redis:
        return self.primary_endpoint.client(socket_timeout=5.0)

    def replication_offsets(self) -> list[ReplicaOffset]:
        """Each reachable replica's replication offset (higher = less lag), read now.

        Example::

            for replica in group.replication_offsets():
                print(replica.node, replica.offset, replica.link_up)
        """
        self.require_running()
        return best_replica(self.replicas())[1]

    def replication_lag(self) -> list[ReplicaLag]:
        """Each connected replica's lag as the primary sees it: bytes not yet acknowledged and
        seconds since the last acknowledgement (a paused or partitioned replica falls behind).

        Example::

            for replica in group.replication_lag():
                print(replica.node, replica.lag_bytes, replica.seconds_since_ack)
        """
        self.require_running()
        primary = self.primary()
        by_port = {node.port: node for node in self.nodes}
        with quick_client(primary, 1.0) as client:
            info = client.info("replication")
        lags = []
        for seen in replicas_seen(info):
            node = by_port.get(seen.port)
            lags.append(ReplicaLag(
                node.name if node else f"port {seen.port}", seen.state, seen.acknowledged_offset, seen.lag_bytes, int(seen.seconds_since_ack),
            ))
        return sorted(lags, key=lambda lag: lag.node)

    # -- durability knobs -------------------------------------------------------------------------
    def set_durability(self, min_replicas_to_write: int | None = None, min_replicas_max_lag: int | None = None) -> None:
        """Refuse writes (NOREPLICAS) unless `min_replicas_to_write` replicas acknowledged within
        `min_replicas_max_lag` seconds; set on every node, so it survives a failover. 0 turns it off.

        Example::

            group.set_durability(min_replicas_to_write=1, min_replicas_max_lag=1)
        """
        self.require_running()
        to_write = self.min_replicas_to_write if min_replicas_to_write is None else min_replicas_to_write
        max_lag = self.min_replicas_max_lag if min_replicas_max_lag is None else min_replicas_max_lag
        check_durability(to_write, max_lag)
        self.min_replicas_to_write, self.min_replicas_max_lag = to_write, max_lag
        self._apply_durability()
        self.log_event("durability", "group", f"min-replicas-to-write {to_write}, min-replicas-max-lag {max_lag} s")

    def _apply_durability(self, nodes: list[Node] | None = None) -> None:
        for node in nodes or self.nodes:
            if alive(node):
                with node.client(socket_timeout=2.0) as client:
                    client.config_set("min-replicas-to-write", self.min_replicas_to_write)
                    client.config_set("min-replicas-max-lag", self.min_replicas_max_lag)

    # -- endpoints --------------------------------------------------------------------------------
    @property
    def primary_endpoint(self) -> PrimaryEndpoint:
        """Always the current primary, like ElastiCache's primary endpoint (a DNS name).

        Example::

            group.primary_endpoint.client().set("k", "v")
        """
        self._init_endpoints()
        return self._primary_endpoint

    @property
    def reader_endpoint(self) -> ReaderEndpoint:
        """Every replica that is up (the primary when none is), like ElastiCache's reader endpoint:
        each new connection reaches the next one in turn and stays there until it reconnects.

        Example::

            group.reader_endpoint.client().get("k")
            group.reader_endpoint.client(az="az-b").get("k")    # prefers a replica in az-b
        """
        self._init_endpoints()
        return self._reader_endpoint

    def _init_endpoints(self) -> None:
        # A lab found again with labkit.attach() was not built here: point its endpoints now.
        if not self._primary_endpoint.target and self.nodes and any(node.role is Role.PRIMARY for node in self.nodes):
            self._move_endpoints(immediately=True)

    def reader_nodes(self) -> list[Node]:
        """The nodes the reader endpoint should lead to: every replica that is up or paused (a hung
        replica is still behind the name), or the primary when there is none, as on ElastiCache.

        Example::

            [node.name for node in group.reader_nodes()]    # ['replica-1', 'replica-2']
        """
        replicas = [node for node in self.replicas() if node.status in (NodeStatus.UP, NodeStatus.PAUSED)]
        return replicas or [self.primary()]

    def _move_endpoints(self, immediately: bool = False) -> None:
        primary = self.primary()
        readers = self.reader_nodes()
        zones = {("127.0.0.1", node.port): node.az for node in self.nodes}
        for endpoint, addresses in (
            (self._primary_endpoint, [("127.0.0.1", primary.port)]),
            (self._reader_endpoint, [("127.0.0.1", node.port) for node in readers]),
        ):
            if addresses != endpoint.target:
                if immediately:
                    delay, endpoint.propagation_delay_s = endpoint.propagation_delay_s, 0.0
                    endpoint.point_to(addresses, zones)
                    endpoint.propagation_delay_s = delay
                else:
                    endpoint.point_to(addresses, zones)

    # -- the Multi-AZ monitor -----------------------------------------------------------------------
    def _monitor_step(self) -> None:
        primary = self.primary()
        # A new primary, or new credentials (a user group that disabled `default`): a new client, or
        # the old connection's refusals would look like a silent primary.
        key = (primary.port, primary.credentials)
        if self._monitor_client is None or self._monitor_client[0] != key:
            if self._monitor_client is not None:
                self._monitor_client[1].close()
            self._monitor_client = (key, quick_client(primary))
        if ping(self._monitor_client[1]):
            self._last_primary_answer = time.monotonic()
            self._no_candidate_logged = False
            self._demote_stale_primaries()
            return
        silent_for = time.monotonic() - self._last_primary_answer
        if silent_for >= self.failure_detection_s:
            self._promote(
                None, f"the primary ({primary.name}, port {primary.port}) did not answer for {silent_for:.2f} s", graceful=False, suspect=primary,
            )

    def _demote_stale_primaries(self) -> None:
        """A paused or restarted old primary that still thinks it is primary becomes a replica.
        Called from the monitor thread and from resume(): both go through the failover lock."""
        if not self._to_demote:
            return
        with self._failover_lock, self.roles_frozen():
            self._demote_stale_primaries_locked()

    def _demote_stale_primaries_locked(self) -> None:
        for node in list(self._to_demote):
            if alive(node):
                try:
                    with quick_client(node, 1.0) as client:
                        client.replicaof("127.0.0.1", self.primary().port)
                except redis.RedisError:
                    continue
                self._to_demote.discard(node)
                self.log_event("rejoin", node.name, f"now a replica of {self.primary().name}")
                self._move_endpoints()

    def _promote(self, chosen: Node | None, reason: str, graceful: bool, suspect: Node | None = None) -> Node | None:
        """Promote `chosen` (or the replica with the least lag), repoint everyone, move the endpoints.
        `suspect`: the primary the monitor found silent (if it is no longer primary, nothing is done)."""
        with self._failover_lock, self.roles_frozen():
            old = self.primary()
            if suspect is not None and old is not suspect:
                return None  # another process attached to this group replaced it meanwhile
            candidates = [chosen] if chosen is not None else [node for node in self.replicas() if node not in self._to_demote]
            new, offsets = best_replica(candidates)
            if new is None:
                if not self._no_candidate_logged:
                    self.log_event("failover", "group", f"{reason}; no reachable replica to promote yet")
                    self._no_candidate_logged = True
                return None
            offset_text = ", ".join(f"{item.node} {item.offset}" for item in offsets)
            if graceful:
                self._graceful_switch(old, new)
            else:
                with quick_client(new, 2.0) as client:
                    self._follow_upstream(client, self._upstream_port)  # a secondary Region stays read-only
            new.role, old.role = Role.PRIMARY, Role.REPLICA
            self.primary_endpoint.point_to([("127.0.0.1", new.port)], {("127.0.0.1", new.port): new.az})  # clients first, bookkeeping after
            self.promotions.append((time.monotonic(), new.name))
            self._last_primary_answer = time.monotonic()
            self._no_candidate_logged = False
            self._partitioned.discard(new)
            for node in self.nodes:
                if node is new or node is old:
                    continue
                node.role = Role.REPLICA
                try:
                    with quick_client(node, 1.0) as client:
                        client.replicaof("127.0.0.1", new.port)
                    self._partitioned.discard(node)
                except redis.RedisError:
                    self._to_demote.add(node)  # paused or down: repointed when it answers again
            if not graceful:
                self._to_demote.add(old)
            self._move_endpoints()
            self.log_event(
                "failover", new.name,
                f"{reason}; promoted {new.name} in {new.az} (offsets: {offset_text}); primary endpoint -> port {new.port}",
            )
            if not graceful:
                self._demote_stale_primaries()
            return new

    def _graceful_switch(self, old: Node, new: Node, timeout: float = 5.0) -> None:
        """Pause writes on the primary, wait until `new` has applied everything, promote it.

        The same steps as the engine's FAILOVER command, without its wait for the old primary's
        resynchronisation: writes pause for a few milliseconds, and none that was acknowledged is lost.
        Writes that arrived during the pause are refused (READONLY) once the old primary is a replica.
        """
        with old.client(socket_timeout=timeout) as primary, new.client(socket_timeout=timeout) as replica:
            primary.execute_command("CLIENT", "PAUSE", int(timeout * 1000), "WRITE")
            try:
                offset = int(primary.info("replication")["master_repl_offset"])
                wait_until(
                    lambda: replication_offset(replica.info("replication"))[0] >= offset, timeout, 0.001,
                    on_timeout=lambda last: FailoverError(
                        f"{new.name} did not catch up with {old.name} within {timeout:.0f} s{last}, so nothing was changed; "
                        "check that its replication link is up (or use mode='force').", port=new.port, node=new.name,
                    ),
                )
                self._follow_upstream(replica, self._upstream_port)
                new.role, old.role = Role.PRIMARY, Role.REPLICA
                self.primary_endpoint.point_to([("127.0.0.1", new.port)], {("127.0.0.1", new.port): new.az})
                primary.replicaof("127.0.0.1", new.port)
            finally:
                primary.execute_command("CLIENT", "UNPAUSE")

    # -- manual failover ------------------------------------------------------------------------
    def failover(self, to: Node | int | str | None = None, mode: str = "graceful") -> Node:
        """Promote a replica now; returns the new primary.

        `mode="graceful"` pauses writes until the replica has caught up (FAILOVER TO): no
        acknowledged write is lost. `mode="force"` promotes at once (REPLICAOF NO ONE) and
        loses what the replica had not received yet.

        Example::

            new_primary = group.failover()              # the replica with the least lag
            group.failover(to="replica-2", mode="force")
        """
        self.require_running()
        self.follow_record()  # a lab shared with other processes: start from its current roles
        check_mode(mode)
        if mode == "takeover":
            raise FailoverError("'takeover' exists only in cluster mode; use mode='graceful' or 'force'.")
        chosen = self.node(to) if to is not None else None
        if chosen is not None and chosen.role is not Role.REPLICA:
            raise FailoverError(f"{chosen.name} is already the primary; name one of the replicas: {[node.name for node in self.replicas()]}.")
        if not self.replicas():
            raise FailoverError("this group has no replica to promote; create it with replicas=1 or more.")
        old = self.primary()
        if mode == "graceful" and not alive(old):
            raise FailoverError(f"a graceful failover needs a live primary, and {old.name} is {old.status}; use mode='force'.")
        new = self._promote(chosen, f"{mode} failover requested", graceful=mode == "graceful")
        if new is None:
            raise FailoverError("no replica answered, so none could be promoted; resume or restart one first.")
        return new

    def test_failover(self, mode: str = "graceful") -> Node:
        """Fail over a healthy primary on purpose, like ElastiCache's TestFailover API.

        Example::

            group.test_failover()      # the old primary becomes a replica
        """
        return self.failover(mode=mode)

    def wait_for_failover(self, timeout: float = 10.0, since: Node | None = None) -> Node:
        """Block until a node other than `since` (default: the primary now) is primary; return it.

        Example::

            old = group.primary(); group.kill(old)
            new = group.wait_for_failover()
        """
        self.require_running()
        old = since or self.primary()
        hint = "" if self.automatic_failover else " Automatic failover is off: call failover(mode='force')."
        wait_until(lambda: self.primary() is not old, timeout, on_timeout=lambda last: FailoverError(
            f"no replica was promoted within {timeout:.0f} s{last}.{hint}", port=old.port, node=old.name,
        ))
        return self.primary()

    # -- a lagging replica ------------------------------------------------------------------------
    def partition(self, replica: Node | int | str) -> Node:
        """Cut a replica off its primary (a network partition): it keeps its data and serves reads,
        but receives no more writes, so its lag grows. `heal(replica)` reconnects it.

        Example::

            with group.partitioned(group.replicas()[0]):
                ...   # writes acknowledged now are not on that replica
        """
        node = self._running_node(replica, "partition")
        if node.role is not Role.REPLICA:
            raise ConfigurationError(f"{node.name} is the primary; partition one of the replicas: {[n.name for n in self.replicas()]}.")
        if node in self._partitioned:
            raise TopologyStateError(f"{node.name} is already partitioned; heal({node.name!r}) first.")
        if self._nowhere_port is None:
            self._nowhere_port = self._ports.add(1)[0]  # reserved and never listened on
        with node.client(socket_timeout=2.0) as client:
            client.replicaof("127.0.0.1", self._nowhere_port)
        self._partitioned.add(node)
        self.log_event("partition", node.name, f"replication link to {self.primary().name} cut")
        return node

    def heal(self, replica: Node | int | str) -> Node:
        """Reconnect a partitioned replica to the current primary; it catches up (partial resync)."""
        node = self._running_node(replica, "heal")
        if node not in self._partitioned:
            raise TopologyStateError(f"{node.name} is not partitioned; nothing to heal.")
        with node.client(socket_timeout=2.0) as client:
            client.replicaof("127.0.0.1", self.primary().port)
        self._partitioned.discard(node)
        wait_for_replica_links([node], 10.0)
        wait_for_streaming(self.primary(), len([n for n in self.replicas() if alive(n) and n not in self._partitioned]), 10.0)
        self.log_event("heal", node.name, f"replicating from {self.primary().name} again")
        return node

    @contextlib.contextmanager
    def partitioned(self, replica: Node | int | str) -> Iterator[Node]:
        """`with group.partitioned(replica):` partition on entry, heal on exit."""
        node = self.partition(replica)
        try:
            yield node
        finally:
            if node in self._partitioned and node.role is Role.REPLICA and alive(node):
                self.heal(node)

    # -- fault hooks ------------------------------------------------------------------------------
    def _after_kill(self, node: Node) -> None:
        self._partitioned.discard(node)
        self._move_endpoints()

    def _after_resume(self, node: Node) -> None:
        if node in self._to_demote:
            self._demote_stale_primaries()

    def _before_restart(self, node: Node, timeout: float) -> None:
        if node.role is Role.PRIMARY and self._monitor is not None and any(alive(replica) for replica in self.replicas()):
            # Multi-AZ promotes a replica first; the old primary then rejoins as a replica.
            wait_until(lambda: node.role is not Role.PRIMARY, self.failure_detection_s + timeout)

    def _after_restart(self, node: Node, timeout: float) -> None:
        with self._failover_lock, self.roles_frozen():
            self._partitioned.discard(node)
            primary = self.primary()
            if node is not primary:
                with node.client(socket_timeout=2.0) as client:
                    client.replicaof("127.0.0.1", primary.port)
                node.role = Role.REPLICA
                self._to_demote.discard(node)
            elif self._upstream_port is not None:
                with node.client(socket_timeout=2.0) as client:
                    self._follow_upstream(client, self._upstream_port)  # a secondary Region's primary: read-only again
            self._apply_durability([node])
        if node is not primary:
            wait_for_replica_links([node], timeout)
            wait_for_streaming(primary, len([n for n in self.replicas() if alive(n) and n not in self._partitioned]), timeout)
        self._move_endpoints()

    def _wait_for_new_primaries(self, shards, started, timeout):
        if not shards or self._monitor is None:
            return {shard: None for shard in shards}, {}
        old = self.primary()
        if not wait_until(lambda: self.primary() is not old and alive(self.primary()), timeout):
            return {0: None}, {}
        promoted_at = self.promotions[-1][0]
        return {0: round(promoted_at - started, 3)}, {0: self.primary().name}


def wait_for_replica_links(replicas: list[Node], timeout: float) -> None:
    """Poll every few ms until each replica reports master_link_status:up."""
    ReplicasLinked(replicas).wait(timeout)


def wait_for_streaming(primary: Node, replicas: int, timeout: float) -> None:
    """Wait until `replicas` replicas acknowledge a write (WAIT).

    After a full sync the primary holds back the replication stream until the replica's first
    REPLCONF ACK, which can take up to a second: until then a replica looks linked but lags.
    """
    if replicas <= 0:
        return
    with primary.client(socket_timeout=timeout + 1) as client:
        if client.info("replication").get("role") != "master":
            # A read-only primary (a Global Datastore secondary's) refuses WAIT and takes no writes of its
            # own: its replicas stream once it lists them online.
            wait_until(
                lambda: sum(seen.state == "online" for seen in replicas_seen(client.info("replication"))) >= replicas, timeout,
                on_timeout=lambda last: ClusterNotReadyError(
                    f"fewer than {replicas} replicas of {primary.name} were online within {timeout:.0f} s{last}. "
                    "The machine may be overloaded; stop other labs and try again."
                ),
            )
            return
        client.publish("__labkit__:sync", "")  # a write that is replicated but creates no key
        acknowledged = client.execute_command("WAIT", replicas, int(timeout * 1000))
    if acknowledged < replicas:
        raise ClusterNotReadyError(
            f"only {acknowledged} of {replicas} replicas of {primary.name} caught up within {timeout:.0f} s. "
            "The machine may be overloaded; stop other labs and try again."
        )

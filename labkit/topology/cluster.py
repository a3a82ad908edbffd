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
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.cluster import PRIMARY, ClusterNode, LoadBalancingStrategy, RedisCluster

from redis.crc import key_slot

from .. import scaling
from .._polling import BackgroundThread, wait_until
from .._wire import SLOT_COUNT, parse_cluster_nodes, redirects_sent
from ..endpoints import ConfigurationEndpoint
from ..errors import ClusterNotReadyError, ConfigurationError, FailoverError, LabkitError, UnknownNodeError
from ..failover import alive, best_replica, check_mode, quick_client
from ..node import Node, NodeStatus, Role
from ..ports import BUS_PORT_OFFSET
from .base import NodeSpec, Progress, Topology
from .placement import DEFAULT_AZS, place
from .readiness import ClusterConverged, NodeRejoined
from .spec import MAX_SHARDS, LabSpec, common_options
#: What one idle lab node costs, with room for the course's small data sets.
NODE_BUDGET_BYTES = 48 * 1024 * 1024
POLL_INTERVAL_S = 0.005
__all__ = ["SLOT_COUNT", "Cluster", "LabClusterClient", "max_shards", "parse_cluster_nodes", "slot_ranges"]
#: How often labkit re-reads roles to notice (and log) the engine's own failovers.
WATCH_INTERVAL_S = 0.1


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
            rc = cluster.configuration_endpoint.client()   # starts from one stable address, like on ElastiCache
    """

    kind = "cluster"

    def __init__(self, shards: int = 3, replicas: int = 2, azs=DEFAULT_AZS, **options: Any) -> None:
        spec = LabSpec("cluster", shards=shards, replicas=replicas, azs=azs, **common_options(self.kind, options))
        limit = max_shards(spec.replicas)
        if spec.shards > limit:
            raise ConfigurationError(
                f"{spec.shards} shards x {1 + spec.replicas} nodes will not fit in this machine's free memory "
                f"(about {available_memory_bytes() // 2**20} MB free allows {limit} shards of {1 + spec.replicas} nodes). "
                "Use fewer shards or replicas, or stop other labs."
            )
        self._setup(spec)

    def _setup(self, spec: LabSpec) -> None:
        super()._setup(spec)
        self.node_ids: dict[int, str] = {}  # port -> cluster node id
        self.promotions: list[tuple[float, int, str]] = []  # (time.monotonic(), shard, node name)
        self._watcher: BackgroundThread | None = None
        self._watch_clients: dict[int, redis.Redis] = {}
        self._configuration_endpoint: ConfigurationEndpoint | None = None
        self._endpoint_lock = threading.Lock()
        self._retired_redirects: dict[str, int] = {"MOVED": 0, "ASK": 0}

    @property
    def shard_count(self) -> int:
        """How many shards the cluster has (before start: how many it will have)."""
        return len(self.shards) if self.nodes else self.spec.shards

    @property
    def role_watcher(self) -> BackgroundThread | None:
        """The thread that re-reads roles every 0.1 s (its `failures` and `last_error` say how it fares)."""
        return self._watcher

    # -- building -----------------------------------------------------------------------------
    def _build(self, progress: Progress) -> None:
        layout = place(self.shard_count, self.replica_count, self.azs)
        specs = [NodeSpec(f"shard-{shard}-primary", Role.PRIMARY, shard, plan.primary) for shard, plan in enumerate(layout)]
        for shard, plan in enumerate(layout):
            specs += [
                NodeSpec(f"shard-{shard}-replica-{number}", Role.REPLICA, shard, az)
                for number, az in enumerate(plan.replicas, start=1)
            ]
        progress(f"starting {len(specs)} nodes ({self.shard_count} shards x {1 + self.replica_count} nodes) in {', '.join(self.azs)}")
        nodes = self.add_nodes(specs)
        clients = {node.port: node.client(socket_timeout=5.0) for node in nodes}
        try:
            progress("assigning the 16,384 hash slots")
            for epoch, node in enumerate(nodes, start=1):
                # Distinct epochs up front avoid the engine's slow epoch-collision resolution.
                clients[node.port].execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
            for (first, last), primary in zip(slot_ranges(self.shard_count), self.primaries()):
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
            self.wait_converged(self.start_timeout)
        finally:
            for client in clients.values():
                client.close()
        self._start_watcher()

    def add_nodes(self, specs: list[NodeSpec]) -> list[Node]:
        """Start new cluster nodes (see Topology.add_nodes) and learn their cluster node ids."""
        nodes = super().add_nodes(specs)
        try:
            for node in nodes:
                with node.client(socket_timeout=5.0) as client:
                    self.node_ids[node.port] = client.execute_command("CLUSTER", "MYID")
        except BaseException:
            self.discard_nodes(nodes)
            raise
        return nodes

    def _nodes_discarded(self, nodes: list[Node]) -> None:
        for node in nodes:
            self.node_ids.pop(node.port, None)

    def _attached(self) -> None:
        self._nodes_adopted(self.nodes)
        self.sync_roles()  # the record holds the roles of its last write; the cluster may have failed over since

    def _nodes_adopted(self, nodes: list[Node]) -> None:
        for node in nodes:
            if node.status is NodeStatus.UP:
                with node.client(socket_timeout=5.0) as client:
                    self.node_ids[node.port] = client.execute_command("CLUSTER", "MYID")

    # Attached from another process: the background thread follows the record and re-reads roles.
    def _attached_background_started(self) -> None:
        self._watcher = self._follower

    def _attached_step(self) -> None:
        if self.follow_record():
            self.sync_roles()

    def _roles_adopted(self, primaries_before: dict) -> None:
        for shard in self.shards:
            new = next((node for node in self.nodes if node.shard == shard and node.role is Role.PRIMARY), None)
            old = primaries_before.get(shard)
            if new is not None and new is not old:
                self.promotions.append((time.monotonic(), shard, new.name))
                self.log_event("promoted", new.name, f"shard {shard}: {new.name} in {new.az} is primary now (was {old.name if old else 'none'})")

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
                raise ClusterNotReadyError(
                    f"replicas {[node.name for node in waiting]} never learned their primary's id.",
                    port=waiting[0].port, node=waiting[0].name, shard=waiting[0].shard,
                )
            if waiting:
                time.sleep(POLL_INTERVAL_S)

    def wait_converged(self, timeout: float, error: Callable[[str], LabkitError] | None = None) -> None:
        """Poll until every node reports cluster_state:ok, all agree on one slot map covering every
        slot, and every replica's link is up; the timeout error names the node and the reason.

        Example::

            cluster.wait_converged(30.0)
        """
        ClusterConverged(self.nodes).wait(timeout, error)

    # -- looking things up ------------------------------------------------------------------
    def _all_replicas(self) -> list[Node]:
        return [node for node in self.nodes if node.role is Role.REPLICA]

    @property
    def shards(self) -> list[int]:
        return sorted({node.shard for node in self.nodes if node.shard is not None})

    def require_shard(self, shard: int) -> None:
        """Raise UnknownNodeError unless `shard` is one of this cluster's shards."""
        if isinstance(shard, bool) or shard not in self.shards:
            raise UnknownNodeError(f"shard {shard!r} does not exist; this cluster's shards are {self.shards}.", shard=shard if isinstance(shard, int) else None)

    def primary(self, shard: int) -> Node:
        """The primary of `shard` (labkit's record; `refresh()` re-reads roles from the servers)."""
        self.require_shard(shard)
        for node in self.nodes:
            if node.shard == shard and node.role is Role.PRIMARY:
                return node
        raise UnknownNodeError(f"shard {shard} has no primary right now.")

    def replicas(self, shard: int) -> list[Node]:
        self.require_shard(shard)
        return [node for node in self.nodes if node.shard == shard and node.role is Role.REPLICA]

    def node_id(self, node: Node | int | str) -> str:
        """The cluster node id (40 hex characters) of a node."""
        return self.node_ids[self.node(node).port]

    def _topology_client(self, *, read_from_replicas: bool = False, decode_responses: bool = True, **kwargs: Any) -> RedisCluster:
        startup = [ClusterNode("127.0.0.1", node.port) for node in self.primaries()]
        if read_from_replicas:
            kwargs.setdefault("load_balancing_strategy", LoadBalancingStrategy.ROUND_ROBIN_REPLICAS)
        kwargs.setdefault("socket_connect_timeout", 1.0)
        kwargs.setdefault("socket_timeout", 5.0)
        kwargs = {**self.connection_options(), **kwargs}
        return LabClusterClient(startup_nodes=startup, decode_responses=decode_responses, **kwargs)

    @property
    def configuration_endpoint(self) -> ConfigurationEndpoint:
        """One stable address (127.0.0.1 and `.port`) that leads to a live node, like ElastiCache's
        configuration endpoint: start any cluster client there, even a stock `redis.RedisCluster`;
        it reads the slot map from that node. Made on first use; stops with the cluster.

        Example::

            endpoint = cluster.configuration_endpoint
            rc = endpoint.client()
            stock = redis.RedisCluster(host=endpoint.host, port=endpoint.port, **cluster.connection_options())
        """
        self.require_running()
        with self._endpoint_lock:
            if self._configuration_endpoint is None:
                self._configuration_endpoint = ConfigurationEndpoint(
                    f"clustercfg.{self.lab_id}.cache.local", self._endpoint_nodes,
                    connection_options=self.connection_options, client_class=LabClusterClient,
                ).start()
            return self._configuration_endpoint

    def _endpoint_nodes(self) -> list[tuple[str, int]]:
        # Where the configuration endpoint may forward a new connection: nodes that are up, primaries first.
        # (Called on the endpoint's event loop: labkit's record only, no server round trip.)
        nodes = sorted((node for node in list(self.nodes) if node.status is NodeStatus.UP), key=lambda node: node.role is not Role.PRIMARY)
        return [("127.0.0.1", node.port) for node in nodes]

    def traffic_client(self, socket_timeout: float) -> RedisCluster:
        """A cluster client for background traffic (labkit.Probe) with short timeouts; it keeps
        redis-py's cluster retries, which follow MOVED and ASK and refresh the slot map."""
        return self.client(socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)

    # -- watching the engine's own failovers ------------------------------------------------------
    def _start_watcher(self) -> None:
        if not self.detached:
            self._watcher = BackgroundThread(f"labkit-cluster-watcher-{self.lab_id}", self._watch_step, WATCH_INTERVAL_S).start()

    def _stop_background(self, wait: bool = True) -> None:
        with self._endpoint_lock:
            if self._configuration_endpoint is not None:
                self._configuration_endpoint.stop()
                self._configuration_endpoint = None
        if self._watcher is not None:
            self._watcher.stop(wait)
            self._watcher = None
        with self._roles_lock:
            for client in self._watch_clients.values():
                client.close()
            self._watch_clients = {}

    def _watch_step(self) -> None:
        self.sync_roles()

    def _cluster_view(self) -> dict[int, dict]:
        """CLUSTER NODES from one live node: port -> {id, master, failed, master_id, slots}."""
        for node in sorted(self.nodes, key=lambda node: node.role is not Role.PRIMARY):
            if node.status is not NodeStatus.UP:
                continue
            client = self._watch_clients.get(node.port)
            if client is None:
                client = self._watch_clients[node.port] = quick_client(node, 0.5)
            try:
                return parse_cluster_nodes(client.execute_command("CLUSTER", "NODES"))
            except redis.RedisError:
                client.close()
                self._watch_clients.pop(node.port, None)
        return {}

    def sync_roles(self) -> Cluster:
        """Re-read roles and shard membership from the cluster (the watcher does this every 0.1 s);
        logs each promotion the engine made in `fault_log`."""
        with self._roles_lock:
            view = self._cluster_view()
            if not view:
                return self
            roles_before = [(node.role, node.shard) for node in self.nodes]
            by_id = {entry["id"]: port for port, entry in view.items()}
            for shard in self.shards:
                members = [node for node in self.nodes if node.shard == shard]
                masters = [node for node in members if node.port in view and view[node.port]["master"] and not view[node.port]["failed"]]
                if len(masters) > 1:
                    masters = [node for node in masters if view[node.port]["slots"]] or masters[:1]
                if len(masters) != 1:
                    continue  # a failover in progress: keep labkit's record until the engine settles
                new = masters[0]
                old = next((node for node in members if node.role is Role.PRIMARY), None)
                for node in members:
                    node.role = Role.PRIMARY if node is new else Role.REPLICA
                if old is not new:
                    self.promotions.append((time.monotonic(), shard, new.name))
                    self.log_event("promoted", new.name, f"shard {shard}: {new.name} in {new.az} is primary now (was {old.name if old else 'none'})")
            for node in self.nodes:
                entry = view.get(node.port)
                if entry and not entry["master"] and by_id.get(entry["master_id"]) in self.ports:
                    master = self.node(by_id[entry["master_id"]])
                    if master.shard != node.shard and master.role is Role.PRIMARY:
                        self.log_event("replica_moved", node.name, f"the engine moved it from shard {node.shard} to shard {master.shard}")
                        node.shard = master.shard
            if self.detached and roles_before != [(node.role, node.shard) for node in self.nodes]:
                self.save_record()  # other processes attached to this lab see the new roles at once
        return self

    # -- failover ---------------------------------------------------------------------------------
    def _best_replica(self, shard: int, to: Node | int | str | None) -> Node:
        if to is not None:
            chosen = self.node(to)
            if chosen.shard != shard or chosen.role is not Role.REPLICA:
                raise FailoverError(f"{chosen.name} is not a replica of shard {shard}; its replicas are {[n.name for n in self.replicas(shard)]}.")
            if not alive(chosen):
                raise FailoverError(f"{chosen.name} is {chosen.status}; restart or resume it first.")
            return chosen
        replicas = self.replicas(shard)
        if not replicas:
            raise FailoverError(
                f"shard {shard} has no replica, so there is nothing to fail over to. Create the cluster with replicas=1 or more."
            )
        best, _offsets = best_replica(replicas)
        if best is None:
            raise FailoverError(f"no replica of shard {shard} is reachable ({', '.join(f'{n.name}: {n.status}' for n in replicas)}); restart one first.")
        return best

    def failover(self, shard: int, mode: str = "graceful", to: Node | int | str | None = None, timeout: float = 15.0) -> Node:
        """Make a replica of `shard` its primary (CLUSTER FAILOVER); returns the new primary.

        - `"graceful"`: the primary stops writes until the replica has caught up, then they swap
          (no acknowledged write is lost);
        - `"force"`: the replica does not wait for the primary (use when the primary is down);
        - `"takeover"`: not even the other primaries vote (use when most of the cluster is down).

        Example::

            cluster.failover(0)                       # graceful, to the replica with the least lag
            cluster.failover(1, mode="force")
        """
        self.require_running()
        check_mode(mode)
        self.require_shard(shard)
        old = self.primary(shard)
        if mode == "graceful" and not alive(old):
            raise FailoverError(f"a graceful failover needs shard {shard}'s primary ({old.name}) up, and it is {old.status}; use mode='force'.")
        new = self._best_replica(shard, to)
        arguments = ["CLUSTER", "FAILOVER"] + ([] if mode == "graceful" else [mode.upper()])
        started = time.monotonic()
        with new.client(socket_timeout=5.0) as client:
            client.execute_command(*arguments)
            wait_until(
                lambda: client.execute_command("ROLE")[0] == "master", timeout, 0.002,
                on_timeout=lambda last: FailoverError(
                    f"{new.name} was not primary {timeout:.0f} s after CLUSTER FAILOVER {mode.upper()}{last}; "
                    "the other primaries may be unreachable: try mode='takeover'.",
                    port=new.port, node=new.name, shard=shard,
                ),
            )
        self._wait_promoted(shard, new, timeout)
        self.log_event("failover", new.name, f"shard {shard}: {mode} failover from {old.name} took {time.monotonic() - started:.3f} s")
        return new

    def test_failover(self, shard: int, mode: str = "graceful") -> Node:
        """Fail over a healthy shard on purpose, like ElastiCache's TestFailover API.

        Example::

            cluster.test_failover(0)
        """
        return self.failover(shard, mode)

    def _wait_promoted(self, shard: int, new: Node, timeout: float) -> None:
        def settled() -> bool:
            self.sync_roles()
            return self.primary(shard) is new

        wait_until(settled, timeout, on_timeout=lambda last: FailoverError(
            f"the cluster did not agree that {new.name} leads shard {shard} within {timeout:.0f} s{last}.",
            port=new.port, node=new.name, shard=shard,
        ))

    def wait_for_failover(self, shard: int, timeout: float = 15.0, since: Node | None = None) -> Node:
        """Block until a node other than `since` (default: the primary now) is `shard`'s primary.

        Example::

            old = cluster.primary(0); cluster.kill(old)
            new = cluster.wait_for_failover(0)        # the engine promoted a replica
        """
        self.require_running()
        self.require_shard(shard)
        old = since or self.primary(shard)

        def promoted() -> bool:
            self.sync_roles()
            return self.primary(shard) is not old

        wait_until(promoted, timeout, on_timeout=lambda last: FailoverError(
            f"no replica of shard {shard} was promoted within {timeout:.0f} s{last}; a shard needs a live replica and "
            "a majority of primaries up for the engine to fail over.", shard=shard,
        ))
        return self.primary(shard)

    # -- fault hooks ------------------------------------------------------------------------------
    def _before_restart(self, node: Node, timeout: float) -> None:
        if node.role is Role.PRIMARY and node.shard is not None and any(alive(r) for r in self.replicas(node.shard)):
            # Coming back before a replica took over would bring the primary back empty.
            try:
                self.wait_for_failover(node.shard, timeout, since=node)
            except FailoverError:
                pass

    def _after_restart(self, node: Node, timeout: float) -> None:
        NodeRejoined(node, cluster=True, before=self.sync_roles).wait(
            timeout, lambda message: ClusterNotReadyError(f"{node.name} did not rejoin the cluster: {message}", port=node.port, node=node.name, shard=node.shard)
        )

    def _wait_for_new_primaries(self, shards, started, timeout):
        outage: dict[int, float | None] = {}
        promoted: dict[int, str] = {}
        old = {shard: self.primary(shard) for shard in shards}
        pending = [shard for shard in shards if any(alive(replica) for replica in self.replicas(shard))]
        outage.update({shard: None for shard in shards})
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            self.sync_roles()
            for shard in list(pending):
                if self.primary(shard) is not old[shard]:
                    outage[shard] = round(time.monotonic() - started, 3)
                    promoted[shard] = self.primary(shard).name
                    pending.remove(shard)
            time.sleep(0.005)
        return outage, promoted

    # -- scaling ----------------------------------------------------------------------------------
    def slot_counts(self) -> dict[int, int]:
        """How many of the 16,384 slots each shard owns now.

        Example::

            cluster.slot_counts()      # {0: 5461, 1: 5462, 2: 5461}
        """
        self.require_running()
        owners = scaling.slot_owners(self)
        counts = {shard: 0 for shard in self.shards}
        for node in owners.values():
            counts[node.shard] = counts.get(node.shard, 0) + 1
        return counts

    def slot_migrating(self, slot: int, shard: int):
        """`with cluster.slot_migrating(slot, shard) as (source, target):` the slot is half-way to
        `shard` (MIGRATING on its owner, IMPORTING on the target) inside the block, so a plain client
        sees ASK for keys that are not on the source; on exit its keys move and the slot is reassigned.

        Example::

            tag = cluster.hash_tag_for(0)
            slot = cluster.client().keyslot(f"{tag}:a")
            with cluster.slot_migrating(slot, 1) as (source, target):
                source.client().get(f"{tag}:missing")   # redis.exceptions.AskError: ask the target
        """
        return scaling.slot_migrating(self, slot, shard)

    def keys_per_shard(self) -> dict[int, int]:
        """How many keys each shard's primary holds now (DBSIZE).

        Example::

            cluster.keys_per_shard()      # {0: 3321, 1: 3354, 2: 3325}
        """
        self.require_running()
        counts = {}
        for shard in self.shards:
            with self.primary(shard).client(socket_timeout=2.0) as client:
                counts[shard] = int(client.dbsize())
        return counts

    def hash_tag_for(self, shard: int) -> str:
        """A hash tag such as "{s0-3}" whose keys all live in `shard` now (put it in a key name).

        Example::

            tag = cluster.hash_tag_for(0)
            cluster.client().set(f"{tag}:cart", "3 items")     # stored in shard 0
        """
        self.require_shard(shard)
        owners = scaling.slot_owners(self)
        for number in range(100_000):
            tag = f"s{shard}-{number}"
            owner = owners.get(key_slot(tag.encode()))
            if owner is not None and owner.shard == shard:
                return "{" + tag + "}"
        raise UnknownNodeError(f"shard {shard} owns no slot; rebalance() gives it some.")

    def add_shard(self, rebalance: bool = True, progress: Progress | None = None, method: str = "auto") -> int:
        """Add a shard online (a primary and `replicas` replicas placed by the AZ rules), then
        move a balanced share of slots to it while clients keep working; returns its number.

        `method`: "atomic" moves whole slots with CLUSTER MIGRATESLOTS (Valkey >= 9: clients see
        no ASK), "keys" moves them key by key (every engine), "auto" picks atomic where it can.

        Example::

            new_shard = cluster.add_shard()
            cluster.slot_counts()          # about 4,096 slots each
        """
        if not isinstance(rebalance, bool):
            raise ConfigurationError(f"rebalance must be True or False (got {rebalance!r}).")
        scaling.check_method(method)
        scaling.require_all_up(self, "add a shard")
        limit = max_shards(self.replica_count)
        if len(self.shards) + 1 > limit:
            raise ConfigurationError(
                f"a shard of {1 + self.replica_count} more nodes will not fit: this machine's free memory allows "
                f"{limit} shards. Remove a shard, stop other labs, or use scale_up() instead."
            )
        shard = max(self.shards) + 1
        layout = place(shard + 1, self.replica_count, self.azs)[shard]
        specs = [NodeSpec(f"shard-{shard}-primary", Role.PRIMARY, shard, layout.primary)]
        specs += [NodeSpec(f"shard-{shard}-replica-{number}", Role.REPLICA, shard, az) for number, az in enumerate(layout.replicas, start=1)]
        scaling.add_shard(self, specs, rebalance=rebalance, progress=progress, method=method)
        self.spec = self.spec.replace(shards=len(self.shards))
        return shard

    def remove_shard(self, shard: int, progress: Progress | None = None, method: str = "auto") -> None:
        """Move every slot of `shard` to the other shards (by `method`, as in add_shard), then
        stop and forget its nodes.

        Example::

            cluster.remove_shard(3)
        """
        scaling.check_method(method)
        self.require_shard(shard)
        if len(self.shards) == 1:
            raise ConfigurationError(f"shard {shard} is the last shard; a cluster needs at least one. Stop the cluster instead.", shard=shard)
        scaling.remove_shard(self, shard, progress=progress, method=method)
        self.spec = self.spec.replace(shards=len(self.shards))

    def rebalance(self, progress: Progress | None = None, method: str = "auto") -> int:
        """Move slots so every shard owns an equal share (by `method`, as in add_shard); returns
        how many slots moved.

        Example::

            cluster.rebalance()
            cluster.rebalance(method="keys")     # key by key, as on engines without atomic migration
        """
        return scaling.rebalance(self, progress=progress, method=method)

    def supports_atomic_slot_migration(self) -> bool:
        """Whether this cluster's engine moves whole slots atomically (CLUSTER MIGRATESLOTS), asked
        of a primary with COMMAND INFO: what `method="auto"` picks atomic on.

        Example::

            cluster.supports_atomic_slot_migration()      # True on Valkey 9, False on Redis 7.0
        """
        self.require_running()
        return scaling.atomic_migration_available(self)

    def redirect_counts(self) -> dict[str, int]:
        """How many MOVED and ASK redirects this cluster's nodes have sent to clients, summed over
        every node (the engine's own count, INFO errorstats): what clients, a stock one too, had
        to follow. Each node counts from its start; nodes removed by remove_shard keep counting here.

        Example::

            before = cluster.redirect_counts()           # {"MOVED": 12, "ASK": 0}
            cluster.add_shard()
            after = cluster.redirect_counts()
            {kind: after[kind] - before[kind] for kind in after}
        """
        self.require_running()
        totals = dict(self._retired_redirects)
        for node in self.nodes:
            if node.status is NodeStatus.UP:
                for kind, count in self._redirects_sent(node).items():
                    totals[kind] += count
        return totals

    @staticmethod
    def _redirects_sent(node: Node) -> dict[str, int]:
        with node.client(socket_timeout=2.0) as client:
            return redirects_sent(client.info("errorstats"))

    def discard_nodes(self, nodes: list[Node]) -> None:
        """Stop nodes and drop them from the cluster (see Topology.discard_nodes); the redirects
        they sent stay in redirect_counts().

        Example::

            cluster.discard_nodes(cluster.replicas(0))
        """
        for node in nodes:
            if node not in self.nodes or node.status is not NodeStatus.UP:
                continue
            try:
                counts = self._redirects_sent(node)
            except redis.RedisError:
                counts = {}  # a node that no longer answers takes its count with it
            for kind, count in counts.items():
                self._retired_redirects[kind] += count
        super().discard_nodes(nodes)



class LabClusterClient(RedisCluster):
    """redis-py's RedisCluster, plus one fix: an ASK redirect to a node the client has not met
    yet (the primary of a shard being added) is followed instead of failing with AttributeError."""

    def get_node(self, host=None, port=None, node_name=None):
        node = super().get_node(host, port, node_name)
        if node is None and node_name and ":" in node_name:
            address, _, number = node_name.rpartition(":")
            # redis-py guards its node cache with this lock and offers no public way to add a node to it.
            with self.nodes_manager._lock:
                node = self.nodes_manager.nodes_cache.setdefault(node_name, ClusterNode(address, int(number), server_type=PRIMARY))
        return node

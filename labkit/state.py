"""Snapshots of a lab as plain frozen dataclasses: what the views draw and what tests compare.

Example::

    with labkit.Cluster(shards=3, replicas=2) as cluster:
        state = cluster.state()          # or labkit.state.snapshot(cluster)
        print(state)                     # a text table without ports or timings: nbval can compare it
        state.node("shard-0-primary").slot_count, state.keys_per_shard()

Every figure is read from the servers at the moment of the snapshot (roles come from
``INFO replication``, so they are right after a failover even before ``topology.refresh()``).
A node that does not answer within ``TIMEOUT_S`` while its process is alive is reported as
``paused``; a node whose process is gone as ``down``.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ._wire import SLOT_COUNT, cluster_node_lines, info_fields, parse_info, replicas_seen, text
from .errors import ConfigurationError
from .node import Node, NodeStatus, Role

#: How long a live process may take to answer before the snapshot calls it paused.
TIMEOUT_S = 0.25

_INFO_SECTIONS = ("clients", "memory", "stats", "replication", "keyspace")

@dataclass(frozen=True)
class Migration:
    """A hash slot being moved between shards (CLUSTER SETSLOT ... MIGRATING/IMPORTING)."""

    slot: int
    source_shard: int | None
    target_shard: int | None


@dataclass(frozen=True)
class NodeState:
    """One node as its server described itself at snapshot time."""

    name: str
    port: int
    shard: int | None
    az: str | None
    role: Role
    status: NodeStatus
    #: True when the node's role is not the one labkit started it with (it was promoted or demoted).
    failed_over: bool = False
    #: For a replica: the port of the primary it replicates, and whether that link is up.
    primary_port: int | None = None
    link_up: bool | None = None
    replication_offset: int | None = None
    replication_lag_bytes: int | None = None
    #: Seconds since the replica last acknowledged its offset, as the primary's INFO tells.
    replication_lag_s: float | None = None
    slots: tuple[tuple[int, int], ...] = ()
    keys: int | None = None
    memory_used_bytes: int | None = None
    connected_clients: int | None = None
    ops_per_sec: int | None = None
    commands_processed: int | None = None

    @property
    def slot_count(self) -> int:
        return sum(last - first + 1 for first, last in self.slots)

    @property
    def reachable(self) -> bool:
        return self.status is NodeStatus.UP


@dataclass(frozen=True)
class TopologyState:
    """Every node of a lab at one moment; ``print()`` it for a stable text table."""

    kind: str
    nodes: tuple[NodeState, ...]
    taken_at: float = 0.0
    #: The cluster's own verdict (``ok``/``fail``) as the first answering primary sees it; None outside clusters.
    cluster_state: str | None = None
    migrations: tuple[Migration, ...] = ()

    # -- looking things up ------------------------------------------------------------------
    def node(self, which: int | str) -> NodeState:
        """A node by name or port."""
        for node in self.nodes:
            if node.name == which or node.port == which:
                return node
        raise ConfigurationError(f"{which!r} is not a node of this snapshot; its nodes are {', '.join(n.name for n in self.nodes)}.")

    @property
    def shards(self) -> list[int]:
        return sorted({node.shard for node in self.nodes if node.shard is not None})

    @property
    def azs(self) -> list[str]:
        return sorted({node.az for node in self.nodes if node.az})

    def primaries(self) -> list[NodeState]:
        """Nodes that say they are primaries and answer (a paused old primary is left out)."""
        return [node for node in self.nodes if node.role is Role.PRIMARY and node.reachable]

    def primary(self, shard: int | None = 0) -> NodeState | None:
        """The answering primary of `shard`, or None while the shard has none."""
        for node in self.primaries():
            if node.shard == shard or (shard == 0 and node.shard is None):
                return node
        return None

    def keys_per_shard(self) -> dict[int, int]:
        """Keys held by each shard's answering primary (0 while a shard has none)."""
        counts = {shard: 0 for shard in self.shards}
        for node in self.primaries():
            if node.shard is not None:
                counts[node.shard] = node.keys or 0
        return counts

    def slot_owners(self) -> tuple[int | None, ...]:
        """The shard that owns each of the 16,384 slots (None where no answering primary does)."""
        owners: list[int | None] = [None] * SLOT_COUNT
        for node in self.primaries():
            for first, last in node.slots:
                owners[first:last + 1] = [node.shard] * (last - first + 1)
        return tuple(owners)

    def slots_per_shard(self) -> dict[int, int]:
        counts = {shard: 0 for shard in self.shards}
        for node in self.primaries():
            if node.shard is not None:
                counts[node.shard] += node.slot_count
        return counts

    # -- text --------------------------------------------------------------------------------
    def table(self, details: bool = False) -> str:
        """The nodes as a text table; `details=True` adds offsets, lag, memory, clients and ops/sec.

        The default columns hold no ports and no timings, so the table is the same on every run.
        """
        header = ["node", "role", "shard", "az", "status", "link", "slots", "keys"]
        if details:
            header += ["offset", "lag_bytes", "lag_s", "memory", "clients", "ops/sec"]
        rows = [header]
        for node in self.nodes:
            role = str(node.role) + (" (failed over)" if node.failed_over else "")
            link = "-" if node.link_up is None else ("up" if node.link_up else "down")
            row = [
                node.name, role, _dash(node.shard), node.az or "-", str(node.status), link,
                _rangestext(node.slots) if node.role is Role.PRIMARY and node.reachable and self.kind == "cluster" else "-",
                _dash(node.keys),
            ]
            if details:
                row += [
                    _dash(node.replication_offset), _dash(node.replication_lag_bytes), _dash(node.replication_lag_s),
                    _dash(None if node.memory_used_bytes is None else f"{node.memory_used_bytes / 2**20:.1f}M"),
                    _dash(node.connected_clients), _dash(node.ops_per_sec),
                ]
            rows.append(row)
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
        return "\n".join([self.summary(), *lines])

    def summary(self) -> str:
        """One line: kind, shards, nodes, how many are up, cluster state, migrating slots."""
        up = sum(node.status is NodeStatus.UP for node in self.nodes)
        parts = [self.kind]
        if self.kind == "cluster":
            parts.append(f"{len(self.shards)} shards")
        parts.append(f"{len(self.nodes)} nodes, {up} up")
        if self.cluster_state is not None:
            parts.append(f"cluster_state {self.cluster_state}")
        if self.migrations:
            parts.append(f"{len(self.migrations)} slots migrating")
        return " · ".join(parts)

    def __str__(self) -> str:
        return self.table()


# -- streams ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConsumerState:
    name: str
    pending: int
    idle_ms: int


@dataclass(frozen=True)
class GroupState:
    name: str
    consumers: tuple[ConsumerState, ...]
    pending: int
    last_delivered_id: str
    #: Entries not yet delivered to the group (None when the engine cannot tell).
    lag: int | None = None


@dataclass(frozen=True)
class StreamState:
    """A stream and its consumer groups; ``print()`` leaves idle times out so it is stable."""

    key: str
    length: int
    first_id: str | None
    last_id: str | None
    groups: tuple[GroupState, ...] = ()
    taken_at: float = 0.0

    def __str__(self) -> str:
        lines = [f"stream {self.key}: {self.length} entries, last id {self.last_id or '-'}"]
        for group in self.groups:
            lag = "" if group.lag is None else f", lag {group.lag}"
            lines.append(f"  group {group.name}: last delivered {group.last_delivered_id}, {group.pending} pending{lag}")
            for consumer in group.consumers:
                lines.append(f"    consumer {consumer.name}: {consumer.pending} pending")
        return "\n".join(lines)


def stream_state(client: redis.Redis, key: str) -> StreamState:
    """Read a stream's length, groups and consumers (XINFO STREAM / GROUPS / CONSUMERS).

    Example::

        print(labkit.state.stream_state(r, "orders"))
    """
    if not client.exists(key):
        return StreamState(key=key, length=0, first_id=None, last_id=None, taken_at=time.time())
    if text(client.type(key)) != "stream":
        raise ConfigurationError(f"{key!r} holds a {text(client.type(key))}, not a stream; pass the key of a stream.")
    info = client.xinfo_stream(key)
    groups = []
    for group in client.xinfo_groups(key):
        name = text(group["name"])
        consumers = tuple(
            ConsumerState(text(consumer["name"]), int(consumer["pending"]), int(consumer["idle"]))
            for consumer in client.xinfo_consumers(key, name)
        )
        lag = group.get("lag")
        groups.append(GroupState(
            name=name, consumers=tuple(sorted(consumers, key=lambda consumer: consumer.name)),
            pending=int(group["pending"]), last_delivered_id=text(group["last-delivered-id"]),
            lag=None if lag is None else int(lag),
        ))
    first, last = info.get("first-entry"), info.get("last-entry")
    return StreamState(
        key=key, length=int(info["length"]),
        first_id=text(first[0]) if first else None, last_id=text(info.get("last-generated-id") or (last[0] if last else None)),
        groups=tuple(sorted(groups, key=lambda group: group.name)), taken_at=time.time(),
    )


# -- taking a snapshot ----------------------------------------------------------------------
def snapshot(topology: Any) -> TopologyState:
    """Read every node of `topology` now and return a TopologyState.

    Example::

        state = labkit.state.snapshot(cluster)
        [node.name for node in state.nodes if node.role is labkit.Role.PRIMARY]
    """
    return _reader_for(topology).read()


class _Reader:
    """Keeps one short-timeout connection per node, so snapshots many times a second stay cheap.

    It speaks to each node through a bare redis-py Connection: the commands go out in one write and
    the raw replies are picked apart here, which costs a fraction of a client pipeline.
    """

    def __init__(self, topology: Any) -> None:
        self.topology = topology
        self._connections: dict[int, redis.Connection] = {}
        self._lock = threading.Lock()  # one snapshot of a topology at a time: they share connections

    def _connection(self, node: Node) -> redis.Connection:
        options = node.connection_options()  # TLS and labkit's credentials, once users are applied
        connection = self._connections.get(node.port)
        if connection is not None and getattr(connection, "labkit_options", None) != options:
            connection.disconnect()  # the node's credentials changed (labkit.acl): log in again
            connection = None
        if connection is None:
            connection_class = redis.SSLConnection if options.get("ssl") else redis.Connection
            connection = connection_class(
                **{name: value for name, value in options.items() if name != "ssl"}, decode_responses=True,
                socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),  # one try: a silent node is the answer, not a glitch
                client_name="labkit-state",
            )
            connection.labkit_options = options
            self._connections[node.port] = connection
        return connection

    def _ask(self, node: Node, commands: list[tuple]) -> list:
        connection = self._connection(node)
        try:
            connection.send_packed_command(connection.pack_commands(commands))
            return [connection.read_response() for _ in commands]
        except BaseException:
            # A reply may still be on its way: never reuse a connection that is out of step.
            connection.disconnect()
            raise

    def read(self) -> TopologyState:
        with self._lock:
            return self._read()

    def _read(self) -> TopologyState:
        topology = self.topology
        cluster = topology.kind == "cluster"
        nodes: list[Node] = list(topology.nodes)
        raw = {node.port: self._read_node(node, cluster) for node in nodes}
        infos = {port: answer.info for port, answer in raw.items() if answer.info is not None}
        seen_by_primary = _replicas_seen_by_primaries(infos)
        slots = _slots_from_cluster_nodes(raw)
        by_port = {node.port: node for node in nodes}
        states = [
            _node_state(topology, node, raw[node.port], infos, seen_by_primary, slots, by_port, cluster) for node in nodes
        ]
        shard_of = {state.port: state.shard for state in states}
        migrations = tuple(
            Migration(slot, shard_of.get(source), shard_of.get(slots.ids.get(target_id, -1)))
            for slot, (source, target_id) in sorted(slots.migrating.items())
        )
        return TopologyState(
            kind=topology.kind, nodes=tuple(sorted(states, key=_order)), taken_at=time.time(),
            cluster_state=_cluster_verdict(states, raw) if cluster else None, migrations=migrations,
        )

    def _read_node(self, node: Node, cluster: bool) -> _Answer:
        if node.status in (NodeStatus.CREATED, NodeStatus.STOPPED, NodeStatus.DOWN):
            return _Answer(node.status)
        if not node.is_running():
            return _Answer(NodeStatus.DOWN)
        if node.status is NodeStatus.PAUSED:
            return _Answer(NodeStatus.PAUSED)  # labkit paused it: asking would only time out
        commands: list[tuple] = [("INFO", *_INFO_SECTIONS)]
        if cluster:
            commands.append(("CLUSTER", "NODES"))
            if node.role is Role.PRIMARY:  # the cluster's verdict is read from primaries only
                commands.append(("CLUSTER", "INFO"))
        try:
            answers = self._ask(node, commands)
        except redis.TimeoutError:
            return _Answer(NodeStatus.PAUSED)  # alive but silent: stopped (SIGSTOP) or stuck
        except redis.ConnectionError:
            return _Answer(NodeStatus.DOWN if not node.is_running() else NodeStatus.PAUSED)
        except redis.ResponseError:
            return _Answer(NodeStatus.UP)  # e.g. still loading its data set
        info = parse_info(answers[0])
        if cluster:
            return _Answer(NodeStatus.UP, info, text(answers[1]), text(answers[2]) if len(answers) > 2 else None)
        return _Answer(NodeStatus.UP, info)

    def close(self) -> None:
        with self._lock:
            for connection in self._connections.values():
                connection.disconnect()
            self._connections.clear()


_readers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_readers_lock = threading.Lock()


def _reader_for(topology: Any) -> _Reader:
    if not hasattr(topology, "nodes") or not hasattr(topology, "kind"):
        raise ConfigurationError(f"snapshot() needs a labkit topology (Standalone, ReplicationGroup or Cluster); got {topology!r}.")
    with _readers_lock:
        reader = _readers.get(topology)
        if reader is None:
            reader = _readers[topology] = _Reader(topology)
        return reader


@dataclass(frozen=True)
class _Answer:
    """What one node said (or that it said nothing) during one snapshot."""

    status: NodeStatus
    info: dict | None = None
    cluster_nodes: str | None = None
    cluster_info: str | None = None


@dataclass(frozen=True)
class _Slots:
    """The slot facts of one snapshot, gathered from every node's CLUSTER NODES."""

    own: dict[int, tuple[tuple[int, int], ...]]  # port -> slots, as the node says of itself
    heard: dict[int, tuple[tuple[int, int], ...]]  # port -> slots, as others say of a live primary
    migrating: dict[int, tuple[int, str]]  # slot -> (source port, target id)
    ids: dict[str, int]  # node id -> port


def _replicas_seen_by_primaries(infos: dict[int, dict]) -> dict[int, tuple[int, int | None, float | None]]:
    """replica port -> (primary port, lag bytes, lag s): each primary's view gives consistent offsets and ack lag."""
    seen: dict[int, tuple[int, int | None, float | None]] = {}
    for port, info in infos.items():
        if info.get("role") != "master":
            continue
        for replica in replicas_seen(info):
            seen[replica.port] = (port, replica.lag_bytes, replica.seconds_since_ack)
    return seen


def _slots_from_cluster_nodes(raw: dict[int, _Answer]) -> _Slots:
    """Each answering node's own line of CLUSTER NODES; others' lines for nodes that do not answer."""
    slots = _Slots({}, {}, {}, {})
    for answer in raw.values():
        if answer.cluster_nodes is None:
            continue
        for line in cluster_node_lines(answer.cluster_nodes):
            slots.ids[line.node_id] = line.port
            if "myself" in line.flags:
                slots.own[line.port] = line.slots
                for slot, target_id in line.migrating:
                    slots.migrating[slot] = (line.port, target_id)
            elif line.master and "fail" not in line.flags:
                slots.heard.setdefault(line.port, line.slots)
    return slots


def _node_state(
    topology: Any, node: Node, answer: _Answer, infos: dict[int, dict],
    seen_by_primary: dict[int, tuple[int, int | None, float | None]], slots: _Slots, by_port: dict[int, Node], cluster: bool,
) -> NodeState:
    """One node's state from its own answer, its primary's view of it, and the cluster's slot facts."""
    info = answer.info
    role = node.role
    link_up = primary_port = offset = lag_bytes = lag_s = None
    keys = memory = clients = ops = commands = None
    if info is not None:
        role = Role.PRIMARY if info.get("role") == "master" else Role.REPLICA
        offset = _int(info.get("master_repl_offset"))
        keys = sum(_int(info_fields(value).get("keys")) or 0 for name, value in info.items() if re.fullmatch(r"db\d+", name))
        memory = _int(info.get("used_memory"))
        clients = _int(info.get("connected_clients"))
        ops = _int(info.get("instantaneous_ops_per_sec"))
        commands = _int(info.get("total_commands_processed"))
        if role is Role.REPLICA:
            primary_port = _int(info.get("master_port"))
            link_up = info.get("master_link_status") == "up"
            offset = _int(info.get("slave_repl_offset", offset))
            seen = seen_by_primary.get(node.port)
            if seen is not None and seen[0] == primary_port:
                lag_bytes, lag_s = seen[1], seen[2]
            if primary_port in infos and offset is not None:
                # What the replica has received (its own word) beats what it last acknowledged.
                primary_offset = _int(infos[primary_port].get("master_repl_offset"))
                lag_bytes = None if primary_offset is None else max(0, primary_offset - offset)
            upstream = getattr(topology, "upstream_port", None)
            if upstream is not None and primary_port == upstream:
                # A Global Datastore secondary's primary: it replicates from outside the group (read-only),
                # but within the group it is the primary; `link_up` is its cross-Region link.
                role, primary_port, lag_bytes, lag_s = Role.PRIMARY, None, None, None
    elif role is Role.REPLICA:
        # It does not answer: what its primary (if any answers) last heard from it.
        seen = seen_by_primary.get(node.port)
        if seen is not None:
            primary_port, lag_bytes, lag_s = seen
    if role is Role.REPLICA and primary_port is None:
        primary = _recorded_primary(topology, node)
        primary_port = primary.port if primary is not None else None
    if primary_port is not None and primary_port not in by_port:
        primary_port = None
    owned: tuple[tuple[int, int], ...] = ()
    if cluster and role is Role.PRIMARY:
        owned = slots.own.get(node.port, slots.heard.get(node.port, ()))
    return NodeState(
        name=node.name or str(node.port), port=node.port, shard=node.shard, az=node.az, role=role,
        status=answer.status, failed_over=_built_role(node) not in (None, role), primary_port=primary_port,
        link_up=link_up, replication_offset=offset, replication_lag_bytes=lag_bytes, replication_lag_s=lag_s,
        slots=owned, keys=keys, memory_used_bytes=memory, connected_clients=clients, ops_per_sec=ops,
        commands_processed=commands,
    )


def _cluster_verdict(states: list[NodeState], raw: dict[int, _Answer]) -> str | None:
    """cluster_state (ok / fail) as the first answering primary reports it."""
    for state in sorted(states, key=_order):
        cluster_info = raw[state.port].cluster_info
        if cluster_info and state.role is Role.PRIMARY:
            match = re.search(r"cluster_state:(\w+)", cluster_info)
            return match.group(1) if match else None
    return None


# -- small helpers ----------------------------------------------------------------------------
def _order(node: NodeState) -> tuple:
    shard = -1 if node.shard is None else node.shard
    return (shard, 0 if node.role is Role.PRIMARY else 1, node.az or "", node.name)


def _built_role(node: Node) -> Role | None:
    """The role labkit gave the node when it built the lab, from the name it gave it then."""
    name = node.name or ""
    if re.search(r"(^|-)primary($|-)", name):
        return Role.PRIMARY
    if re.search(r"(^|-)replica($|-)", name):
        return Role.REPLICA
    return None


def _recorded_primary(topology: Any, node: Node) -> Node | None:
    for other in topology.nodes:
        if other is not node and other.shard == node.shard and other.role is Role.PRIMARY:
            return other
    return None


def _rangestext(ranges: Iterable[tuple[int, int]]) -> str:
    text = ",".join(f"{first}-{last}" if last != first else str(first) for first, last in ranges)
    return text or "none"


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def _int(value: object) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _float(value: object) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


__all__ = [
    "ConsumerState", "GroupState", "Migration", "NodeState", "StreamState", "TopologyState", "snapshot", "stream_state",
]

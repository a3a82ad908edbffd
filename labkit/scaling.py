"""Scaling: add and remove shards online, rebalance slots, and scale up to bigger nodes.

Slots move one of two ways (`method=`):

- `"atomic"` (Valkey >= 9): the source is told `CLUSTER MIGRATESLOTS SLOTSRANGE a b ... NODE
  <target>`; it copies whole slots to the target in the background, pauses writes for a moment,
  and the target takes the slots over in one step. labkit polls `CLUSTER GETSLOTMIGRATIONS`
  until every job has ended. Clients see only MOVED, after the hand-over: no ASK.
- `"keys"` (every engine), the way `valkey-cli --cluster reshard` does it, in batches: the target
  is told it is IMPORTING, the source that it is MIGRATING, the keys go over with MIGRATE, and
  then every primary learns the new owner (CLUSTER SETSLOT ... NODE). Meanwhile a key of a moving
  slot is served by the source until it has moved and by the target after (clients get ASK, then
  MOVED). A client must follow ASK to a node it may never have seen: stock redis-py's RedisCluster
  fails there (AttributeError); labkit's own cluster client follows it.

`"auto"` (the default) picks atomic where the engine has it, asked with COMMAND INFO.

Example::

    with labkit.Cluster(shards=3, replicas=1) as cluster:
        shard = cluster.add_shard()                   # 4 shards, 4,096 slots each
        cluster.remove_shard(shard, method="keys")    # back to 3, key by key
        bigger = cluster.scale_up(config={"maxmemory": "128mb"})   # a new cluster with every key
        cluster.stop()                                # after the cut-over
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

import redis

from ._polling import wait_until
from ._wire import SLOT_COUNT, SlotMigrationJob, parse_cluster_nodes, slot_migration_jobs, slot_ranges_by_port
from .engine import Engine
from .errors import ConfigurationError, LabkitError, ScalingError, TopologyStateError
from .keycopy import dump_with_ttl, dumped_batches, same_value
from .node import Node, NodeStatus, Role
from .ports import BUS_PORT_OFFSET

if TYPE_CHECKING:  # only for type hints: topologies import this module, not the other way round
    from .topology.base import NodeSpec, Topology

#: Slots moved per batch: large enough to be quick, small enough that clients see short ASK windows.
BATCH_SLOTS = 512
KEYS_PER_MIGRATE = 200
#: Connections per node used at once for CLUSTER SETSLOT.
PARALLEL_SETSLOTS = 64
SETSLOT_REPLICA_TIMEOUT_MS = 10_000
SETSLOT_ATTEMPTS = 3
MIGRATE_TIMEOUT_MS = 5000
#: How slots can move: "auto" is atomic where the engine has it, else key by key.
METHODS = ("auto", "atomic", "keys")
#: How long labkit waits for atomic migrations to end before it cancels them.
ATOMIC_TIMEOUT_S = 120.0
ATOMIC_POLL_S = 0.005

Progress = Callable[[str], None]


class ClusterLab(Protocol):
    """What scaling needs of a cluster: its public surface, nothing behind an underscore."""

    nodes: list[Node]
    engine: Engine | None
    start_timeout: float
    shards: list[int]

    def require_running(self) -> None: ...
    def primaries(self) -> list[Node]: ...
    def primary(self, shard: int) -> Node: ...
    def node_id(self, node: Node | int | str) -> str: ...
    def add_nodes(self, specs: list[NodeSpec]) -> list[Node]: ...
    def discard_nodes(self, nodes: list[Node]) -> None: ...
    def roles_frozen(self) -> contextlib.AbstractContextManager[None]: ...
    def wait_converged(self, timeout: float, error: Callable[[str], LabkitError] | None = None) -> None: ...
    def rebalance(self, progress: Progress | None = None, method: str = "auto") -> int: ...
    def log_event(self, action: str, target: str, detail: str = "") -> Any: ...


# -- reading the slot map ------------------------------------------------------------------------
def slot_owners(cluster: ClusterLab) -> dict[int, Node]:
    """slot -> owning primary, from CLUSTER SLOTS of a live primary."""
    source = _live_primary(cluster, "read the slot map from")
    by_port = {node.port: node for node in cluster.nodes}
    owners: dict[int, Node] = {}
    with source.client(socket_timeout=5.0) as client:
        for first, last, port in slot_ranges_by_port(client.execute_command("CLUSTER", "SLOTS")):
            owner = by_port.get(port)
            if owner is None:
                continue
            for slot in range(int(first), int(last) + 1):
                owners[slot] = owner
    return owners


def _live_primary(cluster: ClusterLab, purpose: str) -> Node:
    source = next((node for node in cluster.nodes if node.role is Role.PRIMARY and node.status is NodeStatus.UP), None)
    if source is None:
        raise TopologyStateError(f"no primary of this cluster is up to {purpose}; restart one first.")
    return source


def balanced_targets(primaries: list[Node]) -> dict[Node, int]:
    """How many slots each primary should own: equal shares, the first ones one more if uneven."""
    base, extra = divmod(SLOT_COUNT, len(primaries))
    return {node: base + (1 if index < extra else 0) for index, node in enumerate(primaries)}


def plan_moves(owners: Mapping[int, Node], targets: Mapping[Node, int]) -> list[tuple[int, Node, Node]]:
    """(slot, source, target) moves that reach `targets`, taking each source's highest slots."""
    owned: dict[Node, list[int]] = defaultdict(list)
    for slot, node in sorted(owners.items()):
        owned[node].append(slot)
    surplus: list[tuple[int, Node]] = []
    for node, slots in owned.items():
        keep = targets.get(node, 0)
        surplus += [(slot, node) for slot in slots[keep:]]
    surplus.sort()
    moves = []
    for target, wanted in targets.items():
        missing = wanted - len(owned.get(target, []))
        while missing > 0 and surplus:
            slot, source = surplus.pop(0)
            moves.append((slot, source, target))
            missing -= 1
    return moves


# -- choosing how slots move -----------------------------------------------------------------------
def atomic_migration_available(cluster: ClusterLab) -> bool:
    """Whether the engine moves whole slots atomically (CLUSTER MIGRATESLOTS), asked of a live
    primary with COMMAND INFO rather than guessed from its version.

    Example::

        atomic_migration_available(cluster)      # True on Valkey 9, False on Redis 7.0
    """
    with _live_primary(cluster, "ask which commands it has").client(socket_timeout=5.0) as client:
        reply = client.execute_command("COMMAND INFO", "CLUSTER|MIGRATESLOTS")
    return bool(reply) and reply[0] is not None


def check_method(method: object) -> None:
    """Raise ConfigurationError unless `method` is one of METHODS."""
    if not isinstance(method, str) or method not in METHODS:
        raise ConfigurationError(
            f"method must be 'auto', 'atomic' or 'keys' (got {method!r}): 'atomic' moves whole slots with CLUSTER "
            "MIGRATESLOTS (Valkey >= 9), 'keys' moves them key by key with MIGRATE, 'auto' picks atomic where it can."
        )


def resolve_method(cluster: ClusterLab, method: str) -> str:
    """"atomic" or "keys": what `method` means on this cluster's engine (raises if atomic is asked and missing)."""
    check_method(method)
    if method == "keys":
        return "keys"
    if atomic_migration_available(cluster):
        return "atomic"
    if method == "auto":
        return "keys"
    engine = cluster.engine.display_name if cluster.engine is not None else "this engine"
    raise ConfigurationError(
        f"{engine} has no atomic slot migration (COMMAND INFO knows no CLUSTER MIGRATESLOTS; Valkey 9.0 added it). "
        "Use method='keys' to move slots key by key (or method='auto', which picks it here)."
    )


def slot_runs(slots: list[int]) -> list[tuple[int, int]]:
    """Slots as inclusive (first, last) runs of consecutive slots, the SLOTSRANGE arguments.

    Example::

        slot_runs([7, 3, 4, 5])      # [(3, 5), (7, 7)]
    """
    runs: list[list[int]] = []
    for slot in sorted(slots):
        if runs and runs[-1][1] + 1 == slot:
            runs[-1][1] = slot
        else:
            runs.append([slot, slot])
    return [(first, last) for first, last in runs]


# -- moving slots ----------------------------------------------------------------------------------
def move_slots(
    cluster: ClusterLab, moves: list[tuple[int, Node, Node]], progress: Progress | None = None, method: str = "auto",
) -> int:
    """Move (slot, source, target) slots, atomically where the engine can (`method="auto"`) or key
    by key (`method="keys"`); returns how many keys moved (counted before an atomic move).

    Example::

        move_slots(cluster, plan_moves(slot_owners(cluster), balanced_targets(cluster.primaries())))
    """
    chosen = resolve_method(cluster, method)
    if not moves:
        return 0
    groups: dict[tuple[Node, Node], list[int]] = defaultdict(list)
    for slot, source, target in moves:
        groups[(source, target)].append(slot)
    if chosen == "atomic":
        return _move_atomically(cluster, groups, progress or (lambda _message: None))
    return _move_key_by_key(cluster, groups, progress or (lambda _message: None))


def _log_moved(cluster: ClusterLab, source: Node, target: Node, slots: list[int], how: str) -> None:
    cluster.log_event("move_slots", f"shard {source.shard}->{target.shard}", f"{len(slots)} slots ({slots[0]}..{slots[-1]}) {how}")


def _move_atomically(cluster: ClusterLab, groups: dict[tuple[Node, Node], list[int]], report: Progress) -> int:
    """One CLUSTER MIGRATESLOTS per source (a SLOTSRANGE ... NODE block per target), all sources at
    once; then poll each source's CLUSTER GETSLOTMIGRATIONS until every job it started has ended."""
    by_source: dict[Node, list[tuple[Node, list[int]]]] = defaultdict(list)
    for (source, target), slots in groups.items():
        by_source[source].append((target, sorted(slots)))
    clients = {source.port: source.client(socket_timeout=10.0) for source in by_source}
    started: dict[Node, set[str]] = {}  # source -> names of the jobs it had before ours
    try:
        moved_keys = 0
        for source, parts in by_source.items():
            client = clients[source.port]
            pipe = client.pipeline(transaction=False)
            for _target, slots in parts:
                for slot in slots:
                    pipe.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)
            moved_keys += sum(int(count) for count in pipe.execute())
            arguments: list[Any] = []
            for target, slots in parts:
                arguments += ["SLOTSRANGE", *(bound for run in slot_runs(slots) for bound in run), "NODE", cluster.node_id(target)]
            before = {job.name for job in slot_migration_jobs(client.execute_command("CLUSTER", "GETSLOTMIGRATIONS"))}
            try:
                client.execute_command("CLUSTER", "MIGRATESLOTS", *arguments)
            except redis.ResponseError as error:
                raise ScalingError(
                    f"{source.name} refused CLUSTER MIGRATESLOTS: {error}. If a slot was left half-moved by hand "
                    "(MIGRATING/IMPORTING), finish or undo that move first; or use method='keys'.", node=source.name, port=source.port,
                ) from error
            started[source] = before
        _wait_for_jobs(cluster, by_source, started, clients, report)
        return moved_keys
    except BaseException:
        _cancel_migrations(clients, started)
        raise
    finally:
        for client in clients.values():
            client.close()


def _wait_for_jobs(
    cluster: ClusterLab, by_source: dict[Node, list[tuple[Node, list[int]]]], started: dict[Node, set[str]],
    clients: dict[int, redis.Redis], report: Progress,
) -> None:
    expected = {source: len(parts) for source, parts in by_source.items()}
    targets = {(source, cluster.node_id(target)): (target, slots) for source, parts in by_source.items() for target, slots in parts}
    reported: set[str] = set()

    def all_ended() -> bool:
        for source in list(expected):
            jobs = [
                job for job in slot_migration_jobs(clients[source.port].execute_command("CLUSTER", "GETSLOTMIGRATIONS"))
                if job.operation == "EXPORT" and job.name not in started[source]
            ]
            for job in jobs:
                if job.state in ("failed", "cancelled"):
                    raise ScalingError(_job_failure(source, job), node=source.name, port=source.port)
                if job.state == "success" and job.name not in reported:
                    reported.add(job.name)
                    target, slots = targets.get((source, job.target_id), (None, []))
                    if target is not None:
                        report(f"moved {len(slots)} slots from {source.name} to {target.name}")
                        _log_moved(cluster, source, target, slots, "by atomic slot migration")
            if sum(job.state == "success" for job in jobs) >= expected[source]:
                del expected[source]
        return not expected

    wait_until(all_ended, ATOMIC_TIMEOUT_S, ATOMIC_POLL_S, on_timeout=lambda last: ScalingError(
        f"atomic slot migrations from {', '.join(source.name for source in expected)} did not end within "
        f"{ATOMIC_TIMEOUT_S:.0f} s{last}; labkit cancelled them. The machine may be overloaded: try again, or method='keys'.",
    ))


def _job_failure(source: Node, job: SlotMigrationJob) -> str:
    ranges = ", ".join(f"{first}-{last}" for first, last in job.slot_ranges)
    what = "was cancelled (CLUSTER CANCELSLOTMIGRATIONS)" if job.state == "cancelled" else f"failed: {job.message or 'no reason given'}"
    return (
        f"the atomic migration of slots {ranges} from {source.name} {what}. Until the hand-over the slots stay with "
        "their owner; call rebalance() to move what is left, or use method='keys'."
    )


def _cancel_migrations(clients: dict[int, redis.Redis], started: dict[Node, set[str]]) -> None:
    """CLUSTER CANCELSLOTMIGRATIONS on every source labkit started jobs on (nothing to cancel is fine)."""
    for source in started:
        try:
            clients[source.port].execute_command("CLUSTER", "CANCELSLOTMIGRATIONS")
        except redis.ResponseError as error:
            if "No migrations ongoing" not in str(error):
                raise


def _move_key_by_key(cluster: ClusterLab, groups: dict[tuple[Node, Node], list[int]], report: Progress) -> int:
    """Move slots in batches with CLUSTER SETSLOT and MIGRATE; returns how many keys moved."""
    primaries = cluster.primaries()
    clients = {
        node.port: node.client(decode_responses=False, socket_timeout=30.0, max_connections=PARALLEL_SETSLOTS + 2)
        for node in primaries
    }
    moved_keys = 0
    try:
        with ThreadPoolExecutor(PARALLEL_SETSLOTS, thread_name_prefix="labkit-setslot") as executor:
            for (source, target), slots in groups.items():
                for start in range(0, len(slots), BATCH_SLOTS):
                    batch = slots[start:start + BATCH_SLOTS]
                    moved_keys += _move_batch(cluster, executor, clients, source, target, batch, primaries)
                report(f"moved {len(slots)} slots from {source.name} to {target.name}")
                _log_moved(cluster, source, target, slots, "key by key")
    finally:
        for client in clients.values():
            client.close()
    return moved_keys


def _move_batch(
    cluster: ClusterLab, executor: ThreadPoolExecutor, clients: dict[int, redis.Redis],
    source: Node, target: Node, slots: list[int], primaries: list[Node],
) -> int:
    source_id, target_id = cluster.node_id(source), cluster.node_id(target)
    source_client, target_client = clients[source.port], clients[target.port]
    # Order matters: IMPORTING on the target before MIGRATING on the source, so an ASK always lands.
    wait = _setslot_timeout(cluster)
    _parallel(executor, target_client, [("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id, *wait) for slot in slots])
    _parallel(executor, source_client, [("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id, *wait) for slot in slots])
    moved = 0
    pending = slots
    while pending:
        counts = _pipeline(source_client, [("CLUSTER", "COUNTKEYSINSLOT", slot) for slot in pending])
        pending = [slot for slot, count in zip(pending, counts) if int(count) > 0]
        for slot in pending:
            keys = source_client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, KEYS_PER_MIGRATE)
            if keys:
                source_client.execute_command(
                    "MIGRATE", "127.0.0.1", target.port, "", 0, MIGRATE_TIMEOUT_MS, "REPLACE", "KEYS", *keys
                )
                moved += len(keys)
    # The target first (it bumps its epoch); then the source and the other primaries (best effort:
    # gossip tells them anyway, and a primary left without slots may have become a replica).
    assign = [("CLUSTER", "SETSLOT", slot, "NODE", target_id, *wait) for slot in slots]
    _parallel(executor, target_client, assign)
    others = [node for node in primaries if node is not target]
    # The source may turn into a replica the moment its last slot is gone (replica migration).
    futures = [future for node in others for future in _submit(executor, clients[node.port], assign, raise_on_error=False)]
    for future in futures:
        future.result()
    return moved


def _setslot_timeout(cluster: ClusterLab) -> tuple:
    """Valkey >= 8 makes CLUSTER SETSLOT wait for the node's replicas, 2 s at most by default; a
    loaded machine can need longer, so labkit allows 10 s (older engines do not wait at all)."""
    engine = cluster.engine
    if engine is not None and engine.name == "valkey" and engine.version >= (8, 0, 0):
        return ("TIMEOUT", SETSLOT_REPLICA_TIMEOUT_MS)
    return ()


def _pipeline(client: redis.Redis, commands: list[tuple], raise_on_error: bool = True) -> list[Any]:
    """Send commands in one round trip; retry those refused because replicas were too slow
    (NOREPLICAS: the node did not apply them), then raise the first other error if asked."""
    replies: list[Any] = [None] * len(commands)
    pending = list(range(len(commands)))
    for attempt in range(SETSLOT_ATTEMPTS):
        pipe = client.pipeline(transaction=False)
        for index in pending:
            pipe.execute_command(*commands[index])
        for index, reply in zip(pending, pipe.execute(raise_on_error=False)):
            replies[index] = reply
        pending = [index for index in pending if isinstance(replies[index], redis.ResponseError) and str(replies[index]).startswith("NOREPLICAS")]
        if not pending:
            break
        time.sleep(0.05 * (attempt + 1))
    if raise_on_error:
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                raise reply
    return replies


def _submit(executor: ThreadPoolExecutor, client: redis.Redis, commands: list[tuple], raise_on_error: bool = True) -> list:
    size = max(1, -(-len(commands) // PARALLEL_SETSLOTS))
    return [executor.submit(_pipeline, client, commands[start:start + size], raise_on_error) for start in range(0, len(commands), size)]


def _parallel(executor: ThreadPoolExecutor, client: redis.Redis, commands: list[tuple]) -> list[Any]:
    """Run commands over several connections at once: since Valkey 8 each CLUSTER SETSLOT waits
    for the node's replicas to acknowledge it, so one connection would wait for each in turn."""
    return [reply for future in _submit(executor, client, commands) for reply in future.result()]


@contextlib.contextmanager
def slot_migrating(cluster: ClusterLab, slot: int, shard: int) -> Iterator[tuple[Node, Node]]:
    """Hold one slot half-way through a move to `shard` (so ASK can be seen), then finish it."""
    cluster.require_running()
    if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < SLOT_COUNT:
        raise ConfigurationError(f"slot must be a whole number from 0 to {SLOT_COUNT - 1} (got {slot!r}); cluster.client().keyslot(key) gives a key's slot.")
    target = cluster.primary(shard)
    source = slot_owners(cluster).get(slot)
    if source is None or source is target:
        raise ConfigurationError(f"slot {slot} is already in shard {shard}; pick a slot another shard owns.")
    require_all_up(cluster, "move a slot")
    clients = {node.port: node.client(decode_responses=False, socket_timeout=30.0) for node in cluster.primaries()}
    try:
        wait = _setslot_timeout(cluster)
        _pipeline(clients[target.port], [("CLUSTER", "SETSLOT", slot, "IMPORTING", cluster.node_id(source), *wait)])
        _pipeline(clients[source.port], [("CLUSTER", "SETSLOT", slot, "MIGRATING", cluster.node_id(target), *wait)])
        cluster.log_event("move_slots", f"shard {source.shard}->{target.shard}", f"slot {slot} migrating")
        try:
            yield source, target
        finally:
            with ThreadPoolExecutor(2) as executor:
                _move_batch(cluster, executor, clients, source, target, [slot], cluster.primaries())
            cluster.log_event("move_slots", f"shard {source.shard}->{target.shard}", f"slot {slot} moved")
    finally:
        for client in clients.values():
            client.close()
    _settle(cluster)


def require_all_up(cluster: ClusterLab, action: str) -> None:
    cluster.require_running()
    down = [node for node in cluster.nodes if node.status is not NodeStatus.UP]
    if down:
        raise TopologyStateError(
            f"cannot {action} while {', '.join(f'{node.name} is {node.status}' for node in down)}; "
            "resume or restart those nodes first (restore_az / restart)."
        )


def _settle(cluster: ClusterLab, timeout: float = 30.0) -> None:
    cluster.wait_converged(timeout, lambda message: ScalingError(f"{message} Try rebalance() again."))


# -- the operations -------------------------------------------------------------------------------
_HOW = {"atomic": "by atomic slot migration", "keys": "key by key"}


def rebalance(cluster: ClusterLab, progress: Progress | None = None, method: str = "auto") -> int:
    """Move slots until every shard owns an equal share (only each shard's surplus moves);
    returns the number of slots moved. `method`: "auto", "atomic" or "keys" (see the module)."""
    check_method(method)
    require_all_up(cluster, "rebalance")
    chosen = resolve_method(cluster, method)
    with cluster.roles_frozen():
        primaries = sorted(cluster.primaries(), key=lambda node: node.shard)
        moves = plan_moves(slot_owners(cluster), balanced_targets(primaries))
        if not moves:
            return 0
        started = time.monotonic()
        keys = move_slots(cluster, moves, progress, chosen)
        _settle(cluster)
    cluster.log_event("rebalance", "cluster", f"{len(moves)} slots and {keys} keys moved {_HOW[chosen]} in {time.monotonic() - started:.1f} s")
    return len(moves)


def add_shard(
    cluster: ClusterLab, specs: list[NodeSpec], rebalance: bool = True, progress: Progress | None = None, method: str = "auto",
) -> list[Node]:
    """Start the nodes of a new shard (`specs`: its primary first), join them to the cluster, and
    (by default) give the shard its share of slots, moved by `method`; returns the new nodes.
    The cluster decides where they go (`Cluster.add_shard()`); this is how they join."""
    check_method(method)
    require_all_up(cluster, "add a shard")
    chosen = resolve_method(cluster, method)  # before any node starts: "atomic" where it is missing fails here
    report = progress or (lambda _message: None)
    shard = specs[0].shard
    report(f"starting shard {shard}: primary in {specs[0].az}, replicas in {', '.join(spec.az for spec in specs[1:]) or '-'}")
    nodes = cluster.add_nodes(specs)
    try:
        clients = {node.port: node.client(socket_timeout=5.0) for node in cluster.nodes}
        try:
            introducer = next(node for node in cluster.nodes if node not in nodes)
            for node in nodes:
                clients[introducer.port].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, node.port + BUS_PORT_OFFSET)
            report("waiting until every node knows the new ones")
            wait_until(
                lambda: all(_knows_all(clients[node.port], len(cluster.nodes)) for node in cluster.nodes), cluster.start_timeout,
                on_timeout=lambda last: ScalingError(
                    f"the new nodes did not join within {cluster.start_timeout:.0f} s{last}; the machine may be overloaded.", shard=shard,
                ),
            )
            for replica in nodes[1:]:
                clients[replica.port].execute_command("CLUSTER", "REPLICATE", cluster.node_id(nodes[0]))
        finally:
            for client in clients.values():
                client.close()
        _settle(cluster, cluster.start_timeout)
    except BaseException:
        cluster.discard_nodes(nodes)
        raise
    cluster.log_event("add_shard", f"shard {shard}", f"{', '.join(node.name for node in nodes)} joined")
    if rebalance:
        moved = cluster.rebalance(progress, method=chosen)
        report(f"shard {shard} owns {moved} slots now")
    return nodes


def _knows_all(client: redis.Redis, count: int) -> bool:
    view = parse_cluster_nodes(client.execute_command("CLUSTER", "NODES"))
    return len(view) >= count and not any(entry["handshake"] for entry in view.values())


def remove_shard(cluster: ClusterLab, shard: int, progress: Progress | None = None, method: str = "auto") -> None:
    """Move every slot of `shard` to the others (by `method`), then stop its nodes and make the
    cluster forget them."""
    check_method(method)
    require_all_up(cluster, "remove a shard")
    chosen = resolve_method(cluster, method)
    with cluster.roles_frozen():
        leaving = [node for node in cluster.nodes if node.shard == shard]
        leaving_primary = cluster.primary(shard)
        staying = sorted((node for node in cluster.primaries() if node.shard != shard), key=lambda node: node.shard)
        owners = slot_owners(cluster)
        targets = balanced_targets(staying)
        targets[leaving_primary] = 0
        moves = plan_moves(owners, targets)
        keys = move_slots(cluster, moves, progress, chosen)
        ids = [cluster.node_id(node) for node in leaving]
        cluster.discard_nodes(leaving)
        for node in cluster.nodes:
            with node.client(socket_timeout=5.0) as client:
                for node_id in ids:
                    try:
                        client.execute_command("CLUSTER", "FORGET", node_id)
                    except redis.ResponseError as error:
                        if "Unknown node" not in str(error):
                            raise
    _settle(cluster)
    cluster.log_event("remove_shard", f"shard {shard}", f"{len(moves)} slots and {keys} keys moved {_HOW[chosen]}; {', '.join(node.name for node in leaving)} stopped")


# -- vertical scaling -----------------------------------------------------------------------------
def scale_up(source: Topology, config: Mapping[str, Any] | None = None, progress: Progress | None = None, **options: Any) -> Topology:
    """Start a topology like `source` with `config` merged into its settings (bigger nodes),
    copy every key with its TTL (DUMP/RESTORE), verify the copy, and return the new topology.
    Users and user groups applied to `source` (labkit.acl) are applied to the copy's nodes too."""
    source.require_running()
    report = progress or (lambda _message: None)
    if config is not None and not isinstance(config, Mapping):
        raise ConfigurationError(f"config must be a mapping of server settings such as {{'maxmemory': '128mb'}}; got {config!r}.")
    down = [node for node in source.primaries() if node.status is not NodeStatus.UP]
    if down:
        raise TopologyStateError(f"cannot copy from {', '.join(n.name for n in down)} ({down[0].status}); restart it or wait for the failover first.")
    settings = {**dict(source.settings), **dict(config or {})}
    spec = source.spec.replace(config=settings, **options)
    if spec.kind == "cluster":
        spec = spec.replace(shards=len(source.shards))  # type: ignore[attr-defined]
    target = type(source).from_spec(spec)
    target.set_access(source.access)
    report(f"starting a new {source.kind} with {config or {}}")
    target.start()
    try:
        copied, with_ttl = _copy_keys(source, target, report)
        report(f"verifying {copied} keys")
        _verify_copy(source, target, copied)
    except BaseException:
        target.stop()
        raise
    detail = f"{copied} keys ({with_ttl} with a TTL) copied and verified into a new {target.kind} with {config or {}}"
    source.log_event("scale_up", source.kind, detail)
    target.log_event("scale_up", target.kind, detail)
    target.copied_keys = copied
    return target


def _copy_keys(source: Topology, target: Topology, report: Progress) -> tuple[int, int]:
    writer = target.client(decode_responses=False)
    copied = with_ttl = 0
    try:
        for node in source.primaries():
            for keys, replies in dumped_batches(node):
                out = writer.pipeline(transaction=False)
                for index, key in enumerate(keys):
                    payload, ttl = replies[2 * index], replies[2 * index + 1]
                    if payload is None or ttl == -2:
                        continue  # expired between SCAN and DUMP
                    out.restore(key, max(ttl, 0), payload, replace=True)
                    copied += 1
                    with_ttl += ttl > 0
                out.execute()
            report(f"copied the keys of {node.name}")
    finally:
        writer.close()
    return copied, with_ttl


def _verify_copy(source: Topology, target: Topology, copied: int) -> None:
    """Every key of the source has the same value and a TTL on the target (and nothing else is there)."""
    checker = target.client(decode_responses=False)
    try:
        total = sum(node.client().dbsize() for node in target.primaries())
        if total != copied:
            raise ScalingError(f"the new {target.kind} holds {total} keys but {copied} were copied; run scale_up again.")
        for node in source.primaries():
            with node.client(decode_responses=False) as original:
                for keys, expected in dumped_batches(node):
                    found = dump_with_ttl(checker, keys)
                    for index, key in enumerate(keys):
                        old_value, old_ttl = expected[2 * index], expected[2 * index + 1]
                        new_value, new_ttl = found[2 * index], found[2 * index + 1]
                        if old_value is None or old_ttl == -2:
                            continue
                        same = new_value == old_value or (new_value is not None and same_value(original, checker, key))
                        if not same or (old_ttl > 0) != (new_ttl > 0):
                            raise ScalingError(f"key {key!r} differs after the copy (value or TTL); run scale_up again.")
    finally:
        checker.close()

"""What every topology shares: lifecycle, node bookkeeping, cleanup, clients, and the small public
surface that actions (faults, failover, scaling, acl) and probes work through.

That surface, the "Lab protocol": `nodes`, `primaries()`, `require_running()`, `add_nodes(specs)`,
`discard_nodes(nodes)`, `save_record()`, `roles_frozen()`, `log_event(...)`, `access` / `set_access()`.
Backups (`snapshot()`, `from_snapshot=`) go through it too (labkit.backup).

A lab `labkit up` started is found again with `attach_record()` (`labkit.attach()`), possibly by
several processes at once: `roles_frozen()` then also keeps other processes out and brings this
one up to date first (see labkit.topology.attachment), and a background thread follows what the
others change until the lab is taken down.

Example::

    with Standalone() as lab:
        lab.add_nodes([NodeSpec("extra", Role.PRIMARY, None, "az-a")])   # what add_shard() does for a cluster
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .._polling import BackgroundThread
from ..backup import Snapshot, restore_snapshot, take_snapshot
from ..engine import Engine, find_engine, inspect_binary
from ..errors import ConfigurationError, TopologyStateError, UnknownNodeError
from ..faults import FaultEvent, FaultInjection
from ..node import Node, NodeConfig, NodeStatus, Role
from ..ports import PortReservation
from ..probe import stop_all_probes
from ..reaper import LabRecord, Watchdog, sweep_orphans
from ..scaling import scale_up
from ..state import TopologyState, snapshot as read_state
from ..tls import TlsFiles, make_certificates
from .attachment import Attachment, RecordChanges
from .placement import placement_problems
from .spec import LabSpec

if TYPE_CHECKING:
    from ..acl import Access

Progress = Callable[[str], None]
#: How often an attached lab re-reads its record (the replication group's monitor: every tick).
FOLLOW_INTERVAL_S = 0.1


class Lifecycle(str, enum.Enum):
    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class NodeSpec:
    """A node to add to a lab: its name, role, shard (None outside clusters) and AZ."""

    name: str
    role: Role
    shard: int | None
    az: str


_live_labs: set[Topology] = set()
_live_labs_lock = threading.Lock()


def stop_all() -> int:
    """Stop every lab this Python process started, and any probe still sending traffic
    (the last cell of a notebook can call this)."""
    stop_all_probes()
    with _live_labs_lock:
        labs = list(_live_labs)
    for lab in labs:
        lab.stop()
    return len(labs)


atexit.register(stop_all)


class Topology(FaultInjection):
    """Base class of Standalone, ReplicationGroup and Cluster (not used directly)."""

    kind: ClassVar[str] = "topology"
    _kinds: ClassVar[dict[str, type[Topology]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Topology._kinds[cls.kind] = cls

    @classmethod
    def from_spec(cls, spec: LabSpec) -> Topology:
        """A new (not yet started) topology of the kind and shape `spec` describes.

        Example::

            twin = Topology.from_spec(cluster.spec)
        """
        if not isinstance(spec, LabSpec):
            raise ConfigurationError(f"from_spec needs a LabSpec (got {spec!r}); topology.spec is one.")
        kind = Topology._kinds[spec.kind]
        if cls is not Topology and not issubclass(kind, cls):
            raise ConfigurationError(f"a {spec.kind} spec makes a {kind.__name__}, not a {cls.__name__}; call Topology.from_spec.")
        topology = kind.__new__(kind)
        topology._setup(spec)  # a Topology setting up a Topology: __init__'s work without its argument parsing
        return topology

    def _setup(self, spec: LabSpec) -> None:
        """Set the fields every topology has from its spec (subclasses add theirs)."""
        self.spec = spec
        self.azs = spec.azs
        self.server = spec.server
        self.settings = spec.config
        self.tls = spec.tls
        self.tls_files: TlsFiles | None = None
        self.node_timeout_ms = spec.node_timeout_ms
        self.start_timeout = spec.start_timeout
        self.replica_count = spec.replicas
        self.access: Access | None = None
        #: How many keys scale_up() copied into this topology (None unless it is a scale-up copy).
        self.copied_keys: int | None = None
        #: The snapshot this topology was started from, and how many of its keys start() restored.
        self.restored_from: Snapshot | None = None
        self.restored_keys: int | None = None
        self.lifecycle = Lifecycle.CREATED
        self.nodes: list[Node] = []
        self.engine: Engine | None = None
        self.workdir: Path | None = None
        self.lab_id = f"{self.kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.detached = False
        self.fault_log: list[FaultEvent] = []
        self._ports = PortReservation()
        self._record: LabRecord | None = None
        #: This process's share of a lab `labkit up` started (None for a lab this process started).
        self._attachment: Attachment | None = None
        #: The thread that follows such a lab's record (a subclass may make it its monitor or watcher).
        self._follower: BackgroundThread | None = None
        self._lock = threading.RLock()
        #: Held while roles are read or changed (the role watcher, the Multi-AZ monitor, a reshard).
        self._roles_lock = threading.RLock()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, progress: Progress | None = None) -> Self:
        """Start every node and wait until the topology is ready; returns the topology."""
        with self._lock:
            if self.lifecycle is Lifecycle.RUNNING:
                raise TopologyStateError(f"this {self.kind} is already running; call stop() first or create a new one.")
            if self.lifecycle is Lifecycle.STOPPED:
                raise TopologyStateError(f"cannot start a stopped {self.kind}; create a new one (its data is gone).")
            self.lifecycle = Lifecycle.STARTING
            report = progress or (lambda _message: None)
            try:
                sweep_orphans()
                self.engine = find_engine(self.server)
                if self.tls and not self.engine.supports_tls:
                    raise ConfigurationError(
                        f"{self.engine.display_name} ({self.engine.path}) was built without TLS, so tls=True cannot work. "
                        "Set LABKIT_SERVER to a TLS-enabled server (for example Debian's redis-server) or drop tls=True."
                    )
                self.workdir = Path(tempfile.mkdtemp(prefix=f"labkit-{self.kind}-"))
                if self.tls:
                    self.tls_files = make_certificates(self.workdir / "tls")
                self._record = LabRecord(
                    lab_id=self.lab_id, kind=self.kind, owner_pid=os.getpid(), workdir=str(self.workdir),
                    detached=self.detached, engine_path=str(self.engine.path), settings=self.spec.as_record(),
                )
                if not self.detached:
                    Watchdog.watch_directory(self.workdir)
                    with _live_labs_lock:
                        _live_labs.add(self)
                self._build(report)
                self.lifecycle = Lifecycle.RUNNING
                self.save_record()
                if self.spec.from_snapshot is not None:
                    self._restore(self.spec.from_snapshot, report)
            except BaseException:
                # A start that fails halfway (an error, Ctrl-C, a kernel interrupt) stops what it started.
                self._teardown()
                raise
        return self

    def _restore(self, snapshot: Snapshot, report: Progress) -> None:
        self.restored_keys = restore_snapshot(snapshot, self, report)
        self.restored_from = snapshot
        # The snapshot seeded this lab once; copies of its spec (scale_up, add_shard) start without it.
        self.spec = self.spec.replace(from_snapshot=None)

    @classmethod
    def attach_record(cls, record: LabRecord, background: bool = True) -> Topology:
        """The running lab `record` describes (one `labkit up` started), rebuilt from its recorded spec.

        With `background=True` a thread follows what other processes change (a node restarted, a
        replica promoted), runs what a lab started here would run (a replication group's Multi-AZ
        monitor, in one attached process at a time; a cluster's role watcher), and stops it all
        quietly when `labkit down` takes the lab away. `background=False` is a one-off look.

        Example::

            lab = Topology.attach_record(detached_record())
        """
        settings = dict(record.settings)
        if "kind" not in settings and "shards" not in settings and record.kind == "cluster":
            settings["shards"] = len({entry["shard"] for entry in record.nodes}) or 1
        topology = cls.from_spec(LabSpec.from_record(record.kind, settings))
        topology.engine = inspect_binary(Path(record.engine_path), source="labkit up")
        topology.workdir = Path(record.workdir)
        if topology.tls:
            directory = topology.workdir / "tls"
            topology.tls_files = TlsFiles(directory / "ca.crt", directory / "node.crt", directory / "node.key")
        topology.detached = True  # attached labs are not stopped at exit: they belong to `labkit up`
        topology.lab_id = record.lab_id
        # The class filling in the instance it builds, as start() does.
        topology._record = record
        topology._attachment = Attachment(record, attend=background)
        for entry in record.nodes:
            topology.nodes.append(topology._node_from_record(entry))
        topology.lifecycle = Lifecycle.RUNNING
        try:
            topology._attached()
            if background:
                topology._follower = BackgroundThread(
                    f"labkit-attached-{topology.lab_id}", topology._attached_step, topology._follow_interval_s,
                ).start()
                topology._attached_background_started()
        except BaseException:
            topology._stop_following()
            topology._attachment.release()
            raise
        return topology

    def _node_from_record(self, entry: dict) -> Node:
        """A Node for a process another labkit process started, as its record entry describes it."""
        assert self.engine is not None
        node = Node(
            config=self._node_config(entry["port"], entry["az"]), engine=self.engine, role=Role(entry["role"]),
            shard=entry["shard"], name=entry["name"], pid=entry["pid"],
        )
        recorded = entry.get("status", "up")
        if node.is_running():
            node.status = NodeStatus.PAUSED if recorded == NodeStatus.PAUSED.value else NodeStatus.UP
        else:
            node.status = NodeStatus.STOPPED if recorded == NodeStatus.STOPPED.value else NodeStatus.DOWN
        node.on_started.append(self._node_started)
        return node

    def _attached(self) -> None:
        """Read what a lab found again with attach() needs from its servers (cluster node ids, ...)."""

    #: How often an attached lab's background thread runs `_attached_step` (subclasses may change it).
    _follow_interval_s: ClassVar[float] = FOLLOW_INTERVAL_S

    def _attached_step(self) -> None:
        """One tick of an attached lab's background thread: follow the record (subclasses add their work)."""
        self.follow_record()

    def _attached_background_started(self) -> None:
        """Called once the background thread of an attached lab runs (a subclass exposes it)."""

    # -- a lab shared with other processes -----------------------------------------------------------
    def follow_record(self) -> bool:
        """For a lab found with `labkit.attach()`: adopt what other processes changed in it (a node
        restarted, killed or paused, a replica promoted); False once it is gone (`labkit down`),
        and then this object says it is stopped. A lab started here: always True.

        Example::

            lab.follow_record()       # the background thread does this every 0.1 s
        """
        attachment = self._attachment
        if attachment is None:
            return self.lifecycle is Lifecycle.RUNNING
        if self.lifecycle is not Lifecycle.RUNNING:
            return False
        unchanged = attachment.unchanged()
        if unchanged is None:
            self._lab_went_down()
            return False
        if not unchanged:
            with self._roles_lock, attachment.lock:
                if not self._adopt_record_locked():
                    return False
        return True

    def _adopt_record_locked(self) -> bool:
        """Adopt the record's changes (the record lock is held); False if the lab is gone."""
        assert self._attachment is not None
        changes = self._attachment.changes()
        if changes is None:
            self._lab_went_down()
            return False
        if changes:
            self._adopt(changes)
        return True

    def _adopt(self, changes: RecordChanges) -> None:
        """Apply what another process changed: nodes added or removed, pids, statuses, roles, shards."""
        primaries_before = {node.shard: node for node in self.nodes if node.role is Role.PRIMARY}
        removed = [node for node in self.nodes if node.port in changes.removed]
        for node in removed:
            self.nodes.remove(node)
            node.is_running()  # reaps it if this process had started it
            node.status = NodeStatus.STOPPED
        if removed:
            self._nodes_discarded(removed)
        known = {node.port for node in self.nodes}
        added = [self._node_from_record(entry) for entry in changes.added if int(entry["port"]) not in known]
        self.nodes.extend(added)
        by_port = {node.port: node for node in self.nodes}
        for before, entry in changes.changed:
            node = by_port.get(int(entry["port"]))
            if node is None:
                continue
            if entry.get("pid") != before.get("pid") and entry.get("pid") != node.pid and not node.is_running():
                node.adopt(entry.get("pid"))  # restarted elsewhere (a live process of ours would win: one port, one server)
            if entry.get("status") != before.get("status") and entry.get("pid") == node.pid:
                self._adopt_status(node, entry.get("status", "up"))
            if entry.get("role") != before.get("role"):
                node.role = Role(entry["role"])
            if entry.get("shard") != before.get("shard"):
                node.shard = entry["shard"]
        if added:
            self._nodes_adopted(added)
        self._roles_adopted(primaries_before)

    @staticmethod
    def _adopt_status(node: Node, recorded: str) -> None:
        status = NodeStatus(recorded)
        if not node.is_running():
            node.status = NodeStatus.STOPPED if status is NodeStatus.STOPPED else NodeStatus.DOWN
        elif status in (NodeStatus.UP, NodeStatus.PAUSED):
            node.status = status
        elif status is NodeStatus.STARTING and node.status not in (NodeStatus.UP, NodeStatus.PAUSED):
            node.status = status

    def _nodes_adopted(self, nodes: list[Node]) -> None:
        """What a subclass learns about nodes another process added (a cluster: their node ids)."""

    def _roles_adopted(self, primaries_before: dict[int | None, Node]) -> None:
        """Called after adopting a record that may have changed roles (a replication group moves its endpoints)."""

    def _lab_went_down(self) -> None:
        """`labkit down` (another process) took this lab away: stop following it, quietly."""
        with self._roles_lock:
            if self.lifecycle is not Lifecycle.RUNNING or self._attachment is None:
                return
            self.lifecycle = Lifecycle.STOPPED  # first: views and callers see it at once
        attachment = self._attachment
        # Not waiting for the threads: one may be waiting for a lock this thread holds. They end after their step.
        self._stop_following(wait=False)
        with attachment.lock:
            pass  # `labkit down` holds it until every node is stopped
        for node in self.nodes:
            node.is_running()  # reaps the nodes this process restarted
            if node.status is not NodeStatus.DOWN:
                node.status = NodeStatus.STOPPED
        attachment.release()
        self.log_event("stopped", self.kind, "`labkit down` stopped this lab")

    def _stop_following(self, wait: bool = True) -> None:
        """Stop the background threads of an attached lab (from any thread, its own included)."""
        self._stop_background(wait)
        if self._follower is not None:
            self._follower.stop(wait)

    def stop(self) -> Self:
        """Stop every node and delete the lab's files; safe to call twice."""
        with self._lock:
            if self.lifecycle in (Lifecycle.STARTING, Lifecycle.RUNNING):
                self._teardown()
        return self

    def _teardown(self) -> None:
        self._stop_following()
        attachment = self._attachment
        # A lab `labkit up` started may be in use elsewhere: its record goes first (attached processes
        # stop following it at once) and its lock is held until every node is gone (they wait for that).
        with attachment.lock if attachment is not None else contextlib.nullcontext():
            if attachment is not None and self._record is not None:
                self._record.delete()
            for node in self.nodes:
                node.terminate()
            for node in self.nodes:
                node.wait_exit()
                if node.status is not NodeStatus.DOWN:
                    node.status = NodeStatus.STOPPED
                if node.pid is not None and not self.detached:
                    Watchdog.forget(node.pid)
            self._ports.release()
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                if not self.detached:
                    Watchdog.forget_directory(self.workdir)
            if self._record is not None:
                self._record.delete()
        if attachment is not None:
            attachment.release(remove_files=True)
            attachment.lock.close()
        with _live_labs_lock:
            _live_labs.discard(self)
        self.lifecycle = Lifecycle.STOPPED

    def __enter__(self) -> Self:
        if self.lifecycle is not Lifecycle.RUNNING:
            self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- building blocks for subclasses -------------------------------------------------------
    def _stop_background(self, wait: bool = True) -> None:
        """Stop monitor threads (failover monitor, role watcher) before the nodes go; `wait`: until they ended."""

    def _build(self, progress: Progress) -> None:
        raise NotImplementedError

    def _node_config(self, port: int, az: str | None) -> NodeConfig:
        assert self.workdir is not None
        return NodeConfig(
            port=port, datadir=self.workdir / str(port), az=az, cluster=self.kind == "cluster",
            node_timeout_ms=self.node_timeout_ms, settings=self.settings, tls=self.tls_files,
        )

    def _node_started(self, node: Node) -> None:
        # Each node's on_started hook: a fresh process lacks the lab's users and labkit's credentials.
        if self.access is not None:
            self.access.apply(node, fresh=True)

    # -- the surface actions work through (the Lab protocol) -------------------------------------
    def require_running(self) -> None:
        """Raise TopologyStateError unless the lab is running."""
        if self.lifecycle is Lifecycle.RUNNING and self._attachment is not None and not self._attachment.exists():
            self._lab_went_down()
        if self.lifecycle is not Lifecycle.RUNNING:
            if self._attachment is not None:
                raise TopologyStateError(
                    f"this {self.kind} was stopped by `labkit down`; start a new one with `labkit up` and `labkit.attach()` it again."
                )
            raise TopologyStateError(
                f"this {self.kind} is {self.lifecycle}; call start() (or use `with`) before using it."
            )

    def primaries(self) -> list[Node]:
        """The nodes that are primary now (labkit's record; `refresh()` re-reads it)."""
        return [node for node in self.nodes if node.role is Role.PRIMARY]

    def add_nodes(self, specs: list[NodeSpec]) -> list[Node]:
        """Reserve ports for new nodes, start them all at once and wait until each answers.

        Each node gets the lab's on_started hook (users and credentials come back after a restart).
        If one fails to start, all of them are stopped and dropped again before the error is raised.

        Example::

            [primary] = lab.add_nodes([NodeSpec("shard-3-primary", Role.PRIMARY, 3, "az-a")])
        """
        assert self.engine is not None and self.workdir is not None, "add_nodes() needs a started lab"
        ports = self._ports.add(len(specs))
        created = []
        for port, spec in zip(ports, specs):
            node = Node(config=self._node_config(port, spec.az), engine=self.engine, role=spec.role, shard=spec.shard, name=spec.name)
            node.on_started.append(self._node_started)
            created.append(node)
        self.nodes.extend(created)
        try:
            for node in created:
                node.launch()
                if not self.detached:
                    node.watch()
            self.save_record()
            deadline_each = self.start_timeout
            for node in created:
                node.wait_ready(deadline_each)
        except BaseException:
            if self.lifecycle is Lifecycle.RUNNING:  # during start() the teardown stops everything
                self.discard_nodes(created)
            raise
        return created

    def discard_nodes(self, nodes: list[Node]) -> None:
        """Stop nodes and drop them from the lab (ports released, files deleted).

        Example::

            lab.discard_nodes(lab.replicas())
        """
        for node in nodes:
            if node.is_running():
                node.stop()
            if node.pid is not None and not self.detached:
                Watchdog.forget(node.pid)
            node.status = NodeStatus.STOPPED
            if node in self.nodes:
                self.nodes.remove(node)
            self._ports.release(node.port)
            shutil.rmtree(node.datadir, ignore_errors=True)
        self._nodes_discarded(nodes)
        self.save_record()

    def _nodes_discarded(self, nodes: list[Node]) -> None:
        """What a subclass forgets about discarded nodes (a cluster: their node ids)."""

    def save_record(self) -> None:
        """Write the lab's record (nodes, pids, spec) so cleanup and `labkit.attach()` find it.
        For a lab shared with other processes, what they changed meanwhile is adopted first."""
        if self._record is None:
            return
        attachment = self._attachment
        if attachment is None:
            self._record.nodes = [node.as_record() for node in self.nodes]
            self._record.save()
            return
        with attachment.lock:
            if not self._adopt_record_locked():
                return  # gone: nothing to write to
            self._record.nodes = [node.as_record() for node in self.nodes]
            attachment.saved(self._record.save(), self._record.nodes)

    @contextlib.contextmanager
    def roles_frozen(self) -> Iterator[None]:
        """`with lab.roles_frozen():` no background thread changes roles inside (a reshard plans on them).

        For a lab `labkit up` started, no other process changes it either: what they changed is
        adopted on entry, and what changed inside is written to the lab's record on exit. Raises
        TopologyStateError if `labkit down` took the lab away.
        """
        with self._roles_lock:
            attachment = self._attachment
            if attachment is None:
                yield
                return
            with attachment.lock:
                if not self._adopt_record_locked():
                    self.require_running()  # raises: the lab is gone
                try:
                    yield
                finally:
                    if self.lifecycle is Lifecycle.RUNNING and attachment.exists():
                        self.save_record()

    def set_access(self, access: Access | None) -> None:
        """Remember what every node must have (labkit.acl's admin user and user group); nodes
        that start later (restart, a new shard, a scale-up copy) get it from their on_started hook."""
        self.access = access

    @property
    def admin_credentials(self) -> tuple[str, str] | None:
        """(user, password) labkit connects with once users are applied (labkit.acl), else None."""
        return self.access.admin if self.access is not None else None

    def connection_options(self) -> dict[str, Any]:
        """What every client of this lab needs besides an address: TLS options (a lab started with
        tls=True) and labkit's credentials (once users are applied). Endpoint clients use it.

        Example::

            redis.RedisCluster(host="127.0.0.1", port=port, **cluster.connection_options())
        """
        options: dict[str, Any] = dict(self.tls_files.client_options()) if self.tls_files is not None else {}
        admin = self.admin_credentials
        if admin is not None:
            options.update(username=admin[0], password=admin[1])
        return options

    @property
    def user_group(self) -> Any:
        """The labkit.acl.UserGroup applied to this lab, if any."""
        return self.access.group if self.access is not None else None

    # -- looking things up --------------------------------------------------------------------
    def node(self, which: Node | int | str) -> Node:
        """A node of this topology, by Node, port or name."""
        if isinstance(which, bool) or not isinstance(which, (Node, int, str)):
            raise UnknownNodeError(f"name a node by its Node object, port or name (got {which!r}); e.g. {self.kind}.nodes[0].")
        for node in self.nodes:
            if node is which or node.port == which or (isinstance(which, str) and node.name == which):
                return node
        known = ", ".join(f"{node.name} (port {node.port})" for node in self.nodes) or "none yet"
        if isinstance(which, Node):
            raise UnknownNodeError(
                f"{which.name or which.port} belongs to another lab, not to this {self.kind}. Its nodes are: {known}.",
                port=which.port, node=which.name,
            )
        raise UnknownNodeError(f"{which!r} is not a node of this {self.kind}. Its nodes are: {known}.")

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def client(self, node: Node | int | str | None = None, **kwargs: Any) -> redis.Redis:
        """A redis-py client: for the whole topology, or (given a node) for that node alone."""
        self.require_running()
        if node is not None:
            return self.node(node).client(**kwargs)
        return self._topology_client(**kwargs)

    def _topology_client(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def traffic_client(self, socket_timeout: float) -> Any:
        """A client for background traffic (labkit.Probe): fails fast and never retries, so every
        failure is seen. A replication group's goes through its primary endpoint."""
        return self.client(retry=Retry(NoBackoff(), 0), socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)

    def verification_client(self) -> Any:
        """A patient client to read back what background traffic wrote."""
        return self.client(socket_timeout=5.0)

    def refresh(self) -> Self:
        """Re-read each live node's role from the server (after failovers, say)."""
        for node in self.nodes:
            if node.status is NodeStatus.UP:
                try:
                    role = node.client(socket_timeout=1.0).execute_command("ROLE")[0]
                except redis.RedisError:
                    continue
                node.role = Role.PRIMARY if role in ("master", b"master") else Role.REPLICA
        return self

    def state(self) -> TopologyState:
        """A snapshot read from the servers now: roles, status, offsets, lag, slots, keys, memory.

        Example: ``print(cluster.state())`` (a table without ports or timings).
        """
        return read_state(self)

    def placement_problems(self) -> list[str]:
        """How the lab's current layout breaks ElastiCache's AZ rules (an empty list: it follows them).
        Roles change with failovers, so a healthy lab can drift out of the rules.

        Example::

            cluster.fail_az("az-a"); cluster.restore_az("az-a")
            cluster.placement_problems()   # ['primaries are not spread across the AZs: ...']
        """
        shards = sorted({node.shard for node in self.nodes if node.shard is not None}) or [None]
        layout = []
        for shard in shards:
            members = [node for node in self.nodes if node.shard == shard]
            primary = next((node.az for node in members if node.role is Role.PRIMARY), None)
            layout.append((primary, [node.az for node in members if node.role is Role.REPLICA]))
        return placement_problems(layout, self.azs)

    def snapshot(self, progress: Progress | None = None) -> Snapshot:
        """A backup of this running topology, the ElastiCache way: one RDB file per shard, written by
        BGSAVE on an up-to-date replica (the primary when there is none). Start a new lab from it
        with `from_snapshot=`; `snapshot.delete()` (or `with snapshot:`) deletes its files.

        Example::

            snapshot = cluster.snapshot()
            restored = labkit.Cluster(shards=2, replicas=1, from_snapshot=snapshot).start()
        """
        return take_snapshot(self, progress)

    def scale_up(self, config: Mapping[str, Any] | None = None, progress: Progress | None = None, **options: Any) -> Topology:
        """Vertical scaling: a new, running topology of the same shape with `config` merged in
        (e.g. more maxmemory), holding a verified copy of every key and TTL. Cut over, then stop this one.

        Example::

            bigger = cluster.scale_up(config={"maxmemory": "128mb"})
            cluster.stop()
        """
        return scale_up(self, config, progress, **options)

    def table(self) -> str:
        """A plain-text table of the nodes: name, port, role, shard, AZ, status."""
        rows = [("node", "port", "role", "shard", "az", "status")]
        for node in self.nodes:
            rows.append((node.name, str(node.port), str(node.role), "-" if node.shard is None else str(node.shard), node.az or "-", str(node.status)))
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)

    def __repr__(self) -> str:
        engine = f" {self.engine.display_name}" if self.engine else ""
        return f"<{type(self).__name__} {self.lifecycle}{engine} nodes={len(self.nodes)}>"

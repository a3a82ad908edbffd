"""What every topology shares: lifecycle, node bookkeeping, cleanup and clients."""

from __future__ import annotations

import atexit
import enum
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Self

import redis

from ..engine import Engine, find_engine
from ..errors import ConfigurationError, TopologyStateError, UnknownNodeError
from ..faults import FaultEvent, FaultInjection
from ..node import Node, NodeConfig, NodeStatus, Role
from ..ports import PortReservation
from ..reaper import LabRecord, Watchdog, sweep_orphans
from ..tls import TlsFiles, make_certificates
from .placement import DEFAULT_AZS, validate_azs

Progress = Callable[[str], None]


class Lifecycle(str, enum.Enum):
    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value


_live_labs: set[Topology] = set()
_live_labs_lock = threading.Lock()


def stop_all() -> int:
    """Stop every lab this Python process started, and any probe still sending traffic
    (the last cell of a notebook can call this)."""
    from ..probe import stop_all_probes

    stop_all_probes()
    with _live_labs_lock:
        labs = list(_live_labs)
    for lab in labs:
        lab.stop()
    return len(labs)


atexit.register(stop_all)


def _settings(config: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    if config is None:
        return ()
    if not isinstance(config, Mapping):
        raise ConfigurationError(f"config must be a mapping of server settings such as {{'maxmemory': '64mb'}}; got {config!r}.")
    settings = []
    for name, value in config.items():
        if not isinstance(name, str) or not name or name.startswith("-") or any(ch.isspace() for ch in name):
            raise ConfigurationError(f"{name!r} is not a server setting name; use names like 'maxmemory' or 'maxmemory-policy'.")
        if name in ("port", "bind", "dir", "daemonize", "protected-mode", "cluster-enabled", "replicaof", "slaveof"):
            raise ConfigurationError(f"labkit sets {name!r} itself for every node; remove it from config.")
        settings.append((name, "" if value is None else str(value)))
    return tuple(settings)


class Topology(FaultInjection):
    """Base class of Standalone, ReplicationGroup and Cluster (not used directly)."""

    kind = "topology"

    def __init__(
        self,
        *,
        azs: Iterable[str] | str = DEFAULT_AZS,
        server: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        node_timeout_ms: int = 1000,
        start_timeout: float = 30.0,
        tls: bool = False,
    ) -> None:
        self.azs = validate_azs(azs)
        if not isinstance(node_timeout_ms, int) or node_timeout_ms < 100:
            raise ConfigurationError(f"node_timeout_ms must be a whole number of milliseconds >= 100 (got {node_timeout_ms!r}); labs use 1000.")
        self.server = server
        self.settings = _settings(config)
        self.tls = bool(tls)
        self.tls_files: TlsFiles | None = None
        self.admin_credentials: tuple[str, str] | None = None  # set by labkit.acl when users are applied
        self.user_group = None
        self.node_timeout_ms = node_timeout_ms
        self.start_timeout = start_timeout
        self.lifecycle = Lifecycle.CREATED
        self.nodes: list[Node] = []
        self.engine: Engine | None = None
        self.workdir: Path | None = None
        self.lab_id = f"{self.kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.detached = False
        self._ports = PortReservation()
        self._record: LabRecord | None = None
        self._lock = threading.RLock()
        self.fault_log: list[FaultEvent] = []

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
                    detached=self.detached, engine_path=str(self.engine.path), settings=self._record_settings(),
                )
                if not self.detached:
                    Watchdog.watch_directory(self.workdir)
                    with _live_labs_lock:
                        _live_labs.add(self)
                self._build(report)
                self.lifecycle = Lifecycle.RUNNING
                self._save_record()
            except BaseException:
                # A start that fails halfway (an error, Ctrl-C, a kernel interrupt) stops what it started.
                self._teardown()
                raise
        return self

    def stop(self) -> Self:
        """Stop every node and delete the lab's files; safe to call twice."""
        with self._lock:
            if self.lifecycle in (Lifecycle.STARTING, Lifecycle.RUNNING):
                self._teardown()
        return self

    def _teardown(self) -> None:
        self._stop_background()
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
    def _stop_background(self) -> None:
        """Stop monitor threads (failover monitor, role watcher) before the nodes go."""

    def _build(self, progress: Progress) -> None:
        raise NotImplementedError

    def _record_settings(self) -> dict:
        return {"azs": list(self.azs), "node_timeout_ms": self.node_timeout_ms}

    def _new_nodes(self, specs: list[tuple[str, Role, int | None, str, dict]]) -> list[Node]:
        """Reserve ports and create Node objects: (name, role, shard, az, extra NodeConfig fields)."""
        assert self.engine is not None and self.workdir is not None
        ports = self._ports.add(len(specs))
        created = []
        for port, (name, role, shard, az, extra) in zip(ports, specs):
            config = NodeConfig(
                port=port, datadir=self.workdir / str(port), az=az, node_timeout_ms=self.node_timeout_ms,
                settings=self.settings, tls=self.tls_files, **extra,
            )
            created.append(Node(config=config, engine=self.engine, role=role, shard=shard, name=name))
        self.nodes.extend(created)
        return created

    def _launch(self, nodes: list[Node]) -> None:
        """Launch all processes at once, then wait for each: start-up runs in parallel."""
        for node in nodes:
            node.launch()
            if not self.detached:
                node.watch()
        self._save_record()
        deadline = time.monotonic() + self.start_timeout
        for node in nodes:
            node.wait_ready(max(0.5, deadline - time.monotonic()))

    def _save_record(self) -> None:
        if self._record is not None:
            self._record.nodes = [node.as_record() for node in self.nodes]
            self._record.save()

    # -- looking things up --------------------------------------------------------------------
    def _require_running(self) -> None:
        if self.lifecycle is not Lifecycle.RUNNING:
            raise TopologyStateError(
                f"this {self.kind} is {self.lifecycle}; call start() (or use `with`) before using it."
            )

    def node(self, which: Node | int | str) -> Node:
        """A node of this topology, by Node, port or name."""
        for node in self.nodes:
            if node is which or node.port == which or (isinstance(which, str) and node.name == which):
                return node
        known = ", ".join(f"{node.name} (port {node.port})" for node in self.nodes) or "none yet"
        raise UnknownNodeError(f"{which!r} is not a node of this {self.kind}. Its nodes are: {known}.")

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def client(self, node: Node | int | str | None = None, **kwargs: Any) -> redis.Redis:
        """A redis-py client: for the whole topology, or (given a node) for that node alone."""
        self._require_running()
        if node is not None:
            return self.node(node).client(**kwargs)
        return self._topology_client(**kwargs)

    def _topology_client(self, **kwargs: Any) -> Any:
        raise NotImplementedError

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

    def state(self):
        """A snapshot read from the servers now: roles, status, offsets, lag, slots, keys, memory.

        Example: ``print(cluster.state())`` (a table without ports or timings).
        """
        from ..state import snapshot

        return snapshot(self)

    def placement_problems(self) -> list[str]:
        """How the lab's current layout breaks ElastiCache's AZ rules (an empty list: it follows them).
        Roles change with failovers, so a healthy lab can drift out of the rules.

        Example::

            cluster.fail_az("az-a"); cluster.restore_az("az-a")
            cluster.placement_problems()   # ['primaries are not spread across the AZs: ...']
        """
        from .placement import placement_problems

        shards = sorted({node.shard for node in self.nodes if node.shard is not None}) or [None]
        layout = []
        for shard in shards:
            members = [node for node in self.nodes if node.shard == shard]
            primary = next((node.az for node in members if node.role is Role.PRIMARY), None)
            layout.append((primary, [node.az for node in members if node.role is Role.REPLICA]))
        return placement_problems(layout, self.azs)

    def scale_up(self, config: Mapping[str, Any] | None = None, progress: Progress | None = None, **options: Any) -> Topology:
        """Vertical scaling: a new, running topology of the same shape with `config` merged in
        (e.g. more maxmemory), holding a verified copy of every key and TTL. Cut over, then stop this one.

        Example::

            bigger = cluster.scale_up(config={"maxmemory": "128mb"})
            cluster.stop()
        """
        from ..scaling import scale_up

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

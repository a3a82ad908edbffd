"""Backups the ElastiCache way: a snapshot of a running topology, restored into a new one.

Taking a snapshot (`topology.snapshot()`): for each shard, a replica whose link is up runs BGSAVE
once it has applied everything its primary had when the snapshot was asked for (no replica that
can: the primary itself), and the RDB file it writes is moved into a directory labkit owns
(`<run dir>/snapshots/<name>/shard-N.rdb`). Restoring (`from_snapshot=` of `ReplicationGroup`,
`Cluster` or `Standalone`): the new topology starts empty, a temporary server loads each RDB file,
and its keys are copied in with DUMP/PTTL and RESTORE; a cluster's keys go to the shard of their
slot, so a snapshot of 3 shards restores into 2 (or 5).

A snapshot outlives the lab it was taken from, not the Python process that took it: it is deleted
by `snapshot.delete()`, at the end of a `with snapshot:` block, or when the process exits.

Example::

    with labkit.Cluster(shards=3, replicas=1) as cluster:
        cluster.client().set("user:1", "Ada")
        snapshot = cluster.snapshot()
    with snapshot, labkit.Cluster(shards=2, replicas=1, from_snapshot=snapshot) as restored:
        restored.client().get("user:1")      # 'Ada'
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import redis

from ._polling import wait_until
from ._wire import replication_offset
from .errors import ConfigurationError, NodeStartError, SnapshotError
from .keycopy import dumped_batches, restore_batch
from .node import Node, NodeConfig, NodeStatus, Role
from .ports import PortReservation
from .reaper import Watchdog, pid_alive
from .rundir import run_directory

if TYPE_CHECKING:  # only for type hints: topologies import this module, not the other way round
    from .topology.base import Topology

Progress = Callable[[str], None]

#: How long a BGSAVE may take before the snapshot is given up.
BGSAVE_TIMEOUT_S = 120.0
#: How long a replica may take to apply what its primary had when the snapshot was asked for.
CATCH_UP_TIMEOUT_S = 10.0

#: "1234:M 03 Dec 2026 06:09:54.270 # " before each line of a server's log.
_LOG_PREFIX = re.compile(r"^\d+:\w \d+ \w+ \d+ [\d:.]+ [#*.-] ")

_owned: set[Path] = set()
_owned_lock = threading.Lock()


def snapshots_directory() -> Path:
    """Where labkit keeps snapshots: `<run dir>/snapshots` (see labkit.rundir)."""
    path = run_directory() / "snapshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Snapshot:
    """A backup of a running topology: one RDB file per shard, in a directory labkit owns.

    `kind` is the topology it was taken from ("standalone", "replication" or "cluster"),
    `keys` how many keys its files hold, `sources` the node each file was written by.

    Example::

        snapshot = group.snapshot()
        print(snapshot)           # replication snapshot: 1 shard, 1,000 keys, taken from replica-1
        copy = labkit.ReplicationGroup(replicas=1, from_snapshot=snapshot).start()
        snapshot.delete()
    """

    name: str
    kind: str
    shards: int
    keys: int
    created_at: datetime
    files: tuple[Path, ...]
    sources: tuple[str, ...]
    engine: str

    @property
    def directory(self) -> Path:
        """The directory that holds the snapshot's files."""
        return self.files[0].parent

    @property
    def exists(self) -> bool:
        """Whether every file of the snapshot is still there (False once deleted)."""
        return all(path.is_file() for path in self.files)

    def delete(self) -> None:
        """Delete the snapshot's files (safe to call twice)."""
        _discard(self.directory)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.delete()

    def check_restorable(self, kind: str) -> None:
        """Raise unless this snapshot can seed a new lab of `kind` (the lab's spec calls this).

        Example::

            cluster_snapshot.check_restorable("replication")   # ConfigurationError
        """
        if self.kind == "cluster" and kind != "cluster":
            raise ConfigurationError(
                f"snapshot {self.name} was taken from a cluster, and a cluster snapshot restores into a Cluster only "
                "(with any number of shards), as on ElastiCache, where a cluster-mode-enabled backup cannot seed a "
                "cluster-mode-disabled one; use labkit.Cluster(..., from_snapshot=snapshot)."
            )
        missing = [path.name for path in self.files if not path.is_file()]
        if missing:
            raise SnapshotError(
                f"snapshot {self.name} has lost {', '.join(missing)} (deleted, or its process exited), so it cannot be "
                "restored; take a new one with topology.snapshot()."
            )

    def __str__(self) -> str:
        shards = f"{self.shards} shard{'s' if self.shards != 1 else ''}"
        return f"{self.kind} snapshot: {shards}, {self.keys:,} keys, taken from {', '.join(self.sources)}"


# -- taking a snapshot -------------------------------------------------------------------------------
def take_snapshot(lab: Topology, progress: Progress | None = None, timeout: float = BGSAVE_TIMEOUT_S) -> Snapshot:
    """Snapshot every shard of a running lab (see the module's docstring); returns the Snapshot."""
    lab.require_running()
    report = progress or (lambda _message: None)
    _sweep_abandoned()
    created_at = datetime.now(timezone.utc)
    name = f"{lab.kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    directory = snapshots_directory() / name
    directory.mkdir()
    with _owned_lock:
        _owned.add(directory)
    Watchdog.watch_directory(directory)  # a kernel that dies takes its snapshots with it
    files, sources, keys = [], [], 0
    try:
        for index, primary in enumerate(sorted(lab.primaries(), key=lambda node: node.shard or 0)):
            source = _choose_source(lab, primary)
            report(f"BGSAVE on {source.name} ({source.role})")
            written, held = _bgsave(source, timeout)
            path = directory / f"shard-{index}.rdb"
            # Moved, not copied: labkit's nodes run without persistence, and a dump.rdb left behind
            # would be loaded if that node restarted.
            shutil.move(written, path)
            files.append(path)
            sources.append(source.name)
            keys += held
    except BaseException:
        _discard(directory)
        raise
    assert lab.engine is not None
    snapshot = Snapshot(name, lab.kind, len(files), keys, created_at, tuple(files), tuple(sources), lab.engine.display_name)
    lab.log_event("snapshot", lab.kind, f"{snapshot.name}: {len(files)} shard(s), {keys} keys, from {', '.join(sources)}")
    return snapshot


def _choose_source(lab: Topology, primary: Node) -> Node:
    """A replica of `primary`'s shard that has applied everything the primary had now, else the primary
    (ElastiCache takes backups from a replica, so that the primary's memory and latency are spared)."""
    replicas = [node for node in lab.nodes if node.role is Role.REPLICA and node.shard == primary.shard and node.status is NodeStatus.UP]
    offsets = {node: _offset(node) for node in replicas}
    if primary.status is not NodeStatus.UP:
        if not replicas:
            raise SnapshotError(f"no node of {primary.name}'s shard is up to take a snapshot from; restart one first.",
                                node=primary.name, shard=primary.shard)
        return max(replicas, key=lambda node: offsets[node][0])
    with primary.client(socket_timeout=5.0) as client:
        wanted = int(client.info("replication")["master_repl_offset"])
    for replica in sorted(replicas, key=lambda node: -offsets[node][0]):
        if offsets[replica][1] and wait_until(lambda: _caught_up(replica, wanted), CATCH_UP_TIMEOUT_S):
            return replica
    return primary


def _caught_up(replica: Node, wanted: int) -> bool:
    offset, link_up = _offset(replica)
    return link_up and offset >= wanted


def _offset(node: Node) -> tuple[int, bool]:
    """(replication offset applied, link up?) of a replica; (-1, False) when it does not answer."""
    try:
        with node.client(socket_timeout=2.0) as client:
            return replication_offset(client.info("replication"))
    except redis.RedisError:
        return -1, False


def _bgsave(node: Node, timeout: float) -> tuple[Path, int]:
    """BGSAVE on `node` and wait until it is written; returns (the RDB file, keys it holds)."""
    with node.client(socket_timeout=10.0) as client:
        deadline = time.monotonic() + timeout
        while True:
            saves = int(client.info("persistence").get("rdb_saves", 0))
            # One round trip: the keys are counted right after the fork, before any other command runs.
            pipe = client.pipeline(transaction=False)
            pipe.execute_command("BGSAVE")
            pipe.info("keyspace")
            started, keyspace = pipe.execute(raise_on_error=False)
            if not isinstance(started, redis.ResponseError):
                break
            if "in progress" not in str(started) and "child process" not in str(started):
                raise SnapshotError(f"BGSAVE on {node.name} was refused: {started}.", port=node.port, node=node.name)
            # Someone else's save or AOF rewrite is running: a snapshot needs a save of its own, started now.
            if time.monotonic() > deadline or not wait_until(lambda: not _child_running(client), deadline - time.monotonic()):
                raise SnapshotError(f"{node.name} was busy with another save for {timeout:.0f} s; try again later.",
                                    port=node.port, node=node.name)
        wait_until(lambda: not int(client.info("persistence")["rdb_bgsave_in_progress"]), max(deadline - time.monotonic(), 1.0),
                   on_timeout=lambda last: SnapshotError(
                       f"BGSAVE on {node.name} did not finish within {timeout:.0f} s{last}; a larger dataset needs longer.",
                       port=node.port, node=node.name))
        info = client.info("persistence")
        if info.get("rdb_last_bgsave_status") != "ok" or int(info.get("rdb_saves", saves + 1)) <= saves:
            raise SnapshotError(f"BGSAVE on {node.name} failed; its log says:\n{node.log_tail(5)}", port=node.port, node=node.name)
        written = Path(client.config_get("dir")["dir"]) / client.config_get("dbfilename")["dbfilename"]
    return written, sum(int(database.get("keys", 0)) for database in keyspace.values())


def _child_running(client: redis.Redis) -> bool:
    info = client.info("persistence")
    return bool(int(info.get("rdb_bgsave_in_progress", 0)) or int(info.get("aof_rewrite_in_progress", 0)))


def _sweep_abandoned() -> None:
    """Delete snapshots of processes that are gone (a kernel killed together with its watchdog)."""
    for path in snapshots_directory().iterdir():
        try:
            owner = int(path.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if owner != os.getpid() and not pid_alive(owner):
            shutil.rmtree(path, ignore_errors=True)


def _discard(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    with _owned_lock:
        _owned.discard(directory)
    Watchdog.forget_directory(directory)


@atexit.register
def _delete_owned() -> None:
    with _owned_lock:
        owned = list(_owned)
        _owned.clear()
    for path in owned:
        shutil.rmtree(path, ignore_errors=True)


# -- restoring one --------------------------------------------------------------------------------
def restore_snapshot(snapshot: Snapshot, lab: Topology, progress: Progress | None = None) -> int:
    """Copy every key of `snapshot` into `lab` (running, empty), then wait for its replicas;
    returns how many keys were restored. `Topology.start()` calls this for `from_snapshot=`."""
    snapshot.check_restorable(lab.kind)
    report = progress or (lambda _message: None)
    restored = with_ttl = 0
    for index, path in enumerate(snapshot.files):
        report(f"loading {path.name} of {snapshot.name} into a temporary server")
        with _loaded(path, index, snapshot, lab) as loader:
            databases = _databases(loader)
            if lab.kind == "cluster" and set(databases) - {0}:
                raise SnapshotError(
                    f"{path.name} of snapshot {snapshot.name} holds keys in database(s) {sorted(set(databases) - {0})}, and a "
                    "cluster has database 0 only (ElastiCache refuses such a restore too); restore it into a ReplicationGroup."
                )
            for database in databases:
                options = {} if lab.kind == "cluster" else {"db": database}
                writer = lab.client(decode_responses=False, **options)
                try:
                    for keys, replies in dumped_batches(loader, database):
                        done, expiring = restore_batch(writer, keys, replies)
                        restored += done
                        with_ttl += expiring
                finally:
                    writer.close()
        report(f"restored the keys of {path.name}")
    _wait_for_replicas(lab)
    found = sum(sum(_databases(primary).values()) for primary in lab.primaries())
    if not restored - with_ttl <= found <= restored:  # keys restored with a TTL may have expired since
        raise SnapshotError(f"the new {lab.kind} holds {found} keys but {restored} were restored from {snapshot.name}; start it again.")
    lab.log_event("restore", lab.kind, f"{restored} keys ({with_ttl} with a TTL) from {snapshot.name} ({snapshot.kind}, {snapshot.shards} shard(s))")
    return restored


@contextlib.contextmanager
def _loaded(path: Path, index: int, snapshot: Snapshot, lab: Topology) -> Iterator[Node]:
    """A temporary server (the lab's engine, no persistence, no cluster) that has loaded `path`;
    stopped and its files deleted on exit, whatever happens."""
    assert lab.engine is not None and lab.workdir is not None, "restoring needs a started lab"
    with contextlib.ExitStack() as stack:
        try:
            node = stack.enter_context(rdb_server(path, lab.engine, lab.workdir, lab.start_timeout, f"restore-{index}"))
        except NodeStartError as error:
            assert lab.engine is not None
            reason = "; ".join(_LOG_PREFIX.sub("", line) for line in error.log_tail.strip().splitlines()[-2:]) or "no log"
            raise SnapshotError(
                f"{lab.engine.display_name} could not load {path.name} of snapshot {snapshot.name}, taken with {snapshot.engine} "
                f"(its log: {reason}). A snapshot restores into an engine that reads its RDB format (the same engine and "
                f"version, or a newer one): start the new lab with server= pointing at {snapshot.engine} or later.",
            ) from error
        yield node


@contextlib.contextmanager
def rdb_server(path: Path, engine: Any, workdir: Path, timeout: float, name: str = "rdb-loader") -> Iterator[Node]:
    """A temporary server of `engine` (no persistence, no cluster) that has loaded the RDB file `path`;
    stopped and its files deleted on exit, whatever happens. Read its keys with keycopy.dumped_batches().
    Raises NodeStartError when the engine cannot load the file.

    Example::

        with rdb_server(path, lab.engine, lab.workdir, 30.0) as loader:
            for keys, replies in dumped_batches(loader): ...
    """
    ports = PortReservation()
    datadir = workdir / f"{name}-{uuid.uuid4().hex[:6]}"
    node: Node | None = None
    try:
        datadir.mkdir(parents=True)
        try:
            os.link(path, datadir / "dump.rdb")  # the server only reads it: no need to copy
        except OSError:
            shutil.copyfile(path, datadir / "dump.rdb")
        node = Node(NodeConfig(port=ports.add(1)[0], datadir=datadir), engine=engine, name=name)
        node.launch()
        node.watch()  # even for a lab of `labkit up`: this server must not outlive this process
        node.wait_ready(timeout)
        yield node
    finally:
        if node is not None:
            node.stop()
            if node.pid is not None:
                Watchdog.forget(node.pid)
        ports.release()
        shutil.rmtree(datadir, ignore_errors=True)


def _databases(node: Node) -> dict[int, int]:
    """Database number -> keys, for the databases of `node` that hold any (INFO keyspace)."""
    with node.client(socket_timeout=10.0) as client:
        keyspace = client.info("keyspace")
    return {int(name[2:]): int(database.get("keys", 0)) for name, database in sorted(keyspace.items()) if int(database.get("keys", 0))}


def _wait_for_replicas(lab: Topology) -> None:
    """Until every replica that is up has applied the restored keys (WAIT on each primary)."""
    for primary in lab.primaries():
        replicas = [node for node in lab.nodes if node.role is Role.REPLICA and node.shard == primary.shard and node.status is NodeStatus.UP]
        if not replicas:
            continue
        with primary.client(socket_timeout=lab.start_timeout + 5) as client:
            acknowledged = client.execute_command("WAIT", len(replicas), int(lab.start_timeout * 1000))
        if acknowledged < len(replicas):
            raise SnapshotError(
                f"only {acknowledged} of {len(replicas)} replicas of {primary.name} received the restored keys within "
                f"{lab.start_timeout:.0f} s; the machine may be overloaded: stop other labs and try again.",
                node=primary.name, shard=primary.shard,
            )

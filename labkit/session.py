"""The lab started by `labkit up` in a terminal, found again by `status`, `down` and notebooks.

Example::

    lab = labkit.attach()        # the lab `labkit up` started
    lab.client().set("k", "v")
"""

from __future__ import annotations

from pathlib import Path

from .engine import inspect_binary
from .errors import NoLabError
from .node import Node, NodeConfig, NodeStatus, Role
from .reaper import LabRecord, all_records
from .topology import Cluster, ReplicationGroup, Standalone, Topology
from .topology.base import Lifecycle, _live_labs, _live_labs_lock

KINDS: dict[str, type[Topology]] = {"standalone": Standalone, "replication": ReplicationGroup, "cluster": Cluster}


def detached_record() -> LabRecord | None:
    """The record of the running `labkit up` lab, if any (stale records are swept first)."""
    from .reaper import sweep_orphans

    sweep_orphans()
    records = [record for record in all_records() if record.detached]
    return records[-1] if records else None


def attach() -> Topology:
    """The lab that `labkit up` started, as a topology object (its `stop()` is `labkit down`)."""
    record = detached_record()
    if record is None:
        raise NoLabError("No lab started by `labkit up` is running. Start one with `labkit up --mode cluster` in a terminal.")
    settings = dict(record.settings)
    node_timeout_ms = settings.pop("node_timeout_ms", 1000)
    azs = settings.pop("azs", ["az-a"])
    cls = KINDS[record.kind]
    if cls is Standalone:
        topology: Topology = Standalone(az=azs[0], node_timeout_ms=node_timeout_ms)
    else:
        topology = cls(azs=azs, node_timeout_ms=node_timeout_ms, **settings)
    engine = inspect_binary(Path(record.engine_path), source="labkit up")
    topology.engine = engine
    topology.workdir = Path(record.workdir)
    topology.detached = True
    topology.lab_id = record.lab_id
    topology._record = record
    for entry in record.nodes:
        config = NodeConfig(
            port=entry["port"], datadir=topology.workdir / str(entry["port"]), az=entry["az"],
            cluster=record.kind == "cluster", node_timeout_ms=node_timeout_ms,
        )
        node = Node(config=config, engine=engine, role=Role(entry["role"]), shard=entry["shard"], name=entry["name"], pid=entry["pid"])
        node.status = NodeStatus.UP if node.is_running() else NodeStatus.DOWN
        topology.nodes.append(node)
    topology.lifecycle = Lifecycle.RUNNING
    if isinstance(topology, Cluster):
        for node in topology.nodes:
            if node.status is NodeStatus.UP:
                topology.node_ids[node.port] = node.client().execute_command("CLUSTER", "MYID")
    with _live_labs_lock:
        # Attached labs are not stopped at exit: they belong to the terminal that ran `labkit up`.
        _live_labs.discard(topology)
    return topology

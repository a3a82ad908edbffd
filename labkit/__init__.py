"""labkit: real Redis/Valkey topologies for the course, started, broken and drawn from a notebook.

Example::

    import labkit
    with labkit.Cluster(shards=3, replicas=2) as cluster:
        cluster.client().set("user:1", "Ada")
        print(cluster.table())
"""

from .backup import Snapshot
from .connect import connect
from .doctor import doctor
from .endpoints import ConfigurationEndpoint, Endpoint, PrimaryEndpoint, ReaderEndpoint
from .engine import Engine, find_engine
from .errors import (
    ClusterNotReadyError,
    ConfigurationError,
    EngineError,
    FailoverError,
    LabkitError,
    NodeStartError,
    NoLabError,
    PortsExhaustedError,
    ProbeError,
    ScalingError,
    SnapshotError,
    TopologyStateError,
    UnknownNodeError,
)
from .exercises.progress import progress
from .failover import ReplicaLag, ReplicaOffset
from .global_datastore import GlobalDatastore, RegionLag
from .faults import AzFailureReport, FaultEvent
from .link import Link, LinkStats
from .node import Node, NodeStatus, Role
from .probe import Operation, Probe, ProbeResult, Window
from .session import attach
from .topology import Cluster, LabSpec, Lifecycle, ReplicationGroup, Standalone, max_shards, placement_problems, stop_all


def __getattr__(name: str):
    # labkit.viz (plotly) and labkit.state load on first use, so `import labkit` stays quick.
    if name in ("state", "viz"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "AzFailureReport",
    "Cluster",
    "ClusterNotReadyError",
    "ConfigurationEndpoint",
    "ConfigurationError",
    "Endpoint",
    "Engine",
    "EngineError",
    "FailoverError",
    "FaultEvent",
    "GlobalDatastore",
    "LabSpec",
    "LabkitError",
    "Lifecycle",
    "Link",
    "LinkStats",
    "NoLabError",
    "Node",
    "NodeStartError",
    "NodeStatus",
    "Operation",
    "PortsExhaustedError",
    "PrimaryEndpoint",
    "Probe",
    "ProbeError",
    "ProbeResult",
    "ReaderEndpoint",
    "RegionLag",
    "ReplicaLag",
    "ReplicaOffset",
    "ReplicationGroup",
    "Role",
    "ScalingError",
    "Snapshot",
    "SnapshotError",
    "Standalone",
    "TopologyStateError",
    "UnknownNodeError",
    "Window",
    "attach",
    "connect",
    "doctor",
    "find_engine",
    "max_shards",
    "placement_problems",
    "progress",
    "state",
    "stop_all",
    "viz",
]

"""labkit: real Redis/Valkey topologies for the course, started, broken and drawn from a notebook.

Example::

    import labkit
    with labkit.Cluster(shards=3, replicas=2) as cluster:
        cluster.client().set("user:1", "Ada")
        print(cluster.table())
"""

from .connect import connect
from .doctor import doctor
from .endpoints import Endpoint, PrimaryEndpoint, ReaderEndpoint
from .engine import Engine, find_engine
from .errors import (
    ClusterNotReadyError,
    ConfigurationError,
    EngineError,
    LabkitError,
    NodeStartError,
    NoLabError,
    PortsExhaustedError,
    TopologyStateError,
    UnknownNodeError,
)
from .exercises.progress import progress
from .failover import FailoverError, ReplicaLag, ReplicaOffset
from .faults import AzFailureReport, FaultEvent
from .link import Link, LinkStats
from .node import Node, NodeStatus, Role
from .probe import Operation, Probe, ProbeError, ProbeResult, Window
from .scaling import ScalingError
from .session import attach
from .topology import Cluster, Lifecycle, ReplicationGroup, Standalone, max_shards, placement_problems, stop_all


def __getattr__(name: str):
    # labkit.viz (plotly) and labkit.state load on first use, so `import labkit` stays quick.
    if name in ("state", "viz"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "Window",
    "ScalingError",
    "ReplicaLag",
    "ReplicaOffset",
    "ReaderEndpoint",
    "ProbeResult",
    "ProbeError",
    "Probe",
    "PrimaryEndpoint",
    "Operation",
    "FaultEvent",
    "FailoverError",
    "Endpoint",
    "AzFailureReport",
    "Cluster",
    "ClusterNotReadyError",
    "ConfigurationError",
    "Engine",
    "EngineError",
    "LabkitError",
    "Lifecycle",
    "Link",
    "LinkStats",
    "Node",
    "NodeStartError",
    "NodeStatus",
    "NoLabError",
    "PortsExhaustedError",
    "ReplicationGroup",
    "Role",
    "Standalone",
    "TopologyStateError",
    "UnknownNodeError",
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

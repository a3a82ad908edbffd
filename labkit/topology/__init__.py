"""The three kinds of lab: Standalone, ReplicationGroup (cluster mode disabled) and Cluster."""

from .base import Lifecycle, NodeSpec, Topology, stop_all
from .cluster import Cluster, max_shards, slot_ranges
from .placement import DEFAULT_AZS, ShardPlacement, place, placement_problems, validate_azs
from .replication import ReplicationGroup
from .spec import LabSpec
from .standalone import Standalone

__all__ = [
    "DEFAULT_AZS", "Cluster", "LabSpec", "Lifecycle", "NodeSpec", "ReplicationGroup", "ShardPlacement", "Standalone",
    "Topology", "max_shards", "place", "placement_problems", "slot_ranges", "stop_all", "validate_azs",
]

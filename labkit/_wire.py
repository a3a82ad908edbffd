"""The server replies labkit reads, parsed in one place: INFO, CLUSTER NODES, CLUSTER SLOTS, replica lag.

Each parser takes a reply as redis-py returns it (text, bytes, or the dict redis-py makes of
INFO) and returns plain Python values; tests/test_wire.py feeds them captured replies.

Example::

    parse_cluster_nodes(client.execute_command("CLUSTER", "NODES"))[7001]["master"]   # True
    replication_offset(client.info("replication"))                                      # (1234, True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The hash slots of a cluster, numbered 0 to 16,383.
SLOT_COUNT = 16384

_INFO_LINE = re.compile(
    r"^(connected_clients|used_memory|instantaneous_ops_per_sec|total_commands_processed|role|master_repl_offset"
    r"|slave_repl_offset|master_port|master_link_status|slave\d+|db\d+):([^\r\n]*)",
    re.MULTILINE,
)
_REPLICA_FIELD = re.compile(r"slave\d+")


def text(value: object) -> str:
    """A reply as str (bytes are decoded)."""
    return value.decode() if isinstance(value, bytes) else str(value)


# -- INFO ------------------------------------------------------------------------------------------
def parse_info(reply: object) -> dict[str, str]:
    """The INFO fields snapshots use (plus slaveN and dbN lines), as strings, from raw INFO text."""
    return dict(_INFO_LINE.findall(text(reply)))


def info_fields(value: str | Mapping[str, Any]) -> dict[str, str]:
    """'ip=127.0.0.1,port=7001,offset=14' -> {'ip': '127.0.0.1', 'port': '7001', 'offset': '14'}."""
    if isinstance(value, Mapping):  # redis-py already split it
        return {str(name): str(item) for name, item in value.items()}
    return dict(part.split("=", 1) for part in value.split(",") if "=" in part)


def replication_offset(info: Mapping[str, Any]) -> tuple[int, bool]:
    """(applied replication offset, link up?) from INFO replication of a replica (or a primary)."""
    offset = info.get("slave_repl_offset", info.get("master_repl_offset", 0))
    return int(offset), info.get("master_link_status") == "up"


@dataclass(frozen=True)
class ReplicaSeen:
    """One replica as its primary's INFO replication describes it (a `slaveN:` line)."""

    port: int
    state: str
    acknowledged_offset: int
    lag_bytes: int
    seconds_since_ack: float


def replicas_seen(info: Mapping[str, Any]) -> list[ReplicaSeen]:
    """Every `slaveN` entry of a primary's INFO replication, with its lag behind the primary's offset."""
    primary_offset = int(info.get("master_repl_offset", 0) or 0)
    seen = []
    for name, value in info.items():
        if not _REPLICA_FIELD.fullmatch(str(name)):
            continue
        fields = info_fields(value) if isinstance(value, (str, Mapping)) else {}
        try:
            port, acknowledged = int(fields.get("port", 0)), int(fields.get("offset", 0))
            lag = float(fields.get("lag", 0))
        except ValueError:
            continue
        seen.append(ReplicaSeen(port, fields.get("state", ""), acknowledged, max(0, primary_offset - acknowledged), lag))
    return seen


# -- CLUSTER NODES ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterNodeLine:
    """One line of CLUSTER NODES."""

    node_id: str
    port: int
    flags: frozenset[str]
    master_id: str
    slots: tuple[tuple[int, int], ...]
    migrating: tuple[tuple[int, str], ...]  # (slot, target node id) of slots this node is moving out

    @property
    def master(self) -> bool:
        return "master" in self.flags

    @property
    def failed(self) -> bool:
        return "fail" in self.flags or "fail?" in self.flags

    @property
    def handshake(self) -> bool:
        return "handshake" in self.flags


def cluster_node_line(line: str) -> ClusterNodeLine | None:
    """One line of CLUSTER NODES, or None for a line that is not a node."""
    parts = line.split()
    if len(parts) < 8:
        return None
    try:
        port = int(parts[1].split("@")[0].rsplit(":", 1)[1] or 0)
    except (IndexError, ValueError):
        return None
    slots: list[tuple[int, int]] = []
    moving: list[tuple[int, str]] = []
    for item in parts[8:]:
        if item.startswith("["):
            if "->-" in item:
                slot, target = item[1:-1].split("->-", 1)
                moving.append((int(slot), target))
            continue
        first, _, last = item.partition("-")
        slots.append((int(first), int(last or first)))
    return ClusterNodeLine(parts[0], port, frozenset(parts[2].split(",")), parts[3], tuple(sorted(slots)), tuple(moving))


def cluster_node_lines(reply: object) -> list[ClusterNodeLine]:
    """Every node line of a raw CLUSTER NODES reply."""
    return [parsed for line in text(reply).splitlines() if (parsed := cluster_node_line(line)) is not None]


def parse_cluster_nodes(reply: Any) -> dict[int, dict]:
    """CLUSTER NODES (raw text, or redis-py's parsed dict) as port -> {id, master, failed, master_id, slots, handshake}."""
    view: dict[int, dict] = {}
    if isinstance(reply, (str, bytes)):
        for line in cluster_node_lines(reply):
            view[line.port] = {
                "id": line.node_id, "master": line.master, "failed": line.failed, "master_id": line.master_id,
                "slots": list(line.slots), "handshake": line.handshake,
            }
        return view
    for address, entry in reply.items():
        port = int(str(address).rsplit(":", 1)[1] or 0)
        flags = entry["flags"].split(",")
        view[port] = {
            "id": entry["node_id"], "master": "master" in flags, "failed": "fail" in flags or "fail?" in flags,
            "master_id": entry["master_id"], "slots": entry["slots"], "handshake": "handshake" in flags,
        }
    return view


# -- CLUSTER SLOTS ---------------------------------------------------------------------------------
def slot_map(reply: Any) -> list[tuple[int, int, str, tuple[str, ...]]]:
    """CLUSTER SLOTS reduced to (first, last, primary id, sorted replica ids), sorted."""
    entries = []
    for entry in reply:
        first, last, primary, *replicas = entry
        entries.append((int(first), int(last), text(primary[2]), tuple(sorted(text(replica[2]) for replica in replicas))))
    return sorted(entries)


def slot_ranges_by_port(reply: Any) -> list[tuple[int, int, int]]:
    """CLUSTER SLOTS as (first, last, port of the owning primary)."""
    return [(int(first), int(last), int(primary[1])) for first, last, primary, *_replicas in reply]


# -- atomic slot migration (Valkey >= 9) and redirect counts -----------------------------------------
#: The states in which a CLUSTER GETSLOTMIGRATIONS job has ended; any other state is a job in progress.
SLOT_MIGRATION_DONE = ("success", "failed", "cancelled")


@dataclass(frozen=True)
class SlotMigrationJob:
    """One entry of CLUSTER GETSLOTMIGRATIONS: an atomic slot migration this node exports or imports."""

    name: str
    operation: str  # "EXPORT" or "IMPORT"
    slot_ranges: tuple[tuple[int, int], ...]
    source_id: str
    target_id: str
    state: str  # "success", "failed", "cancelled", or a step in progress ("snapshotting", ...)
    message: str

    @property
    def done(self) -> bool:
        return self.state in SLOT_MIGRATION_DONE

    @property
    def slots(self) -> int:
        return sum(last - first + 1 for first, last in self.slot_ranges)


def slot_migration_jobs(reply: Any) -> list[SlotMigrationJob]:
    """CLUSTER GETSLOTMIGRATIONS (a list of maps, or of flat [name, value, ...] lists) as jobs."""
    jobs = []
    for entry in reply or []:
        if not isinstance(entry, Mapping):
            entry = dict(zip(entry[::2], entry[1::2]))
        fields = {text(name): item for name, item in entry.items()}
        ranges = []
        for part in text(fields.get("slot_ranges", "")).split():
            first, _, last = part.partition("-")
            ranges.append((int(first), int(last or first)))
        jobs.append(SlotMigrationJob(
            text(fields.get("name", "")), text(fields.get("operation", "")), tuple(ranges),
            text(fields.get("source_node", "")), text(fields.get("target_node", "")),
            text(fields.get("state", "")), text(fields.get("message", "")),
        ))
    return jobs


def redirects_sent(errorstats: Mapping[str, Any]) -> dict[str, int]:
    """{"MOVED": n, "ASK": n}: the redirect replies a node has sent, from its INFO errorstats."""
    counts = {}
    for kind in ("MOVED", "ASK"):
        entry = errorstats.get(f"errorstat_{kind}", {})
        fields = info_fields(entry) if isinstance(entry, (str, Mapping)) else {}
        counts[kind] = int(fields.get("count", 0))
    return counts

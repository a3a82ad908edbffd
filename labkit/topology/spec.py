"""One description of a lab, validated in one place: what to start, not what is running.

Every topology is built from a `LabSpec`; the same spec is written into the lab's record, so
`labkit.attach()` rebuilds the topology from it, `scale_up()` starts `spec.replace(config=...)`,
and `labkit up` builds its lab from one.

Example::

    spec = LabSpec("cluster", shards=3, replicas=2)
    bigger = spec.replace(config={"maxmemory": "128mb"})
    Cluster.from_spec(bigger).start()
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..backup import Snapshot
from ..errors import ConfigurationError
from .placement import DEFAULT_AZS, validate_azs

KINDS = ("standalone", "replication", "cluster")
#: ElastiCache's limits.
MAX_REPLICAS = 5
MAX_SHARDS = 500
#: Settings labkit gives every node itself; a config that names one is refused.
RESERVED_SETTINGS = ("port", "bind", "dir", "daemonize", "protected-mode", "cluster-enabled", "replicaof", "slaveof")


@dataclass(frozen=True)
class LabSpec:
    """What a lab is made of: its kind and shape, the engine, the settings of its nodes.

    Example::

        LabSpec("replication", replicas=2, azs=("az-a", "az-b", "az-c"))
    """

    kind: str
    shards: int = 1
    replicas: int = 0
    azs: tuple[str, ...] = DEFAULT_AZS
    server: str | None = None
    config: tuple[tuple[str, str], ...] = ()
    node_timeout_ms: int = 1000
    start_timeout: float = 30.0
    tls: bool = False
    # replication groups only (cluster mode disabled)
    automatic_failover: bool = False
    failure_detection_s: float = 0.9
    endpoint_propagation_s: float = 0.0
    min_replicas_to_write: int = 0
    min_replicas_max_lag: int = 10
    #: A Snapshot whose keys the new lab starts with (copied in by start(); a cluster snapshot needs a cluster).
    from_snapshot: Snapshot | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigurationError(f"kind must be one of {', '.join(KINDS)} (got {self.kind!r}).")
        if isinstance(self.shards, bool) or not isinstance(self.shards, int) or not 1 <= self.shards <= MAX_SHARDS:
            raise ConfigurationError(
                f"shards must be a whole number of at least 1 (got {self.shards!r}), at most {MAX_SHARDS} as in ElastiCache; 3 is a good start."
            )
        if self.kind != "cluster" and self.shards != 1:
            raise ConfigurationError(f"a {self.kind} lab has one shard (got shards={self.shards!r}); use a Cluster for more.")
        _whole("replicas", self.replicas, 0, MAX_REPLICAS, "2 replicas in 3 AZs is the usual highly available choice")
        object.__setattr__(self, "azs", validate_azs(self.azs))
        if self.server is not None and not isinstance(self.server, (str, os.PathLike)):
            raise ConfigurationError(f"server must be the path of a redis-server or valkey-server binary (got {self.server!r}).")
        if self.server is not None:
            object.__setattr__(self, "server", os.fspath(self.server))
        object.__setattr__(self, "config", settings(self.config))
        if isinstance(self.node_timeout_ms, bool) or not isinstance(self.node_timeout_ms, int) or self.node_timeout_ms < 100:
            raise ConfigurationError(
                f"node_timeout_ms must be a whole number of milliseconds >= 100 (got {self.node_timeout_ms!r}); labs use 1000."
            )
        object.__setattr__(self, "start_timeout", _seconds("start_timeout", self.start_timeout, 0.1, 3600))
        if not isinstance(self.tls, bool):
            raise ConfigurationError(f"tls must be True or False (got {self.tls!r}).")
        if not isinstance(self.automatic_failover, bool):
            raise ConfigurationError(f"automatic_failover must be True or False (got {self.automatic_failover!r}).")
        if self.automatic_failover and self.replicas == 0:
            raise ConfigurationError(
                "automatic_failover needs at least one replica to promote; use replicas=1 or more, or automatic_failover=False."
            )
        object.__setattr__(self, "failure_detection_s", _seconds("failure_detection_s", self.failure_detection_s, 0.1, 60))
        object.__setattr__(self, "endpoint_propagation_s", _seconds("endpoint_propagation_s", self.endpoint_propagation_s, 0, 60))
        check_durability(self.min_replicas_to_write, self.min_replicas_max_lag)
        if self.from_snapshot is not None:
            if not isinstance(self.from_snapshot, Snapshot):
                raise ConfigurationError(
                    f"from_snapshot must be a labkit.Snapshot, what topology.snapshot() returns (got {self.from_snapshot!r})."
                )
            self.from_snapshot.check_restorable(self.kind)

    def replace(self, **changes: Any) -> LabSpec:
        """A copy with some fields changed (validated again); `config` may be a mapping.

        Example::

            spec.replace(config={**dict(spec.config), "maxmemory": "128mb"})
        """
        unknown = sorted(set(changes) - {field.name for field in dataclasses.fields(self)})
        if unknown:
            raise ConfigurationError(f"{', '.join(unknown)} is not an option of a lab; use one of {', '.join(f.name for f in dataclasses.fields(self))}.")
        return dataclasses.replace(self, **changes)

    def as_record(self) -> dict[str, Any]:
        """The spec as JSON-ready values (written into the lab's record for `labkit.attach()`).
        `from_snapshot` is left out: it seeds a lab once, at start, and is not part of its shape."""
        record = dataclasses.asdict(self.replace(from_snapshot=None))
        del record["from_snapshot"]
        record["azs"] = list(self.azs)
        record["config"] = [list(pair) for pair in self.config]
        return record

    @classmethod
    def from_record(cls, kind: str, record: Mapping[str, Any]) -> LabSpec:
        """The spec a lab was recorded with (records of older labkit versions held fewer fields)."""
        known = {field.name for field in dataclasses.fields(cls)}
        values = {name: value for name, value in record.items() if name in known}
        values["kind"] = kind
        values["azs"] = tuple(values.get("azs", DEFAULT_AZS))
        values["config"] = tuple(tuple(pair) for pair in values.get("config", ()))
        return cls(**values)


#: The options every topology's constructor takes besides its shape.
COMMON_OPTIONS = ("server", "config", "node_timeout_ms", "start_timeout", "tls", "from_snapshot")


def common_options(kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """`options` after checking each is one every topology takes (a typo gets a clear error)."""
    unknown = sorted(set(options) - set(COMMON_OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"{', '.join(repr(name) for name in unknown)} is not an option of a {kind} lab; "
            f"its options are the shape arguments and {', '.join(COMMON_OPTIONS)}."
        )
    return dict(options)


def settings(config: Mapping[str, Any] | tuple | None) -> tuple[tuple[str, str], ...]:
    """Server settings as (name, value) pairs, or a ConfigurationError that says what is wrong."""
    if config is None:
        return ()
    if isinstance(config, tuple):
        config = dict(config)
    if not isinstance(config, Mapping):
        raise ConfigurationError(f"config must be a mapping of server settings such as {{'maxmemory': '64mb'}}; got {config!r}.")
    pairs = []
    for name, value in config.items():
        if not isinstance(name, str) or not name or name.startswith("-") or any(ch.isspace() for ch in name):
            raise ConfigurationError(f"{name!r} is not a server setting name; use names like 'maxmemory' or 'maxmemory-policy'.")
        if name in RESERVED_SETTINGS:
            raise ConfigurationError(f"labkit sets {name!r} itself for every node; remove it from config.")
        if not isinstance(value, (str, int, float)) and value is not None:
            raise ConfigurationError(f"the value of {name!r} must be a string or a number (got {value!r}), e.g. '64mb'.")
        pairs.append((name, "" if value is None else str(value)))
    return tuple(pairs)


def check_durability(to_write: object, max_lag: object) -> None:
    """min_replicas_to_write (0-5) and min_replicas_max_lag (1-3600 s), or a ConfigurationError."""
    if isinstance(to_write, bool) or not isinstance(to_write, int) or not 0 <= to_write <= MAX_REPLICAS:
        raise ConfigurationError(f"min_replicas_to_write must be a whole number from 0 (off) to {MAX_REPLICAS} (got {to_write!r}).")
    if isinstance(max_lag, bool) or not isinstance(max_lag, int) or not 1 <= max_lag <= 3600:
        raise ConfigurationError(f"min_replicas_max_lag must be whole seconds from 1 to 3600 (got {max_lag!r}); 10 is the default.")


def _whole(name: str, value: object, low: int, high: int, advice: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be a whole number from {low} to {high} (got {value!r}); {advice}.")
    return value


def _seconds(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be a number of seconds from {low} to {high} (got {value!r}).")
    return float(value)

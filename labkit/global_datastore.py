"""A Global Datastore: one writable primary Region and read-only secondary Regions that replicate
from it across a slow link, like ElastiCache's Global Datastore.

Regions of replication groups: a secondary Region's primary replicates from the primary Region's
primary through a `labkit.Link` that adds the cross-Region delay (REPLICAOF 127.0.0.1 <link port>);
its replicas keep replicating from their local primary (chained replication). Writes in a secondary
Region are refused (READONLY). `promote(region)` makes a secondary Region writable (REPLICAOF NO ONE),
as ElastiCache's "promote secondary to primary" does, and detaches the old primary Region;
`rejoin(old)` makes that Region a secondary of the new one.

Regions of clusters (cluster mode enabled; the same number of shards in every Region, as ElastiCache
requires): the engine refuses REPLICAOF in cluster mode and CLUSTER REPLICATE only takes a node of the
same cluster, so no server can replicate from another cluster. ElastiCache does it with machinery of its
own; labkit stands in for it with a replicator per shard of the primary Region
(`labkit.crossreplication.ShardReplicator`): a background thread that connects through its own link
(it follows the shard's primary) and speaks the replica protocol (PSYNC, the RDB loaded through a
temporary server, then the command stream applied to the secondary cluster by slot; after a cut
it resumes with a partial resync). A secondary cluster refuses client writes through an ACL user group
(the `default` user has `-@write`, labkit's admin user still writes): clients get NOPERM where
ElastiCache answers READONLY, because labkit cannot make a cluster's primaries read-only. `promote()`
lifts the restriction and stops the replicators; `rejoin()` empties the old primary cluster, restricts
it and replicates into it from the new primary Region. `lag()` is per shard too (`RegionLag.shards`).
`fail_region()` and `restore_region()` are for replication groups only; cut the links instead.

Who owns what: the links are the datastore's, and `stop()` stops them. A group handed over before it
was started is started by the datastore and stopped with it; a group that was already running stays
yours: `stop()` leaves it running, detached (writable) again.

Example::

    with labkit.GlobalDatastore(
        primary=labkit.ReplicationGroup(replicas=1),
        secondaries=[labkit.ReplicationGroup(replicas=1)],
        link_latency_ms=40,
    ) as gds:
        gds.primary_region.client().set("k", "v")
        gds.wait_for_sync()
        gds.secondary_regions[0].client().get("k")       # "v", read in the secondary Region
        print(gds.lag())                                 # bytes each secondary Region is behind
        old = gds.primary_region
        gds.promote(gds.secondary_regions[0])            # writable now; `old` is detached
        gds.rejoin(old)                                  # `old` follows the new primary Region
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ._polling import wait_until
from ._wire import replication_offset
from .endpoints import Address, PrimaryEndpoint
from .errors import ClusterNotReadyError, ConfigurationError, FailoverError, LabkitError, TopologyStateError
from .failover import MONITOR_INTERVAL_S, PING_TIMEOUT_S, quick_client
from .acl import User, UserGroup
from .crossreplication import ShardReplicator
from .faults import FaultEvent
from .link import Link
from .node import Node, NodeStatus, Role
from .topology import Cluster, Lifecycle, ReplicationGroup, Standalone

__all__ = ["DEFAULT_REGIONS", "MAX_SECONDARY_REGIONS", "GlobalDatastore", "RegionLag", "RegionRole"]

#: Region names given to the groups when none are passed: the primary's first.
DEFAULT_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")
#: ElastiCache replicates a primary cluster to secondary clusters in up to two other AWS Regions.
MAX_SECONDARY_REGIONS = 2


class RegionRole(str, enum.Enum):
    PRIMARY = "primary"  # accepts writes and replicates them to the secondaries
    SECONDARY = "secondary"  # read-only, replicates from the primary Region through a link
    DETACHED = "detached"  # a former primary Region after a promotion: on its own until rejoin()

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class RegionLag:
    """How far a secondary Region is behind the primary Region, from INFO replication on both primaries.

    `lag_bytes` is the primary's replication offset minus what the secondary's primary has received
    (None while the primary Region does not answer); `seconds_since_contact` is the secondary's
    `master_last_io_seconds_ago` (-1 or None when its link is down). For Regions of clusters the
    figures add up the shards (offsets of labkit's replicators; see `shards` for each shard's lag)
    and `link_up` means every shard's replicator is connected.
    """

    region: str
    primary_offset: int | None
    offset: int | None
    lag_bytes: int | None
    link_up: bool
    seconds_since_contact: int | None
    #: Regions of clusters: each shard's lag in bytes (its primary's offset minus what its replicator
    #: applied), by shard number; empty for replication groups.
    shards: tuple[tuple[int, int | None], ...] = ()

    def __str__(self) -> str:
        behind = "unknown" if self.lag_bytes is None else f"{self.lag_bytes} bytes"
        return f"{self.region}: {behind} behind, link {'up' if self.link_up else 'down'}"


class WriterEndpoint(PrimaryEndpoint):
    """The primary endpoint of whichever Region is primary now.

    ElastiCache gives every Region's cluster its own endpoints and leaves it to the application to
    send writes to the new primary Region after a promotion (a DNS record it updates, say); this
    endpoint is that record, moved by `promote()`.
    """

    kind = "global writer"

    def __init__(self, datastore: GlobalDatastore) -> None:
        super().__init__(f"writer.{datastore.name}.global", [])
        self._datastore = datastore

    def _followed(self) -> PrimaryEndpoint:
        region = self._datastore.primary_region
        if isinstance(region, Cluster):
            raise TopologyStateError("a Global Datastore of clusters has no writer endpoint: use "
                                     "gds.primary_region.configuration_endpoint (or gds.primary_region.client()).")
        return region.primary_endpoint

    @property
    def addresses(self) -> list[Address]:
        return self._followed().addresses

    @property
    def target(self) -> list[Address]:
        return self._followed().target

    @property
    def address(self) -> Address:
        return self._followed().address

    def resolve(self, az: str | None = None) -> Address:
        return self._followed().resolve(az)

    def serves(self, address: Address, az: str | None = None) -> bool:
        return self._followed().serves(address, az)

    def point_to(self, addresses: list[Address], zones=None) -> None:
        raise TopologyStateError("the writer endpoint follows the primary Region; promote() a secondary Region to move it.")


class GlobalDatastore:
    """A primary Region and up to two read-only secondary Regions joined by links with latency.

    `primary` and `secondaries` are all ReplicationGroups or all Clusters with the same number of shards
    (the clusters replicate through a labkit replicator per shard; see the module docstring);
    `link_latency_ms` is the one-way delay of each cross-Region link; `regions` names the Regions
    (primary first; default us-east-1, eu-west-1, ap-southeast-1).

    Example::

        gds = labkit.GlobalDatastore(primary=east, secondaries=[west], link_latency_ms=40).start()
        gds.cut_link()                  # the secondary keeps serving (stale) reads; its lag grows
        gds.restore_link()
        gds.stop()

        # two clusters: clients of the secondary may read, their writes get NOPERM
        gds = labkit.GlobalDatastore(primary=labkit.Cluster(shards=2), secondaries=[labkit.Cluster(shards=2)]).start()
        gds.lag()[0].shards                      # ((0, bytes behind), (1, bytes behind))
    """

    def __init__(
        self,
        primary: ReplicationGroup | Cluster,
        secondaries: Sequence[ReplicationGroup | Cluster],
        link_latency_ms: float = 40.0,
        *,
        regions: Sequence[str] | None = None,
        sync_timeout: float = 30.0,
    ) -> None:
        if isinstance(secondaries, (Standalone, ReplicationGroup, Cluster)):
            raise ConfigurationError("secondaries is a list of groups: pass secondaries=[group].")
        if isinstance(secondaries, (str, bytes)) or not isinstance(secondaries, Sequence):
            raise ConfigurationError(f"secondaries must be a list of ReplicationGroups (got {secondaries!r}).")
        groups = [primary, *secondaries]
        for group in groups:
            _check_group(group)
        if len({isinstance(group, Cluster) for group in groups}) > 1:
            raise ConfigurationError(
                "a Global Datastore joins Regions of one kind: replication groups, or clusters (cluster mode enabled); "
                "pass labkit.ReplicationGroup(...) for every Region or labkit.Cluster(...) for every Region."
            )
        self.cluster_mode = isinstance(primary, Cluster)
        if self.cluster_mode:
            counts = {group.shard_count for group in groups}
            if len(counts) > 1:
                raise ConfigurationError(
                    f"the clusters have {' and '.join(str(group.shard_count) for group in groups)} shards; ElastiCache requires "
                    "the same number of shards in every Region of a Global Datastore: create the clusters with the same shards=."
                )
        if not secondaries:
            raise ConfigurationError("a Global Datastore needs at least one secondary Region: pass secondaries=[labkit.ReplicationGroup(replicas=1)].")
        if len(secondaries) > MAX_SECONDARY_REGIONS:
            raise ConfigurationError(
                f"{len(secondaries)} secondary Regions: ElastiCache replicates a primary cluster to at most "
                f"{MAX_SECONDARY_REGIONS} other Regions; pass one or two secondaries."
            )
        for index, group in enumerate(groups):
            if any(group is other for other in groups[:index]):
                raise ConfigurationError(
                    "the same ReplicationGroup is given twice: every Region needs a group of its own "
                    "(create one labkit.ReplicationGroup per Region)."
                )
        if isinstance(link_latency_ms, bool) or not isinstance(link_latency_ms, (int, float)) or not 0 <= link_latency_ms <= 10_000:
            raise ConfigurationError(
                f"link_latency_ms must be a number of milliseconds from 0 to 10000 (got {link_latency_ms!r}); "
                "e.g. 40 for a link between two nearby AWS Regions."
            )
        names = list(regions) if regions is not None else list(DEFAULT_REGIONS[: len(groups)])
        if len(names) != len(groups) or any(not isinstance(name, str) or not name for name in names) or len(set(names)) != len(names):
            raise ConfigurationError(
                f"regions must name each Region once, the primary first: {len(groups)} different names (got {regions!r})."
            )
        if not isinstance(sync_timeout, (int, float)) or sync_timeout <= 0:
            raise ConfigurationError(f"sync_timeout must be a positive number of seconds (got {sync_timeout!r}).")
        self.link_latency_ms = float(link_latency_ms)
        self.sync_timeout = float(sync_timeout)
        self.name = "global-" + "-".join(names)
        self._groups: dict[str, ReplicationGroup] = dict(zip(names, groups))
        self._roles: dict[str, RegionRole] = {name: RegionRole.SECONDARY for name in names}
        self._roles[names[0]] = RegionRole.PRIMARY
        self._links: dict[str, Link] = {}
        self._shard_links: dict[str, list[Link]] = {}  # cluster mode: one link per shard, by secondary Region
        self._replicators: dict[str, list[ShardReplicator]] = {}  # cluster mode: one replicator per shard
        self._owned: set[str] = set()
        self._failed: dict[str, list[Link]] = {}
        self._lock = threading.RLock()
        self.lifecycle = Lifecycle.CREATED
        #: What happened, in order: links made and cut, promotions, Region failures.
        self.events: list[FaultEvent] = []
        #: (time.time(), Region name) of each promotion.
        self.promotions: list[tuple[float, str]] = []
        self.writer_endpoint = WriterEndpoint(self)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Self:
        """Start the groups not started yet, join each secondary Region to the primary through a link,
        and wait until every secondary has the primary's data."""
        with self._lock:
            if self.lifecycle is Lifecycle.RUNNING:
                raise TopologyStateError("this Global Datastore is already running; stop() it first or create a new one.")
            if self.lifecycle is Lifecycle.STOPPED:
                raise TopologyStateError("cannot start a stopped Global Datastore; create a new one.")
            self.lifecycle = Lifecycle.STARTING
            try:
                for name, group in self._groups.items():
                    if group.lifecycle is Lifecycle.CREATED:
                        group.start()
                        self._owned.add(name)
                    elif group.lifecycle is not Lifecycle.RUNNING:
                        raise TopologyStateError(f"the group for {name} is {group.lifecycle}; create a new ReplicationGroup for it.")
                self._check_running_groups()
                for name in self.secondary_names:
                    self._attach(name)
                self._wait_synced(self.secondary_names, self.sync_timeout)
                self.lifecycle = Lifecycle.RUNNING
            except BaseException:
                self._teardown()  # a start that fails halfway stops what it started
                raise
        return self

    def _check_running_groups(self) -> None:
        engines = {(group.engine.name, group.engine.version) for group in self._groups.values() if group.engine is not None}
        if len(engines) > 1:
            found = ", ".join(f"{name} {'.'.join(map(str, version))}" for name, version in sorted(engines))
            raise ConfigurationError(f"the Regions run different engines ({found}); ElastiCache requires one engine version in "
                                     "every Region: create the groups with the same server.")
        for name, group in self._groups.items():
            if group.admin_credentials is not None:
                raise ConfigurationError(f"the group for {name} has users applied (labkit.acl); a Global Datastore joins groups "
                                         "without access control only, yet: create it without users.")
            if self.cluster_mode:
                shards = {tuple(group.shards) for group in self._groups.values()}
                slots = {tuple(sorted(group.slot_counts().items())) for group in self._groups.values()}
                if len(shards) > 1 or len(slots) > 1:
                    raise ConfigurationError(
                        "the clusters do not have the same shards serving the same slots; ElastiCache requires the same "
                        "number of shards in every Region: create the clusters alike (same shards=) and do not reshard them."
                    )
                if name in self.secondary_names:
                    keys = sum(_dbsize(node) for node in group.primaries())
                    if keys:
                        raise ConfigurationError(
                            f"the cluster for {name} holds {keys} keys; a secondary Region starts as a copy of the primary Region, "
                            "so they would be replaced. Pass a new cluster (or FLUSHALL this one first)."
                        )
                continue
            if name in self.secondary_names:
                if group.upstream_port is not None:
                    raise ConfigurationError(f"the group for {name} already replicates from port {group.upstream_port} "
                                             "(another Global Datastore?); stop that one first.")
                with quick_client(group.primary(), 2.0) as client:
                    keys = client.dbsize()
                if keys:
                    raise ConfigurationError(
                        f"the group for {name} holds {keys} keys; a secondary Region starts as a copy of the primary Region, "
                        "so they would be replaced. Pass a new group (or FLUSHALL this one first)."
                    )

    def stop(self) -> Self:
        """Stop the links, and the groups the datastore started; groups that were yours stay running,
        writable on their own. Safe to call twice."""
        with self._lock:
            if self.lifecycle in (Lifecycle.STARTING, Lifecycle.RUNNING):
                self._teardown()
        return self

    def _teardown(self) -> None:
        following = set(self._links)  # the Regions that replicate through a link of ours
        restricted = set(self._replicators)
        for name in list(self._replicators):
            self._detach_cluster(name)
        for name in restricted:
            group = self._groups[name]
            if name not in self._owned and group.lifecycle is Lifecycle.RUNNING:
                try:
                    _writable(group)  # a cluster that stays the caller's is writable on its own again
                except (redis.RedisError, LabkitError):
                    pass
        for link in self._links.values():
            link.stop()
        self._links.clear()
        for name, group in self._groups.items():
            if name in self._owned:
                group.stop()
                continue
            if group.lifecycle is not Lifecycle.RUNNING:
                continue
            for node in group.nodes:  # undo our own faults on a group that stays the caller's
                if name in self._failed and node.status is NodeStatus.PAUSED:
                    group.resume(node)
            if name in following and group.upstream_port is not None:
                try:
                    group.set_upstream(None)
                except (redis.RedisError, LabkitError):
                    pass  # its primary does not answer: it stays read-only until group.set_upstream(None)
        self._failed.clear()
        self.lifecycle = Lifecycle.STOPPED

    def __enter__(self) -> Self:
        if self.lifecycle is not Lifecycle.RUNNING:
            self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def require_running(self) -> None:
        if self.lifecycle is not Lifecycle.RUNNING:
            raise TopologyStateError(f"this Global Datastore is {self.lifecycle}; call start() (or use `with`) before using it.")

    # -- Regions --------------------------------------------------------------------------------
    @property
    def regions(self) -> dict[str, ReplicationGroup]:
        """Every Region's group by name, the primary's first."""
        return dict(self._groups)

    def roles(self) -> dict[str, RegionRole]:
        """Each Region's role: primary, secondary or detached."""
        return dict(self._roles)

    @property
    def primary_name(self) -> str:
        return next(name for name, role in self._roles.items() if role is RegionRole.PRIMARY)

    @property
    def primary_region(self) -> ReplicationGroup:
        """The group of the Region that accepts writes now."""
        return self._groups[self.primary_name]

    @property
    def secondary_names(self) -> list[str]:
        return [name for name, role in self._roles.items() if role is RegionRole.SECONDARY]

    @property
    def secondary_regions(self) -> list[ReplicationGroup]:
        """The groups of the read-only Regions, in the order they were given."""
        return [self._groups[name] for name in self.secondary_names]

    @property
    def detached_regions(self) -> list[ReplicationGroup]:
        """Former primary Regions that a promotion left on their own (`rejoin()` them)."""
        return [self._groups[name] for name, role in self._roles.items() if role is RegionRole.DETACHED]

    @property
    def nodes(self) -> list[Node]:
        """Every node of every Region."""
        return [node for group in self._groups.values() for node in group.nodes]

    def region(self, which: ReplicationGroup | str) -> ReplicationGroup:
        """A Region's group, by group or name."""
        return self._groups[self.name_of(which)]

    def name_of(self, which: ReplicationGroup | str) -> str:
        """A Region's name, by group or name."""
        for name, group in self._groups.items():
            if group is which or name == which:
                return name
        raise ConfigurationError(f"{which!r} is not a Region of this Global Datastore; its Regions are {', '.join(self._groups)}.")

    # -- links ------------------------------------------------------------------------------------
    @property
    def links(self) -> dict[str, Link]:
        """The link each secondary Region replicates through, by the secondary's name."""
        return dict(self._links)

    def link(self, region: ReplicationGroup | Cluster | str | None = None) -> Link:
        """The link a secondary Region replicates through (default: the first secondary's); for Regions
        of clusters, shard 0's (`shard_links()` has them all)."""
        self.require_running()
        name = self._secondary_name(region)
        if self.cluster_mode:
            return self._shard_links[name][0]
        return self._links[name]

    def shard_links(self, region: Cluster | str | None = None) -> list[Link]:
        """Cluster mode: the links of a secondary Region, one per shard (each replicator's)."""
        self.require_running()
        name = self._secondary_name(region)
        if not self.cluster_mode:
            return [self._links[name]]
        return list(self._shard_links[name])

    def replicators(self, region: Cluster | str | None = None) -> list[ShardReplicator]:
        """Cluster mode: labkit's replicators of a secondary Region, one per shard (empty for groups)."""
        self.require_running()
        return list(self._replicators.get(self._secondary_name(region), []))

    def cut_link(self, region: ReplicationGroup | str | None = None) -> Link:
        """Cut a secondary Region's link: replication stops, the secondary keeps serving (stale) reads.

        Example::

            gds.cut_link(); ...; gds.restore_link()
        """
        link = self.link(region)
        for each in self.shard_links(region):
            each.cut()
        self._log("link_down", link.name, "replication across the link stops")
        return link

    def restore_link(self, region: ReplicationGroup | str | None = None) -> Link:
        """Restore a cut link; the secondary's primary reconnects (within a second) and catches up."""
        link = self.link(region)
        for each in self.shard_links(region):
            each.restore()
        self._log("link_up", link.name, "the secondary reconnects and catches up")
        return link

    def _secondary_name(self, region: ReplicationGroup | str | None) -> str:
        if region is None:
            if not self.secondary_names:
                raise TopologyStateError("this Global Datastore has no secondary Region right now; rejoin() one first.")
            return self.secondary_names[0]
        name = self.name_of(region)
        if self._roles[name] is not RegionRole.SECONDARY:
            raise ConfigurationError(f"{name} is the {self._roles[name]} Region and has no link; name a secondary: {', '.join(self.secondary_names)}.")
        return name

    def _attach(self, name: str) -> None:
        """A new link from `name` to the primary Region, and `name`'s primary replicating through it."""
        primary_name = self.primary_name
        if self.cluster_mode:
            self._attach_cluster(name)
            return
        link = Link(self.primary_region.primary_endpoint, self.link_latency_ms, name=f"{primary_name}->{name}").start()
        self._links[name] = link
        self._groups[name].set_upstream(link.port)
        self._log("attach", name, f"replicates from {primary_name} through a link of {self.link_latency_ms:g} ms one way")

    def _attach_cluster(self, name: str) -> None:
        """Cluster mode: `name` read-only for clients (ACL), emptied, and one replicator per shard of the
        primary Region, each through its own link that follows the shard's primary."""
        source, target, primary_name = self.primary_region, self._groups[name], self.primary_name
        _read_only(target)
        for node in target.primaries():
            with node.client() as client:
                client.flushall()
        links, replicators = [], []
        self._shard_links[name], self._replicators[name] = links, replicators
        for shard in source.shards:
            link = Link(
                source.primary(shard).port, self.link_latency_ms, name=f"{primary_name}->{name}/shard-{shard}",
                targets=lambda shard=shard: [node.port for node in source.nodes if node.shard == shard and node.role is Role.PRIMARY],
            ).start()
            links.append(link)
            replicators.append(ShardReplicator(shard, source, target, link, name=f"labkit-replicator-{name}-{shard}").start())
        self._log("attach", name, f"replicates from {primary_name} through {len(links)} links of {self.link_latency_ms:g} ms one way "
                                  "(a labkit replicator per shard)")

    def _detach_cluster(self, name: str) -> None:
        for replicator in self._replicators.pop(name, []):
            replicator.stop()
        for link in self._shard_links.pop(name, []):
            link.stop()

    def _detach(self, name: str) -> None:
        """Stop replicating into Region `name`: its replicators and links (a cluster), or its link (a group)."""
        if self.cluster_mode:
            self._detach_cluster(name)
        else:
            self._links.pop(name).stop()

    # -- what a secondary Region has ------------------------------------------------------------
    def lag(self) -> list[RegionLag]:
        """How far each secondary Region is behind the primary Region, read now.

        Example::

            for region in gds.lag():
                print(region.region, region.lag_bytes, region.link_up)
        """
        self.require_running()
        return self.lag_of(self.secondary_names)

    def wait_for_sync(self, timeout: float = 10.0) -> None:
        """Block until every secondary Region's link is up and it has every write of the primary Region."""
        self.require_running()
        self._wait_synced(self.secondary_names, timeout)

    def _wait_synced(self, names: list[str], timeout: float) -> None:
        def synced() -> bool:
            lags = {lag.region: lag for lag in self.lag_of(names)}
            return all(lags[name].link_up and lags[name].lag_bytes == 0 for name in names)

        wait_until(synced, timeout, 0.01, on_timeout=lambda last: ClusterNotReadyError(
            f"the secondary Regions did not catch up with {self.primary_name} within {timeout:.0f} s{last}: "
            f"{'; '.join(map(str, self.lag_of(names)))}. Check the links (restore_link()) and that the primary Region is up.",
        ))

    def lag_of(self, names: list[str]) -> list[RegionLag]:
        """lag() for some secondary Regions only (no lifecycle check: start() uses it too)."""
        if self.cluster_mode:
            return [self._cluster_lag(name) for name in names]
        primary_offset = _read_offset(self.primary_region)
        found = []
        for name in names:
            info = _read_info(self._groups[name])
            if info is None:
                found.append(RegionLag(name, primary_offset, None, None, False, None))
                continue
            offset, link_up = replication_offset(info)
            contact = info.get("master_last_io_seconds_ago")
            behind = None if primary_offset is None else max(0, primary_offset - offset)
            found.append(RegionLag(name, primary_offset, offset, behind, link_up, None if contact is None else int(contact)))
        return found

    def _cluster_lag(self, name: str) -> RegionLag:
        replicators = self._replicators.get(name, [])
        offsets: list[int | None] = []
        for replicator in replicators:
            try:
                with quick_client(self.primary_region.primary(replicator.shard), 0.5) as client:
                    offsets.append(int(client.info("replication").get("master_repl_offset", 0)))
            except (redis.RedisError, LabkitError):
                offsets.append(None)
        shards = tuple(
            (replicator.shard, None if offset is None or replicator.replid is None else max(0, offset - replicator.offset))
            for replicator, offset in zip(replicators, offsets)
        )
        known = all(lag is not None for _, lag in shards) and bool(shards)
        now = time.monotonic()
        contacts = [None if replicator.last_contact is None else int(now - replicator.last_contact) for replicator in replicators]
        return RegionLag(
            name,
            sum(offset for offset in offsets if offset is not None) if all(offset is not None for offset in offsets) else None,
            sum(replicator.offset for replicator in replicators),
            sum(lag for _, lag in shards if lag is not None) if known else None,
            bool(replicators) and all(replicator.connected for replicator in replicators),
            None if None in contacts or not contacts else max(c for c in contacts if c is not None),
            shards,
        )

    # -- promotion --------------------------------------------------------------------------------
    def promote(self, region: ReplicationGroup | str) -> ReplicationGroup:
        """Make a secondary Region the primary Region: its primary runs REPLICAOF NO ONE and accepts writes.

        The old primary Region is detached: its links are stopped and it is left as it is (if it is
        still up, it still accepts writes: rejoin() it). Other secondary Regions now replicate from the
        new primary Region, and the writer endpoint points at it. Writes the old primary acknowledged
        that had not crossed the link yet are not in the new primary Region: they are lost.

        Regions of clusters: labkit's replicators into `region` stop and its `default` user may write again.

        Example::

            old = gds.primary_region
            gds.promote("eu-west-1")
            gds.rejoin(old)
        """
        with self._lock:
            self.require_running()
            name = self.name_of(region)
            if self._roles[name] is not RegionRole.SECONDARY:
                raise FailoverError(f"{name} is the {self._roles[name]} Region; promote a secondary Region: {', '.join(self.secondary_names) or 'none'}.")
            if name in self._failed:
                raise FailoverError(f"{name} is failed (its nodes are paused); restore_region({name!r}) before promoting it.")
            group, old_name = self._groups[name], self.primary_name
            if self.cluster_mode:
                self._detach(name)  # labkit's replicators stop, then clients may write again
                _writable(group)
                how = "replicators stopped, default user may write"
            else:
                group.set_upstream(None)  # REPLICAOF NO ONE on the Region's primary: writable from now on
                self._detach(name)
                how = "REPLICAOF NO ONE"
            self._roles[name], self._roles[old_name] = RegionRole.PRIMARY, RegionRole.DETACHED
            self.promotions.append((time.time(), name))
            self._log("promote", name, f"primary Region now ({how}); {old_name} detached")
            for other in self.secondary_names:  # the remaining secondaries follow the new primary Region
                self._detach(other)
                self._attach(other)
            return group

    def rejoin(self, region: ReplicationGroup | str, timeout: float | None = None) -> ReplicationGroup:
        """Make a detached Region (a former primary) a secondary of the primary Region, through a new link.

        Its primary resynchronises from the new primary Region: writes it accepted that the new primary
        Region does not have are discarded. Returns once it has caught up.

        Example::

            gds.rejoin(old)
        """
        with self._lock:
            self.require_running()
            name = self.name_of(region)
            if self._roles[name] is not RegionRole.DETACHED:
                raise FailoverError(f"{name} is a {self._roles[name]} Region; only a detached Region (a former primary) can rejoin.")
            if name in self._failed:
                raise FailoverError(f"{name} is failed (its nodes are paused); restore_region({name!r}) before it rejoins.")
            self._attach(name)
            self._roles[name] = RegionRole.SECONDARY
            self._log("rejoin", name, f"a secondary of {self.primary_name} now")
        self._wait_synced([name], timeout if timeout is not None else self.sync_timeout)
        return self._groups[name]

    def repair(self, timeout: float | None = None) -> None:
        """Put every Region back as labkit's record has it, after faults or commands sent by hand:
        failed Regions restored, cut links restored, each secondary Region's primary following its link
        and every replica its Region's primary again, detached Regions rejoined; returns once in sync.

        Example::

            gds.secondary_regions[0].client().replicaof("no", "one")   # by hand: labkit's record disagrees
            gds.repair()                                               # read-only again, replicating
        """
        if self.cluster_mode:
            self._repair_clusters(timeout)
            return
        with self._lock:
            self.require_running()
            for name in list(self._failed):
                self.restore_region(name)
            for name, group in self._groups.items():
                primary, info = group.primary(), _read_info(group) or {}
                if self._roles[name] is RegionRole.SECONDARY:
                    link = self._links[name]
                    if link.is_cut:
                        link.restore()
                    if int(info.get("master_port", 0) or 0) != link.port:
                        group.set_upstream(link.port)
                elif self._roles[name] is RegionRole.PRIMARY and info.get("role") != "master":
                    group.set_upstream(None)
                for node in group.replicas():
                    with quick_client(node, 2.0) as client:
                        info = client.info("replication")
                        if info.get("role") == "master" or int(info.get("master_port", 0) or 0) != primary.port:
                            client.replicaof("127.0.0.1", primary.port)
            detached = [name for name, role in self._roles.items() if role is RegionRole.DETACHED]
        for name in detached:
            self.rejoin(name, timeout)
        self._wait_synced(self.secondary_names, timeout if timeout is not None else self.sync_timeout)
        for name, group in self._groups.items():  # every replica linked to its Region's primary again
            replicas = group.replicas()
            wait_until(
                lambda replicas=replicas: all(_linked(node) for node in replicas), timeout or self.sync_timeout,
                on_timeout=lambda last, name=name: ClusterNotReadyError(
                    f"the replicas of {name} did not link to their primary in time{last}; check the group (group.state())."
                ),
            )

    def _repair_clusters(self, timeout: float | None) -> None:
        """Cluster mode: cut links restored, clients refused writes in every secondary Region again, detached
        Regions rejoined; returns once in sync."""
        with self._lock:
            self.require_running()
            for name in self.secondary_names:
                for link in self._shard_links[name]:
                    if link.is_cut:
                        link.restore()
                _read_only(self._groups[name])
            detached = [name for name, role in self._roles.items() if role is RegionRole.DETACHED]
        for name in detached:
            self.rejoin(name, timeout)
        self._wait_synced(self.secondary_names, timeout if timeout is not None else self.sync_timeout)

    # -- a whole Region fails -------------------------------------------------------------------
    def fail_region(self, region: ReplicationGroup | str) -> ReplicationGroup:
        """A Region drops off the network: the links to and from it are cut and its nodes freeze
        (SIGSTOP), so no client reaches them. `restore_region()` undoes it.

        Example::

            gds.fail_region(gds.primary_region)
            gds.promote(gds.secondary_regions[0])
        """
        with self._lock:
            self.require_running()
            self._refuse_in_cluster_mode("fail_region")
            name = self.name_of(region)
            if name in self._failed:
                raise TopologyStateError(f"{name} is already failed; restore_region({name!r}) first.")
            group = self._groups[name]
            cut = []
            for secondary, link in self._links.items():
                if (secondary == name or self._roles[name] is RegionRole.PRIMARY) and not link.is_cut:
                    link.cut()
                    cut.append(link)
            # Replicas first: the Region's Multi-AZ monitor then finds no replica to promote in its place.
            for node in sorted(group.nodes, key=lambda node: node.role is Role.PRIMARY):
                if node.status is NodeStatus.UP and node.is_running():
                    group.pause(node)
            self._failed[name] = cut
            self._log("fail_region", name, f"nodes frozen, {len(cut)} link(s) cut")
            return group

    def restore_region(self, region: ReplicationGroup | str) -> ReplicationGroup:
        """Bring a failed Region back: its nodes resume and the links cut by fail_region() are restored.

        A former primary Region comes back as it was, accepting writes, until it rejoin()s.
        """
        with self._lock:
            self.require_running()
            self._refuse_in_cluster_mode("restore_region")
            name = self.name_of(region)
            if name not in self._failed:
                raise TopologyStateError(f"{name} is not failed; nothing to restore.")
            group = self._groups[name]
            paused = [node for node in group.nodes if node.status is NodeStatus.PAUSED]
            primaries = [node for node in paused if node.role is Role.PRIMARY]
            for node in primaries:
                group.resume(node)
                wait_until(lambda node=node: _answers(node), 5.0)
            if primaries and len(paused) > len(primaries):
                # A Multi-AZ health check that failed while the primary was frozen may still be looking for a
                # replica to promote: let it finish (each frozen replica costs it one PING timeout) before the
                # replicas answer again, so the primary keeps its role.
                time.sleep(PING_TIMEOUT_S * (len(paused) + 1) + 2 * MONITOR_INTERVAL_S)
            for node in paused:
                if node.status is NodeStatus.PAUSED:
                    group.resume(node)
            for link in self._failed.pop(name):
                if link.running and link.is_cut:
                    link.restore()
            self._log("restore_region", name, "nodes resumed, links restored")
            return group

    def _refuse_in_cluster_mode(self, action: str) -> None:
        if self.cluster_mode:
            raise TopologyStateError(
                f"{action}() is for Global Datastores of replication groups only, yet: freezing a whole cluster would "
                "also trip its own failure detection. Cut the links instead (cut_link()) and promote() a secondary Region."
            )

    # -- traffic (labkit.Probe) ---------------------------------------------------------------------
    def traffic_client(self, socket_timeout: float) -> redis.Redis:
        """A probe's writes go to the primary Region through the writer endpoint, so they follow a promotion
        (cluster mode: a cluster client of the primary Region of the moment)."""
        if self.cluster_mode:
            return self.primary_region.traffic_client(socket_timeout)
        return self.writer_endpoint.client(retry=Retry(NoBackoff(), 0), socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)

    def verification_client(self) -> redis.Redis:
        """A probe reads its keys back from the primary Region of the moment: what survived a promotion."""
        if self.cluster_mode:
            return self.primary_region.client(socket_timeout=5.0)
        return self.writer_endpoint.client(socket_timeout=5.0)

    # -- text ---------------------------------------------------------------------------------------
    def _log(self, action: str, target: str, detail: str = "") -> None:
        self.events.append(FaultEvent(time.time(), action, target, detail))

    def events_text(self) -> str:
        """The events as text, one a line."""
        return "\n".join(str(event) for event in self.events) or "(no events yet)"

    def table(self) -> str:
        """Each Region: its role, nodes up, whether its primary accepts writes (read from ROLE), its link.

        The text holds no ports and no timings, so it is the same on every run.
        """
        rows = [("region", "role", "nodes up", "writes", "link")]
        for name, group in self._groups.items():
            up = sum(node.status is NodeStatus.UP for node in group.nodes)
            writes, link = "unreachable", "-"
            if self.cluster_mode:
                writes = "refused" if self._roles[name] is RegionRole.SECONDARY else "accepted"
                if name in self._replicators:
                    link = "up" if all(replicator.connected for replicator in self._replicators[name]) else "down"
                rows.append((name, str(self._roles[name]), f"{up} of {len(group.nodes)}", writes, link))
                continue
            info = _read_info(group) if group.lifecycle is Lifecycle.RUNNING else None
            if info is not None:
                writes = "accepted" if info.get("role") == "master" else "refused"
                if name in self._links:
                    link = "up" if info.get("master_link_status") == "up" else "down"
            rows.append((name, str(self._roles[name]), f"{up} of {len(group.nodes)}", writes, link))
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
        head = f"global datastore · primary {self.primary_name} · links {self.link_latency_ms:g} ms one way"
        return "\n".join([head, *lines])

    def __repr__(self) -> str:
        return f"<GlobalDatastore {self.lifecycle} primary={self.primary_name} secondaries={self.secondary_names}>"


def _check_group(group: Any) -> None:
    if isinstance(group, Cluster):
        if group.lifecycle is Lifecycle.STOPPED:
            raise TopologyStateError("a stopped Cluster cannot join a Global Datastore; create a new one.")
        if group.tls:
            raise ConfigurationError("a Global Datastore joins clusters without TLS only, yet: create the clusters with tls=False.")
        return
    if isinstance(group, Standalone):
        raise ConfigurationError(
            "a Global Datastore joins replication groups; a Standalone has no replication set up "
            "(ElastiCache, too, needs replication enabled): pass labkit.ReplicationGroup(replicas=1)."
        )
    if not isinstance(group, ReplicationGroup):
        raise ConfigurationError(f"each Region is a labkit.ReplicationGroup (got {group!r}).")
    if group.lifecycle is Lifecycle.STOPPED:
        raise TopologyStateError("a stopped ReplicationGroup cannot join a Global Datastore; create a new one.")
    if group.tls:
        raise ConfigurationError("a Global Datastore joins groups without TLS only, yet: create the groups with tls=False.")


#: Cluster mode: the users of a secondary Region. Clients (the `default` user) may read but not write;
#: labkit's own admin user (and so labkit's replicators) still writes. ElastiCache answers READONLY in a
#: secondary Region; labkit cannot make a cluster's primaries read-only, so here writes fail with NOPERM.
SECONDARY_USERS = UserGroup("global-secondary", (User("default", "on ~* &* +@all -@write"),))
#: The users of a cluster Region that accepts writes again (promoted, or left to its owner).
WRITABLE_USERS = UserGroup("global-writable", (User("default", "on ~* &* +@all"),))


def _read_only(cluster: Cluster) -> None:
    SECONDARY_USERS.apply(cluster)


def _writable(cluster: Cluster) -> None:
    WRITABLE_USERS.apply(cluster)


def _dbsize(node: Node) -> int:
    with quick_client(node, 2.0) as client:
        return int(client.dbsize())


def _read_info(group: ReplicationGroup) -> dict | None:
    """INFO replication of a group's primary, or None when it does not answer."""
    try:
        primary = group.primary()
        if primary.status is not NodeStatus.UP:
            return None
        with quick_client(primary, 0.5) as client:
            return client.info("replication")
    except (redis.RedisError, ConfigurationError):
        return None


def _linked(node: Node) -> bool:
    with quick_client(node, 0.5) as client:
        return client.info("replication").get("master_link_status") == "up"


def _answers(node: Node) -> bool:
    with quick_client(node, 0.5) as client:
        return bool(client.ping())


def _read_offset(group: ReplicationGroup) -> int | None:
    info = _read_info(group)
    return None if info is None else int(info.get("master_repl_offset", 0))

"""labkit.GlobalDatastore: a writable primary Region, read-only secondary Regions replicating across a
slow link, promotion and rejoin (real servers; the secondary is reached with a stock redis.Redis)."""

from __future__ import annotations

import threading
import time

import pytest
import redis

import labkit
from labkit import ConfigurationError, FailoverError, GlobalDatastore, ReplicationGroup, TopologyStateError
from labkit._polling import wait_until


def _small_datastore(latency_ms: float = 20.0) -> GlobalDatastore:
    return GlobalDatastore(primary=ReplicationGroup(replicas=1), secondaries=[ReplicationGroup(replicas=1)], link_latency_ms=latency_ms)


@pytest.fixture()
def gds():
    with _small_datastore() as datastore:
        yield datastore


def _stock(node) -> redis.Redis:
    return redis.Redis(port=node.port, decode_responses=True, socket_timeout=2)


def test_writes_cross_the_link_late_and_the_lag_shows_it():
    with _small_datastore(latency_ms=250) as gds:
        secondary = gds.secondary_regions[0]
        primary = gds.primary_region.client()
        with primary.pipeline(transaction=False) as pipe:
            for number in range(200):
                pipe.set(f"order:{number}", "paid")
            pipe.execute()
        [lag] = gds.lag()
        assert lag.region == "eu-west-1" and lag.link_up
        assert lag.lag_bytes > 0, "the writes are still on their way across a 250 ms link"
        assert _stock(secondary.primary()).get("order:199") is None
        gds.wait_for_sync()
        assert gds.lag()[0].lag_bytes == 0
        assert _stock(secondary.primary()).get("order:199") == "paid"
        assert wait_until(lambda: _stock(secondary.replicas()[0]).get("order:199") == "paid", 5.0)  # chained: from the local primary
        assert gds.link().stats().bytes_to_target > 0


def test_a_secondary_region_refuses_writes_with_readonly(gds):
    secondary = gds.secondary_regions[0]
    for node in secondary.nodes:
        with pytest.raises(redis.ReadOnlyError):
            _stock(node).set("k", "v")
    assert gds.primary_region.client().set("k", "v")
    assert gds.roles() == {"us-east-1": "primary", "eu-west-1": "secondary"}
    assert gds.table().splitlines()[1:] == [
        "region     role       nodes up  writes    link",
        "us-east-1  primary    2 of 2    accepted  -",
        "eu-west-1  secondary  2 of 2    refused   up",
    ]
    state = secondary.state()
    assert state.primary() is not None and state.primary().name == "primary", "within its group the node is still the primary"


def test_a_cut_link_keeps_stale_reads_working_while_the_lag_grows(gds):
    reader = _stock(gds.secondary_regions[0].primary())
    gds.primary_region.client().set("price", "10")
    gds.wait_for_sync()
    gds.cut_link()
    gds.primary_region.client().set("price", "12")
    assert wait_until(lambda: not gds.lag()[0].link_up, 5.0)
    [lag] = gds.lag()
    assert lag.lag_bytes > 0 and not lag.link_up
    assert reader.get("price") == "10", "the secondary still answers, with the value it had"
    gds.restore_link()
    gds.wait_for_sync(timeout=10)
    assert reader.get("price") == "12"
    assert gds.link().stats().cuts == 1


def test_promotion_after_a_region_failure_counts_lost_writes_and_rejoin_discards_the_split_brain(gds):
    old, new = gds.primary_region, gds.secondary_regions[0]
    probe = labkit.Probe(gds, read=False).start()
    assert wait_until(lambda: sum(op.ok for op in probe.operations) >= 30, 10.0)
    gds.fail_region(old)
    assert wait_until(lambda: any(not op.ok for op in probe.operations), 5.0)
    promoted_at = time.time()
    gds.promote(new)
    assert wait_until(lambda: any(op.ok and op.time > promoted_at for op in probe.operations), 5.0)
    result = probe.stop()
    assert result.acknowledged_writes_lost is not None and result.acknowledged_writes_lost <= result.acknowledged_writes
    assert set(result.lost_keys) <= {op.key for op in result.writes if op.ok and op.time < promoted_at}
    assert _stock(new.primary()).set("after", "promotion"), "the promoted Region accepts writes"
    assert gds.primary_region is new and gds.detached_regions == [old]
    assert gds.writer_endpoint.addresses == [("127.0.0.1", new.primary().port)]

    gds.restore_region(old)
    stale = _stock(old.primary())
    assert stale.set("split", "brain"), "a detached former primary still accepts writes until it rejoins"
    gds.rejoin(old)
    assert stale.get("split") is None, "rejoining discards what only the old primary Region had"
    assert stale.get("after") == "promotion"
    with pytest.raises(redis.ReadOnlyError):
        stale.set("k", "v")
    assert [name for name, role in gds.roles().items() if role == "secondary"] == ["us-east-1"]


def test_the_secondary_regions_own_failover_keeps_it_read_only(gds):
    secondary = gds.secondary_regions[0]
    old = secondary.primary()
    secondary.kill(old)
    new = secondary.wait_for_failover(timeout=10)
    with pytest.raises(redis.ReadOnlyError):
        _stock(new).set("k", "v")
    gds.primary_region.client().set("after", "failover")
    gds.wait_for_sync(timeout=10)
    assert _stock(new).get("after") == "failover"
    secondary.restart(old)
    assert secondary.refresh().primary() is new, "refresh() counts the node that replicates from the link as primary"


def test_the_link_follows_a_failover_in_the_primary_region(gds):
    primary_region = gds.primary_region
    primary_region.kill(primary_region.primary())
    primary_region.wait_for_failover(timeout=10)
    primary_region.primary_endpoint.client().set("after", "failover")
    gds.wait_for_sync(timeout=15)
    assert _stock(gds.secondary_regions[0].primary()).get("after") == "failover"


def test_bad_input_says_what_to_do():
    east, west = ReplicationGroup(replicas=1), ReplicationGroup(replicas=1)
    with pytest.raises(ConfigurationError, match="given twice"):
        GlobalDatastore(primary=east, secondaries=[east])
    with pytest.raises(ConfigurationError, match="replication groups"):
        GlobalDatastore(primary=east, secondaries=[labkit.Cluster(shards=1, replicas=1)])
    with pytest.raises(ConfigurationError, match="same number of shards"):
        GlobalDatastore(primary=labkit.Cluster(shards=2, replicas=0), secondaries=[labkit.Cluster(shards=3, replicas=0)])
    with pytest.raises(ConfigurationError, match="Standalone"):
        GlobalDatastore(primary=labkit.Standalone(), secondaries=[west])
    with pytest.raises(ConfigurationError, match="link_latency_ms"):
        GlobalDatastore(primary=east, secondaries=[west], link_latency_ms=-5)
    with pytest.raises(ConfigurationError, match="secondaries=\\[group\\]"):
        GlobalDatastore(primary=east, secondaries=west)
    with pytest.raises(ConfigurationError, match="at most 2"):
        GlobalDatastore(primary=east, secondaries=[west, ReplicationGroup(replicas=1), ReplicationGroup(replicas=1)])
    with pytest.raises(ConfigurationError, match="regions"):
        GlobalDatastore(primary=east, secondaries=[west], regions=["a", "a"])
    gds = GlobalDatastore(primary=east, secondaries=[west])
    with pytest.raises(TopologyStateError, match="start"):
        gds.lag()


def test_promote_and_rejoin_refuse_the_wrong_region(gds):
    with pytest.raises(FailoverError, match="secondary"):
        gds.promote(gds.primary_region)
    with pytest.raises(FailoverError, match="detached"):
        gds.rejoin(gds.secondary_regions[0])
    with pytest.raises(ConfigurationError, match="not a Region"):
        gds.promote("mars-north-1")


def test_a_secondary_that_holds_data_is_refused_before_anything_changes():
    with ReplicationGroup(replicas=1) as east, ReplicationGroup(replicas=1) as west:
        west.client().set("local", "data")
        with pytest.raises(ConfigurationError, match="FLUSHALL"):
            GlobalDatastore(primary=east, secondaries=[west]).start()
        assert west.client().get("local") == "data" and west.upstream_port is None


def test_stop_ends_what_it_started_and_leaves_your_groups_running_and_writable():
    with ReplicationGroup(replicas=1) as east, ReplicationGroup(replicas=1) as west:
        with GlobalDatastore(primary=east, secondaries=[west]) as gds:
            link = gds.link()
        assert not link.running
        assert west.lifecycle is labkit.Lifecycle.RUNNING and west.upstream_port is None
        assert west.client().set("mine", "again"), "a group that was yours is writable on its own again"
    started = _small_datastore().start()
    nodes = [node for group in started.regions.values() for node in group.nodes]
    started.stop()
    assert not any(node.is_running() for node in nodes), "groups the datastore started are stopped with it"
    started.stop()  # idempotent


def test_repair_undoes_replicaof_sent_by_hand(gds):
    secondary = gds.secondary_regions[0]
    _stock(secondary.primary()).replicaof("no", "one")               # made writable by hand
    _stock(secondary.replicas()[0]).replicaof("no", "one")
    gds.cut_link()
    gds.repair()
    for node in secondary.nodes:
        with pytest.raises(redis.ReadOnlyError):
            _stock(node).set("k", "v")
    gds.primary_region.client().set("after", "repair")
    gds.wait_for_sync()
    assert _stock(secondary.primary()).get("after") == "repair"
    assert wait_until(lambda: _stock(secondary.replicas()[0]).get("after") == "repair", 5.0)


def test_set_upstream_refuses_a_port_of_its_own_group(gds):
    secondary = gds.secondary_regions[0]
    with pytest.raises(ConfigurationError, match="outside"):
        secondary.set_upstream(secondary.replicas()[0].port)
    with pytest.raises(ConfigurationError, match="TCP port"):
        secondary.set_upstream("6379")


# -- Regions of clusters (cluster mode enabled): a labkit replicator per shard -------------------------
def _stock_cluster(cluster) -> redis.RedisCluster:
    """A stock cluster client without credentials, as an application in that Region would have."""
    return redis.RedisCluster(host="127.0.0.1", port=cluster.primary(cluster.shards[0]).port, decode_responses=True, socket_timeout=2)


def test_two_clusters_replicate_shard_by_shard_and_the_secondary_refuses_writes():
    with GlobalDatastore(
        primary=labkit.Cluster(shards=2, replicas=1), secondaries=[labkit.Cluster(shards=2, replicas=0)], link_latency_ms=250,
    ) as gds:
        east, west = gds.primary_region, gds.secondary_regions[0]
        writer, reader = east.client(), _stock_cluster(west)
        try:
            writer.set("before", "start")
            gds.wait_for_sync()
            assert reader.get("before") == "start"
            with writer.pipeline(transaction=False) as pipe:
                for number in range(200):
                    pipe.set(f"order:{number}", "paid")
                pipe.execute()
            [lag] = gds.lag()
            assert lag.link_up and lag.lag_bytes > 0, "the writes are still on their way across a 250 ms link"
            assert sorted(shard for shard, _ in lag.shards) == east.shards
            gds.wait_for_sync()
            assert gds.lag()[0].lag_bytes == 0
            assert all(reader.get(f"order:{number}") == "paid" for number in range(200))
            assert sum(replicator.applied for replicator in gds.replicators()) >= 200
            with pytest.raises(redis.exceptions.NoPermissionError):
                reader.set("k", "v")
            assert reader.get("k") is None
            assert gds.table().splitlines()[1:] == [
                "region     role       nodes up  writes    link",
                "us-east-1  primary    4 of 4    accepted  -",
                "eu-west-1  secondary  2 of 2    refused   up",
            ]
            with pytest.raises(TopologyStateError, match="replication groups only"):
                gds.fail_region(east)
        finally:
            reader.close()


def test_a_cut_cluster_link_keeps_stale_reads_then_catches_up_and_promotion_makes_it_writable():
    with GlobalDatastore(
        primary=labkit.Cluster(shards=2, replicas=0), secondaries=[labkit.Cluster(shards=2, replicas=0)], link_latency_ms=20,
    ) as gds:
        east, west = gds.primary_region, gds.secondary_regions[0]
        writer, reader = east.client(), _stock_cluster(west)
        try:
            writer.set("price", "10")
            gds.wait_for_sync()
            gds.cut_link()
            writer.set("price", "12")
            for number in range(20):
                writer.set(f"during-cut:{number}", number)
            assert wait_until(lambda: not gds.lag()[0].link_up and gds.lag()[0].lag_bytes > 0, 5.0)
            assert reader.get("price") == "10", "stale, but the secondary keeps answering reads"
            gds.restore_link()
            gds.wait_for_sync(timeout=15)
            assert reader.get("price") == "12" and reader.get("during-cut:19") == "19"
            assert all(replicator.partial_syncs >= 1 and replicator.full_syncs == 1 for replicator in gds.replicators()), \
                "the replicators resumed with PSYNC <replid> <offset+1> (+CONTINUE), no second full sync"
            gds.promote(west)
            assert reader.set("price", "15") and reader.get("price") == "15"
            assert gds.roles() == {"us-east-1": "detached", "eu-west-1": "primary"}
            gds.rejoin(east)
            assert _stock_cluster_get(east, "price") == "15"
            with pytest.raises(redis.exceptions.NoPermissionError):
                _stock_cluster_set(east, "price", "16")
        finally:
            reader.close()
    threads = [thread.name for thread in threading.enumerate() if thread.name.startswith("labkit-replicator")]
    assert not threads, f"replicator threads left running: {threads}"


def _stock_cluster_get(cluster, key: str):
    client = _stock_cluster(cluster)
    try:
        return client.get(key)
    finally:
        client.close()


def _stock_cluster_set(cluster, key: str, value: str):
    client = _stock_cluster(cluster)
    try:
        return client.set(key, value)
    finally:
        client.close()

"""Failover on real servers: the replication group's Multi-AZ monitor, graceful and forced
failover, the data-loss experiment and its mitigations, and the cluster's failover modes."""

from __future__ import annotations

import time

import pytest
import redis

import labkit
from labkit import FailoverError, NodeStatus, Probe, Role
from labkit.errors import ConfigurationError, UnknownNodeError

from fault_support import eventually, role_of, started_pids  # noqa: F401  (fixture)


# -- replication group ---------------------------------------------------------------------------
def test_killed_primary_is_replaced_by_the_replica_with_the_least_lag(started_pids):
    with labkit.ReplicationGroup(replicas=2, failure_detection_s=0.5) as group:
        writer = group.primary_endpoint.client()
        lagging, fresh = group.replicas()
        group.partition(lagging)
        for number in range(50):
            writer.set(f"k{number}", number)
        offsets = {item.node: item.offset for item in group.replication_offsets()}
        assert offsets[fresh.name] > offsets[lagging.name]
        old = group.primary()
        group.kill(old)
        new = group.wait_for_failover()
        assert new is fresh
        assert role_of(fresh) == "master"
        assert group.primary_endpoint.addresses == [("127.0.0.1", fresh.port)]
        # the lagging replica now follows the new primary and catches up
        assert eventually(lambda: lagging.client().get("k49") == "49")
        assert writer.set("after", "1") and writer.get("k49") == "49"
        failover = [event for event in group.fault_log if event.action == "failover"]
        assert failover and fresh.name in failover[-1].detail and "offsets" in failover[-1].detail


def test_a_hung_primary_is_replaced_and_rejoins_as_a_replica_when_it_wakes_up(started_pids):
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b"), failure_detection_s=0.5) as group:
        old = group.primary()
        group.pause(old)
        new = group.wait_for_failover()
        assert new is not old
        group.resume(old)
        assert eventually(lambda: role_of(old) == "slave")
        group.primary_endpoint.client().set("k", "v")
        assert eventually(lambda: old.client().get("k") == "v")
        assert "rejoin" in [event.action for event in group.fault_log]


def test_without_automatic_failover_nothing_is_promoted_and_writes_stay_down(started_pids):
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b"), automatic_failover=False, failure_detection_s=0.2) as group:
        old = group.primary()
        writer = group.primary_endpoint.client(socket_connect_timeout=0.3)
        group.kill(old)
        time.sleep(1.0)  # five detection periods: a monitor would long have acted
        assert group.primary() is old
        assert all(role_of(node) == "slave" for node in group.replicas())
        with pytest.raises(redis.ConnectionError):
            writer.set("k", "v")
        with pytest.raises(FailoverError, match="Automatic failover is off"):
            group.wait_for_failover(timeout=0.2)
        group.restart(old)  # back as an (empty) primary: writes work again
        assert writer.set("k", "v")


def test_graceful_test_failover_swaps_roles_and_loses_no_acknowledged_write(started_pids):
    with labkit.ReplicationGroup(replicas=2) as group:
        old = group.primary()
        with Probe(group.primary_endpoint) as probe:
            _writes_after(probe, 0, 30)
            new = group.test_failover()
            _writes_after(probe, time.time(), 20)
        result = probe.result
        assert new is not old and new.role is Role.PRIMARY and old.role is Role.REPLICA
        assert role_of(old) == "slave" and role_of(new) == "master"
        assert result.acknowledged_writes >= 50  # 30 before the failover, 20 after
        assert result.acknowledged_writes_lost == 0


def test_a_lagging_replica_promoted_loses_exactly_the_writes_it_never_received(started_pids):
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b"), failure_detection_s=0.3) as group:
        writer = group.primary_endpoint.client()
        for number in range(20):
            writer.set(f"before:{number}", number)
        assert writer.wait(1, 2000) == 1
        group.partition(group.replicas()[0])
        probe = Probe(group.primary_endpoint, read=False).start()
        eventually(lambda: len(probe.operations) >= 30)
        group.kill(group.primary())
        killed_at = time.time()
        group.wait_for_failover()
        _writes_after(probe, time.time(), 5)
        result = probe.stop()
        acknowledged_by_old_primary = sum(1 for op in result.writes if op.ok and op.time < killed_at)
        assert acknowledged_by_old_primary >= 30
        assert result.acknowledged_writes_lost == acknowledged_by_old_primary
        assert result.acknowledged_writes > acknowledged_by_old_primary  # writes after the failover survive
        assert all(writer.get(f"before:{number}") == str(number) for number in range(20))


def test_min_replicas_to_write_turns_would_be_losses_into_refused_writes(started_pids):
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b"), failure_detection_s=0.3, min_replicas_to_write=1) as group:
        group.partition(group.replicas()[0])
        probe = Probe(group.primary_endpoint, read=False).start()
        eventually(lambda: len(probe.operations) >= 30)
        group.kill(group.primary())
        group.wait_for_failover()
        group.set_durability(min_replicas_to_write=0)  # the new primary has no replica left to count
        _writes_after(probe, time.time(), 5)
        result = probe.stop()
        assert result.errors_by_kind.get("NOREPLICAS", 0) >= 30
        assert result.refused_writes >= 30
        assert result.acknowledged_writes_lost == 0


def test_bad_replication_group_failover_requests_raise_clear_errors(started_pids):
    with pytest.raises(ConfigurationError, match="replica"):
        labkit.ReplicationGroup(replicas=0, automatic_failover=True)
    assert labkit.ReplicationGroup(replicas=0).automatic_failover is False
    with pytest.raises(ConfigurationError, match="failure_detection_s"):
        labkit.ReplicationGroup(failure_detection_s=0)
    with pytest.raises(ConfigurationError, match="min_replicas_to_write"):
        labkit.ReplicationGroup(min_replicas_to_write=-1)
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b")) as group:
        with pytest.raises(FailoverError, match="already the primary"):
            group.failover(to=group.primary())
        with pytest.raises(FailoverError, match="mode"):
            group.failover(mode="sideways")
        with pytest.raises(FailoverError, match="cluster mode"):
            group.failover(mode="takeover")
        with pytest.raises(ConfigurationError, match="primary"):
            group.partition(group.primary())
        group.kill(group.primary())
        with pytest.raises(FailoverError, match="force"):
            group.failover(mode="graceful")


def test_forced_failover_promotes_the_named_replica(started_pids):
    with labkit.ReplicationGroup(replicas=2) as group:
        target = group.replicas()[1]
        assert group.failover(to=target, mode="force") is target
        assert role_of(target) == "master"
        assert eventually(lambda: all(role_of(node) == "slave" for node in group.nodes if node is not target))


# -- cluster ---------------------------------------------------------------------------------------
def test_cluster_primary_killed_is_replaced_by_the_engine_and_logged(started_pids, cluster_3x1):
    cluster = cluster_3x1
    logged = len(cluster.fault_log)
    old = cluster.primary(1)
    replica = cluster.replicas(1)[0]
    cluster.kill(old)
    assert cluster.wait_for_failover(1) is replica
    assert role_of(replica) == "master"
    assert any(event.action == "promoted" and event.target == replica.name for event in cluster.fault_log[logged:])


@pytest.mark.parametrize("mode", ["graceful", "force", "takeover"])
def test_cluster_manual_failover_modes_promote_a_replica(started_pids, mode, cluster_3x1):
    cluster = cluster_3x1
    client = cluster.client()
    for number in range(100):
        client.set(f"k{number}", number)
    old, replica = cluster.primary(0), cluster.replicas(0)[0]
    assert cluster.failover(0, mode=mode) is replica
    assert cluster.primary(0) is replica and old.role is Role.REPLICA
    assert eventually(lambda: role_of(old) == "slave")
    assert all(client.get(f"k{number}") == str(number) for number in range(100))
    assert cluster.fault_log[-1].action == "failover" and mode in cluster.fault_log[-1].detail


def test_cluster_test_failover_loses_no_acknowledged_write(started_pids, cluster_3x1):
    cluster = cluster_3x1
    with Probe(cluster) as probe:
        _writes_after(probe, 0, 30)
        cluster.test_failover(0)
        _writes_after(probe, time.time(), 20)
    assert probe.result.acknowledged_writes >= 50  # 30 before the failover, 20 after
    assert probe.result.acknowledged_writes_lost == 0


def _writes_after(probe, moment: float, count: int) -> None:
    """Wait until the probe has `count` acknowledged writes after `moment` (instead of a fixed sleep)."""
    eventually(lambda: sum(1 for op in probe.operations if op.kind == "write" and op.ok and op.time > moment) >= count)


def test_cluster_failover_bad_input(started_pids):
    with labkit.Cluster(shards=2, replicas=0, azs=("az-a", "az-b")) as cluster:
        with pytest.raises(UnknownNodeError, match="shards are"):
            cluster.failover(7)
        with pytest.raises(FailoverError, match="no replica"):
            cluster.failover(0)
        with pytest.raises(FailoverError, match="mode"):
            cluster.failover(0, mode="gently")


def test_cluster_az_failure_reports_the_shards_that_lost_writes_and_every_key_stays_readable(started_pids, cluster_3x1):
    cluster = cluster_3x1
    client = cluster.client()
    keys = [f"key:{number}" for number in range(300)]
    for key in keys:
        client.set(key, key)
    failing = cluster.primary(0).az
    lost_shards = tuple(sorted(s for s in cluster.shards if cluster.primary(s).az == failing))
    report = cluster.fail_az(failing)
    assert report.shards_that_lost_writes == lost_shards
    assert all(outage is not None and 0.5 < outage < 15 for outage in report.write_outage_s.values())
    survivors = [node for node in cluster.nodes if node.status is NodeStatus.UP]
    assert all(node.az != failing for node in survivors)
    readable = set()
    for node in survivors:
        with node.client(readonly=True) as reader:
            readable.update(reader.keys("key:*"))
    assert readable == set(keys)  # 100 % of the keys, from the nodes still up
    assert all(client.get(key) == key for key in keys)
    restored = cluster.restore_az(failing)
    assert all(node.role is Role.REPLICA and role_of(node) == "slave" for node in restored)


def test_wait_for_a_replica_means_no_acknowledged_write_is_lost(started_pids):
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b"), failure_detection_s=0.3) as group:
        group.partition(group.replicas()[0])
        probe = Probe(group.primary_endpoint, read=False, wait_for_replicas=1, wait_timeout_ms=20).start()
        eventually(lambda: len(probe.operations) >= 10)
        group.kill(group.primary())
        group.wait_for_failover()
        result = probe.stop()
        assert result.errors_by_kind.get("not replicated", 0) >= 10  # written on the old primary, never confirmed
        assert result.acknowledged_writes_lost == 0


def test_replication_lag_grows_while_a_replica_is_paused_and_offsets_show_who_is_ahead(started_pids):
    with labkit.ReplicationGroup(replicas=2, failure_detection_s=0.5) as group:
        slow, fast = group.replicas()
        writer = group.primary_endpoint.client()
        with group.paused(slow):
            for number in range(200):
                writer.set(f"k{number}", "x" * 100)
            assert writer.wait(1, 2000) >= 1
            lags = {lag.node: lag for lag in group.replication_lag()}
            assert lags[slow.name].lag_bytes > 200 * 100
            assert lags[fast.name].lag_bytes < lags[slow.name].lag_bytes
            assert [item.node for item in group.replication_offsets()] == [fast.name]  # the paused one cannot answer
        assert eventually(lambda: max(lag.lag_bytes for lag in group.replication_lag()) == 0 or writer.wait(2, 100) == 2)


def test_a_cluster_accepts_the_engines_realistic_node_timeout(started_pids):
    with labkit.Cluster(shards=1, replicas=1, azs=("az-a", "az-b"), node_timeout_ms=15000) as cluster:
        assert all(node.client().config_get("cluster-node-timeout")["cluster-node-timeout"] == "15000" for node in cluster.nodes)
        assert cluster.failover(0) is cluster.primary(0)  # a manual failover does not wait for the timeout


def test_failover_and_scaling_also_work_on_redis_oss(started_pids, redis_oss_server):
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b"), server=redis_oss_server, failure_detection_s=0.3) as group:
        assert group.engine.display_name.startswith("Redis")
        old = group.primary()
        group.kill(old)
        assert group.wait_for_failover() is not old
        assert group.primary_endpoint.client().set("k", "v")
        group.restart(old)
        assert group.test_failover() is old
        assert group.primary_endpoint.client().get("k") == "v"
    with labkit.Cluster(shards=2, replicas=1, azs=("az-a", "az-b"), server=redis_oss_server) as cluster:
        cluster.client().set("k", "v")
        cluster.failover(0)
        with Probe(cluster) as probe:
            cluster.add_shard()
        assert probe.result.failed == [] and cluster.client().get("k") == "v"

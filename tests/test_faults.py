"""Faults on real servers: kill, pause/resume, restart, fail_az/restore_az, their context managers,
the fault log, and the errors for bad input."""

from __future__ import annotations

import dataclasses

import pytest
import redis

import labkit
from labkit import FaultEvent, NodeStatus, Role
from labkit.errors import ConfigurationError, TopologyStateError, UnknownNodeError

from fault_support import eventually, role_of, started_pids  # noqa: F401  (fixture)


def test_kill_stops_the_process_and_restart_brings_it_back_on_the_same_port_and_directory(started_pids):
    with labkit.Standalone() as lab:
        node = lab.node0
        port, datadir, first_pid = node.port, node.datadir, node.pid
        lab.kill(node)
        assert node.status is NodeStatus.DOWN
        assert not node.is_running()
        with pytest.raises(redis.ConnectionError):
            node.client(socket_connect_timeout=0.5).ping()
        lab.restart(node)
        assert (node.port, node.datadir) == (port, datadir)
        assert node.pid != first_pid
        assert node.status is NodeStatus.UP
        assert node.client().ping()
        assert [event.action for event in lab.fault_log] == ["kill", "restart"]
        assert lab.fault_log[0].target == node.name


def test_pause_makes_a_node_hang_while_holding_its_port_and_resume_undoes_it(started_pids):
    with labkit.Standalone() as lab:
        node = lab.node0
        node.client().set("k", "v")
        lab.pause(node)
        assert node.status is NodeStatus.PAUSED and node.is_running()
        with pytest.raises(redis.TimeoutError):
            node.client(socket_timeout=0.2).get("k")
        lab.resume(node)
        assert node.status is NodeStatus.UP
        assert node.client().get("k") == "v"


def test_context_managers_undo_their_fault_on_exit(started_pids):
    with labkit.Standalone() as lab:
        node = lab.node0
        with lab.paused(node):
            assert node.status is NodeStatus.PAUSED
        assert node.status is NodeStatus.UP and node.client().ping()
        with lab.killed(node):
            assert node.status is NodeStatus.DOWN
        assert node.status is NodeStatus.UP and node.client().ping()
        with lab.restarting(node):
            assert not node.is_running()
        assert node.client().ping()
        actions = [event.action for event in lab.fault_log]
        assert actions == ["pause", "resume", "kill", "restart", "stop", "restart"]


def test_fault_events_are_frozen_and_print_as_one_line(started_pids):
    with labkit.Standalone() as lab:
        lab.kill(lab.node0)
        event = lab.fault_log[0]
        assert isinstance(event, FaultEvent)
        assert {field.name for field in dataclasses.fields(event)} == {"time", "action", "target", "detail"}
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.action = "other"  # type: ignore[misc]
        assert "kill" in str(event) and "\n" not in str(event)
        assert "kill" in lab.fault_log_text()


def test_bad_faults_raise_errors_that_say_what_to_do(started_pids):
    with labkit.Standalone() as lab:
        with pytest.raises(UnknownNodeError, match="not a node"):
            lab.kill(1)
        with pytest.raises(TopologyStateError, match="not paused"):
            lab.resume(lab.node0)
        lab.pause(lab.node0)
        with pytest.raises(TopologyStateError, match="already paused"):
            lab.pause(lab.node0)
        lab.resume(lab.node0)
        lab.kill(lab.node0)
        with pytest.raises(TopologyStateError, match="restart"):
            lab.kill(lab.node0)
        with pytest.raises(TopologyStateError, match="restart"):
            lab.pause(lab.node0)
        with pytest.raises(ConfigurationError, match="az-a"):
            lab.fail_az("az-z")
    with pytest.raises(TopologyStateError, match="start"):
        lab.kill(lab.node0)


def test_restarted_replica_rejoins_its_primary_and_gets_the_data_back(started_pids):
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b")) as group:
        group.primary_endpoint.client().set("k", "v")
        replica = group.replicas()[0]
        group.kill(replica)
        assert group.reader_endpoint.addresses == [("127.0.0.1", group.primary().port)]  # no replica left: the primary
        group.primary_endpoint.client().set("written-while-down", "1")
        group.restart(replica)
        assert replica.role is Role.REPLICA and role_of(replica) == "slave"
        assert replica.client().get("written-while-down") == "1"
        assert group.reader_endpoint.addresses == [("127.0.0.1", replica.port)]


def test_failing_a_replica_only_az_loses_no_writes_and_restore_brings_the_replica_back(started_pids):
    with labkit.ReplicationGroup(replicas=2) as group:
        replica_az = group.replicas()[0].az
        report = group.fail_az(replica_az)
        assert report.shards_that_lost_writes == ()
        assert report.killed == (group.replicas()[0].name,)
        assert "no shard lost its primary" in str(report)
        group.primary_endpoint.client().set("k", "v")
        restored = group.restore_az(replica_az)
        assert [node.status for node in restored] == [NodeStatus.UP]
        assert restored[0].client().get("k") == "v"
        assert [event.action for event in group.fault_log][:2] == ["fail_az", "restore_az"]


def test_failing_the_primarys_az_promotes_a_replica_elsewhere_and_reports_the_outage(started_pids):
    with labkit.ReplicationGroup(replicas=2, failure_detection_s=0.5) as group:
        old = group.primary()
        group.primary_endpoint.client().set("k", "v")
        with group.az_failed(old.az) as report:
            assert report.shards_that_lost_writes == (0,)
            # At least about the 0.5 s detection time (the clock starts a moment after the kill).
            assert 0.45 <= report.write_outage_s[0] < 10
            new = group.primary()
            assert new is not old and new.az != old.az
            assert report.new_primaries == {0: new.name}
            assert group.primary_endpoint.client().get("k") == "v"
        assert old.status is NodeStatus.UP and old.role is Role.REPLICA
        assert eventually(lambda: role_of(old) == "slave" and old.client().get("k") == "v")


def test_cluster_restart_of_a_killed_primary_waits_for_the_failover_then_rejoins_as_replica(started_pids, cluster_3x1):
    cluster = cluster_3x1
    logged = len(cluster.fault_log)
    client = cluster.client()
    client.set("{0}k", "v")
    shard = cluster.client().keyslot("{0}k")
    shard = next(s for s in cluster.shards if shard in _slots_of(cluster, s))
    old = cluster.primary(shard)
    cluster.kill(old)
    cluster.restart(old)
    assert old.role is Role.REPLICA and role_of(old) == "slave"
    assert cluster.primary(shard) is not old
    assert client.get("{0}k") == "v"
    assert "promoted" in [event.action for event in cluster.fault_log[logged:]]


def _slots_of(cluster, shard):
    first_port = cluster.primary(shard).port
    slots = set()
    for first, last, primary, *_ in cluster.primary(0).client().execute_command("CLUSTER", "SLOTS"):
        if int(primary[1]) == first_port:
            slots.update(range(int(first), int(last) + 1))
    return slots


def test_an_az_failure_and_recovery_can_leave_primaries_out_of_the_placement_rules(started_pids, cluster_3x1):
    cluster = cluster_3x1
    assert cluster.placement_problems() == []
    cluster.fail_az("az-a")
    cluster.restore_az("az-a")
    problems = cluster.placement_problems()
    assert any("primaries are not spread" in problem for problem in problems), problems
    # a graceful failover back puts shard 0's primary in az-a again
    cluster.failover(0, to=next(node for node in cluster.replicas(0) if node.az == "az-a"))
    assert cluster.placement_problems() == []
    with labkit.Standalone() as lab:
        assert lab.placement_problems() == ["shard 0: no replica, so losing its primary loses its data and its writes"]

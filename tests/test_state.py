"""labkit.state on real servers: roles, status, lag, slots and keys as the servers report them."""

from __future__ import annotations

import functools
import re
import signal

import pytest
import redis
from redis.crc import key_slot

import labkit
from fault_support import eventually
from labkit.errors import ConfigurationError
from labkit.node import NodeStatus, Role
from labkit.state import SLOT_COUNT, Migration, snapshot, stream_state


wait_for = functools.partial(eventually, timeout=15.0, interval=0.02)


def test_cluster_state_lists_every_node_with_role_shard_az_and_linked_primary(cluster):
    state = cluster.state()
    assert state.kind == "cluster" and state.cluster_state == "ok"
    assert len(state.nodes) == 9
    assert {node.status for node in state.nodes} == {NodeStatus.UP}
    assert len(state.primaries()) == 3
    for node in state.nodes:
        recorded = cluster.node(node.name)
        assert (node.shard, node.az, node.port) == (recorded.shard, recorded.az, recorded.port)
        if node.role is Role.REPLICA:
            assert node.primary_port == cluster.primary(node.shard).port
            assert node.link_up is True
        assert node.failed_over is False
    # Sorted by shard, then primary before replicas, then AZ.
    order = [(node.shard, node.role is Role.REPLICA, node.az) for node in state.nodes]
    assert order == sorted(order)


def test_every_slot_is_owned_once_and_by_its_shards_primary(cluster):
    state = cluster.state()
    owners = state.slot_owners()
    assert len(owners) == SLOT_COUNT and None not in owners
    assert sum(state.slots_per_shard().values()) == SLOT_COUNT
    assert state.node("shard-0-primary").slots == ((0, 5460),)
    assert owners[0] == 0 and owners[16383] == 2
    assert all(node.slots == () for node in state.nodes if node.role is Role.REPLICA)


def test_keys_per_shard_are_the_primaries_key_counts(cluster):
    client = cluster.client()
    client.flushall()
    for number in range(120):
        client.set(f"user:{number}", number)
    for shard in cluster.shards:
        cluster.primary(shard).client().execute_command("WAIT", 2, 2000)
    state = cluster.state()
    expected = {shard: cluster.primary(shard).client().dbsize() for shard in cluster.shards}
    assert state.keys_per_shard() == expected
    assert sum(expected.values()) == 120
    for node in state.nodes:
        assert node.keys == expected[node.shard]
        assert node.memory_used_bytes > 0 and node.connected_clients >= 1 and node.ops_per_sec is not None
        assert node.replication_offset > 0
    client.close()


def test_text_form_has_no_ports_and_does_not_change_while_nothing_happens(cluster):
    first, second = str(cluster.state()), str(cluster.state())
    assert first == second
    for node in cluster.nodes:
        assert str(node.port) not in first
    lines = first.splitlines()
    assert lines[0] == "cluster · 3 shards · 9 nodes, 9 up · cluster_state ok"
    assert lines[1].split() == ["node", "role", "shard", "az", "status", "link", "slots", "keys"]
    assert re.match(r"shard-0-primary\s+primary\s+0\s+az-a\s+up\s+-\s+0-5460\s+\d+$", lines[2])
    detailed = cluster.state().table(details=True)
    assert "lag_bytes" in detailed and "ops/sec" in detailed


def test_a_silent_process_is_paused_and_its_lag_grows_until_it_resumes():
    with labkit.ReplicationGroup(replicas=2) as group:
        replica = group.replicas()[0]
        client = group.client()
        replica.signal(signal.SIGSTOP)  # labkit does not know: the snapshot must find out by timing out
        try:
            for number in range(200):
                client.set(f"k{number}", "x" * 100)
            state = group.state()
            paused = state.node(replica.name)
            assert paused.status is NodeStatus.PAUSED
            assert paused.keys is None
            assert paused.replication_lag_bytes > 20_000  # what the primary saw it acknowledge
            other = state.node(group.replicas()[1].name)
            assert other.status is NodeStatus.UP
            assert "2 up" in state.summary()
        finally:
            replica.signal(signal.SIGCONT)
        caught_up = wait_for(lambda: (s := group.state()).node(replica.name).replication_lag_bytes == 0 and s)
        assert caught_up.node(replica.name).status is NodeStatus.UP
        assert caught_up.node(replica.name).keys == 200


def test_a_killed_node_is_down():
    with labkit.ReplicationGroup(replicas=1) as group:
        replica = group.replicas()[0]
        replica.kill()
        state = group.state()
        assert state.node(replica.name).status is NodeStatus.DOWN
        assert state.node("primary").status is NodeStatus.UP
    stopped = group.state()
    assert stopped.node("primary").status is NodeStatus.STOPPED
    assert stopped.node(replica.name).status is NodeStatus.DOWN  # it died before the lab was stopped


def test_roles_after_a_failover_come_from_the_servers(small_cluster):
    old_primary = small_cluster.primary(0)
    replica = small_cluster.replicas(0)[0]
    old_slots = small_cluster.state().node(old_primary.name).slots
    replica.client().execute_command("CLUSTER", "FAILOVER")
    state = wait_for(lambda: (s := small_cluster.state()).primary(0) is not None and s.primary(0).name == replica.name
                     and s.node(old_primary.name).role is Role.REPLICA and s.node(old_primary.name).link_up and s)
    promoted, demoted = state.node(replica.name), state.node(old_primary.name)
    assert promoted.failed_over and demoted.failed_over
    assert promoted.slots == old_slots and demoted.slots == ()
    assert demoted.primary_port == promoted.port
    assert "primary (failed over)" in str(state)


def move_slots(cluster, slots, source, target, finish=True):
    """Move `slots` from shard `source` to shard `target` as redis-cli --cluster reshard does."""
    source_node, target_node = cluster.primary(source), cluster.primary(target)
    source_id, target_id = cluster.node_id(source_node), cluster.node_id(target_node)
    with source_node.client() as from_client, target_node.client() as to_client:
        for slot in slots:
            to_client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            from_client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            if not finish:
                continue
            keys = from_client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
            if keys:
                from_client.execute_command("MIGRATE", "127.0.0.1", target_node.port, "", 0, 5000, "KEYS", *keys)
            to_client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
            from_client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)


def keys_in_slots(slots, count):
    found, number = [], 0
    while len(found) < count:
        key = f"item:{number}"
        if key_slot(key.encode()) in slots:
            found.append(key)
        number += 1
    return found


def test_slots_and_keys_after_a_reshard(small_cluster):
    moved = range(0, 12)
    keys = keys_in_slots(set(moved), 6)
    client = small_cluster.client()
    for key in keys:
        client.set(key, "v")
    before = small_cluster.state()
    assert before.slots_per_shard() == {0: 8192, 1: 8192}

    move_slots(small_cluster, [0], 0, 1, finish=False)
    during = small_cluster.state()
    assert Migration(slot=0, source_shard=0, target_shard=1) in during.migrations
    assert "1 slots migrating" in during.summary()

    move_slots(small_cluster, moved, 0, 1)
    after = wait_for(lambda: (s := small_cluster.state()).slots_per_shard() == {0: 8180, 1: 8204} and not s.migrations and s)
    owners = after.slot_owners()
    assert all(owners[slot] == 1 for slot in moved) and owners[12] == 0
    assert after.node(small_cluster.primary(1).name).slots[0] == (0, 11)
    assert after.keys_per_shard()[1] == before.keys_per_shard()[1] + len(keys)
    client.close()


def test_standalone_state_has_one_primary_without_shard_or_slots(standalone):
    state = snapshot(standalone)
    (node,) = state.nodes
    assert state.kind == "standalone" and node.role is Role.PRIMARY and node.shard is None and node.slots == ()
    assert state.primary() == node
    assert "standalone · 1 nodes, 1 up" in str(state)


def test_snapshot_refuses_what_is_not_a_topology():
    with pytest.raises(ConfigurationError, match="labkit topology"):
        snapshot("localhost:6379")


def test_stream_state_reads_groups_consumers_and_pending(fresh_client):
    r = fresh_client
    assert stream_state(r, "orders").length == 0
    for number in range(5):
        r.xadd("orders", {"n": number}, id=f"1-{number + 1}")
    r.xgroup_create("orders", "billing", id="0")
    r.xgroup_create("orders", "audit", id="0")
    r.xreadgroup("billing", "w1", {"orders": ">"}, count=3)
    r.xreadgroup("billing", "w2", {"orders": ">"}, count=1)
    r.xack("orders", "billing", "1-1")
    state = stream_state(r, "orders")
    assert state.length == 5 and state.last_id == "1-5" and state.first_id == "1-1"
    billing = {group.name: group for group in state.groups}["billing"]
    assert billing.pending == 3 and billing.last_delivered_id == "1-4"
    assert [(c.name, c.pending) for c in billing.consumers] == [("w1", 2), ("w2", 1)]
    text = str(state)
    assert text.splitlines()[0] == "stream orders: 5 entries, last id 1-5"
    assert "consumer w1: 2 pending" in text and "idle" not in text
    r.set("plain", "x")
    with pytest.raises(ConfigurationError, match="not a stream"):
        stream_state(r, "plain")


def test_state_keeps_working_when_a_node_refuses_connections(small_cluster):
    replica = small_cluster.replicas(1)[0]
    replica.kill()
    state = small_cluster.state()
    assert state.node(replica.name).status is NodeStatus.DOWN
    assert sum(state.slots_per_shard().values()) == SLOT_COUNT
    with pytest.raises(redis.ConnectionError):
        replica.client(socket_connect_timeout=0.2).ping()

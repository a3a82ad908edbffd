"""Scaling on real servers: add_shard online with no failed client operation, remove_shard,
rebalance, scale_up with every key and TTL; and the slot planner's arithmetic."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import redis

import labkit
from labkit import Probe, Role, placement_problems
from labkit.errors import ConfigurationError, TopologyStateError, UnknownNodeError
from labkit.reaper import is_our_server
from labkit.scaling import balanced_targets, plan_moves

from fault_support import started_pids  # noqa: F401  (fixture)


def _fill(client, count: int) -> list[str]:
    keys = [f"user:{number}" for number in range(count)]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.set(key, key)
    pipe.execute()
    return keys


@pytest.fixture(scope="module")
def _plain_cluster():
    with labkit.Cluster(shards=3, replicas=0, config={"maxmemory": "32mb"}) as cluster:
        yield cluster


@pytest.fixture()
def plain_cluster(_plain_cluster):
    """3 shards without replicas, shared by the tests that do not change its shape; empty before each."""
    for primary in _plain_cluster.primaries():
        with primary.client() as client:
            client.flushall()
    return _plain_cluster


# -- planner (pure logic) --------------------------------------------------------------------------
def test_the_planner_moves_just_enough_slots_to_balance():
    a, b, c = object(), object(), object()
    owners = {slot: (a if slot < 8192 else b) for slot in range(16384)}
    targets = balanced_targets([a, b, c])  # type: ignore[list-item]
    assert sorted(targets.values()) == [5461, 5461, 5462]
    moves = plan_moves(owners, targets)  # type: ignore[arg-type]
    assert len(moves) == targets[c]
    assert {target for _slot, _source, target in moves} == {c}
    after = dict(owners)
    for slot, _source, target in moves:
        after[slot] = target
    assert {node: list(after.values()).count(node) for node in (a, b, c)} == targets
    assert plan_moves(after, targets) == []


# -- real clusters ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["auto", "keys"])
def test_add_shard_online_moves_a_balanced_share_and_no_client_operation_fails(started_pids, method):
    with labkit.Cluster(shards=3, replicas=1) as cluster:
        client = cluster.client()
        keys = _fill(client, 2000)
        with Probe(cluster) as probe:  # labkit's cluster client: it follows ASK to the new shard too
            shard = cluster.add_shard(method=method)
        result = probe.result
        assert shard == 3 and cluster.shards == [0, 1, 2, 3]
        assert cluster.slot_counts() == {0: 4096, 1: 4096, 2: 4096, 3: 4096}
        assert result.failed == [] and result.acknowledged_writes_lost == 0
        assert len(result.writes) > 20 and len(result.reads) > 20
        assert all(value == key for key, value in zip(keys, client.mget_nonatomic(keys)))
        layout = [(cluster.primary(s).az, [r.az for r in cluster.replicas(s)]) for s in cluster.shards]
        assert placement_problems(layout, cluster.azs) == []
        new_keys = cluster.primary(3).client().dbsize()
        assert 300 < new_keys  # about a quarter of the keys moved to the new shard
        actions = [event.action for event in cluster.fault_log]
        assert "add_shard" in actions and "move_slots" in actions and "rebalance" in actions
        how = "atomic" if method == "auto" and cluster.supports_atomic_slot_migration() else "key by key"
        assert all(how in event.detail for event in cluster.fault_log if event.action == "move_slots")


def test_remove_shard_moves_its_slots_away_and_stops_its_nodes(started_pids):
    with labkit.Cluster(shards=3, replicas=1) as cluster:
        client = cluster.client()
        keys = _fill(client, 1000)
        leaving = [node for node in cluster.nodes if node.shard == 1]
        with Probe(cluster) as probe:
            cluster.remove_shard(1)
        assert cluster.shards == [0, 2]
        assert sorted(cluster.slot_counts().values()) == [8192, 8192]
        assert probe.result.failed == [] and probe.result.acknowledged_writes_lost == 0
        assert all(client.get(key) == key for key in keys)  # single-key commands follow MOVED and refresh
        assert cluster.client().mget_nonatomic(keys) == keys
        assert all(node not in cluster.nodes and not is_our_server(node.pid, node.port) for node in leaving)
        for node in cluster.nodes:  # nobody remembers the removed nodes
            assert len(node.client().execute_command("CLUSTER", "NODES").splitlines()) == len(cluster.nodes)


def test_rebalance_fills_an_empty_new_shard_and_then_has_nothing_to_do(started_pids):
    with labkit.Cluster(shards=2, replicas=0, azs=("az-a", "az-b")) as cluster:
        keys = _fill(cluster.client(), 500)
        shard = cluster.add_shard(rebalance=False)
        assert cluster.slot_counts()[shard] == 0
        moved = cluster.rebalance()
        assert moved == 16384 // 3
        assert sorted(cluster.slot_counts().values()) == [5461, 5461, 5462]
        assert cluster.rebalance() == 0
        assert cluster.client().mget_nonatomic(keys) == keys


def test_scaling_bad_input_raises_clear_errors(started_pids, monkeypatch):
    with labkit.Cluster(shards=1, replicas=1, azs=("az-a", "az-b")) as cluster:
        with pytest.raises(ConfigurationError, match="last shard"):
            cluster.remove_shard(0)
        with monkeypatch.context() as patch:
            patch.setattr("labkit.topology.cluster.max_shards", lambda replicas: 1)
            with pytest.raises(ConfigurationError, match="free memory"):
                cluster.add_shard()
        assert cluster.shards == [0] and len(cluster.nodes) == 2
        with pytest.raises(UnknownNodeError, match="shards are"):
            cluster.remove_shard(5)
        cluster.kill(cluster.replicas(0)[0])
        with pytest.raises(TopologyStateError, match="restart"):
            cluster.add_shard()


def test_scale_up_copies_every_key_with_its_ttl_into_bigger_nodes(started_pids, plain_cluster):
    cluster = plain_cluster
    client = cluster.client()
    keys = _fill(client, 300)
    client.set("session", "abc", ex=300)
    client.hset("profile", mapping={"name": "Ada", "lang": "en"})
    bigger = cluster.scale_up(config={"maxmemory": "64mb"})
    try:
        new = bigger.client()
        assert bigger.lifecycle is labkit.Lifecycle.RUNNING and bigger is not cluster
        assert new.mget_nonatomic(keys) == keys
        assert new.hgetall("profile") == {"name": "Ada", "lang": "en"}
        assert 0 < new.ttl("session") <= 300 and new.ttl("user:0") == -1
        assert bigger.copied_keys == 302
        assert all(node.client().config_get("maxmemory")["maxmemory"] == str(64 * 2**20) for node in bigger.nodes)
        assert client.get("user:1") == "user:1"  # the old cluster is untouched until the cut-over
        assert bigger.fault_log[-1].action == "scale_up"
    finally:
        bigger.stop()


def test_scale_up_of_a_replication_group_keeps_its_shape(started_pids):
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b")) as group:
        group.primary_endpoint.client().set("k", "v", px=60_000)
        with group.scale_up(config={"maxmemory": "96mb"}) as bigger:
            assert isinstance(bigger, labkit.ReplicationGroup) and len(bigger.replicas()) == 1
            assert bigger.primary_endpoint.client().get("k") == "v"
            assert bigger.primary_endpoint.client().pttl("k") > 0
            assert [node.role for node in bigger.nodes].count(Role.PRIMARY) == 1


def test_hash_tag_for_puts_keys_in_the_chosen_shard(started_pids, plain_cluster):
    cluster = plain_cluster
    for shard in cluster.shards:
        tag = cluster.hash_tag_for(shard)
        cluster.client().set(f"{tag}:key", "v")
        assert cluster.primary(shard).client().get(f"{tag}:key") == "v"
    assert cluster.keys_per_shard() == {0: 1, 1: 1, 2: 1}
    with pytest.raises(UnknownNodeError):
        cluster.hash_tag_for(9)


def test_a_slot_held_half_way_shows_ask_to_a_plain_client_and_moves_on_exit(started_pids, plain_cluster):
    cluster = plain_cluster
    client = cluster.client()
    tag = cluster.hash_tag_for(0)
    client.set(f"{tag}:here", "1")
    slot = client.keyslot(f"{tag}:here")
    with cluster.slot_migrating(slot, 1) as (source, target):
        assert source is cluster.primary(0) and target is cluster.primary(1)
        assert source.client().get(f"{tag}:here") == "1"  # still on the source: served there
        with pytest.raises(redis.exceptions.AskError):
            source.client().get(f"{tag}:not-here")  # not on the source: ask the target
        assert client.set(f"{tag}:new", "2")  # the cluster client follows ASK by itself
    assert cluster.primary(1).client().get(f"{tag}:here") == "1"
    with pytest.raises(redis.exceptions.MovedError):
        source.client().get(f"{tag}:here")
    with pytest.raises(ConfigurationError, match="already in shard"):
        with cluster.slot_migrating(slot, 1):
            pass


def test_a_slot_move_waits_out_a_replica_too_slow_to_acknowledge(started_pids, monkeypatch):
    monkeypatch.setattr("labkit.scaling.SETSLOT_REPLICA_TIMEOUT_MS", 200)
    with labkit.Cluster(shards=2, replicas=1, azs=("az-a", "az-b")) as cluster:
        client = cluster.client()
        tag = cluster.hash_tag_for(0)
        client.set(f"{tag}:k", "v")
        slot = client.keyslot(f"{tag}:k")
        slow = cluster.replicas(1)[0]
        # The target's replica hangs for 0.3 s without labkit knowing (as on an overloaded machine):
        # Valkey >= 8 refuses SETSLOT after 200 ms (NOREPLICAS) and labkit tries again.
        os.kill(slow.pid, signal.SIGSTOP)
        threading.Timer(0.3, os.kill, args=(slow.pid, signal.SIGCONT)).start()
        with cluster.slot_migrating(slot, 1):
            pass
        assert cluster.primary(1).client().get(f"{tag}:k") == "v"

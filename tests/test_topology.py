"""Standalone, ReplicationGroup and Cluster on real servers: shape, readiness, AZs, clients, bad input."""

from __future__ import annotations

import os

import pytest
import redis
from redis.cluster import RedisCluster

import labkit
from labkit import Role
from labkit.topology import place, placement_problems, slot_ranges
from labkit.topology.cluster import SLOT_COUNT


# -- pure logic ---------------------------------------------------------------------------
def test_slot_ranges_cover_every_slot_once_and_are_balanced():
    for shards in (1, 2, 3, 7, 15, 500):
        ranges = slot_ranges(shards)
        assert ranges[0][0] == 0 and ranges[-1][1] == SLOT_COUNT - 1
        assert all(ranges[i][1] + 1 == ranges[i + 1][0] for i in range(shards - 1))
        sizes = [last - first + 1 for first, last in ranges]
        assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("shards,replicas,azs", [(3, 2, ("a", "b", "c")), (5, 1, ("a", "b", "c")), (4, 3, ("a", "b")), (2, 5, ("a", "b", "c"))])
def test_placement_follows_the_elasticache_rules(shards, replicas, azs):
    layout = place(shards, replicas, azs)
    assert placement_problems([(shard.primary, shard.replicas) for shard in layout], azs) == []
    assert len({shard.primary for shard in layout}) == min(shards, len(azs))


def test_placement_problems_name_a_bad_layout():
    problems = placement_problems([("a", ("a", "b")), ("a", ())], ("a", "b", "c"))
    assert "shard 0: replica 1 is in a, the same AZ as its primary" in problems
    assert any("shard 1: no replica" in problem for problem in problems)
    assert any("primaries are not spread" in problem for problem in problems)


@pytest.mark.parametrize("replicas", [-1, 6, 2.5, "2", True])
def test_replicas_outside_0_to_5_are_refused(replicas):
    with pytest.raises(labkit.ConfigurationError, match="replicas must be a whole number from 0 to 5"):
        labkit.ReplicationGroup(replicas=replicas)
    with pytest.raises(labkit.ConfigurationError, match="replicas must be"):
        labkit.Cluster(shards=1, replicas=replicas)


@pytest.mark.parametrize("shards", [0, -3, 1.5, None])
def test_shards_below_one_are_refused(shards):
    with pytest.raises(labkit.ConfigurationError, match="shards must be a whole number of at least 1"):
        labkit.Cluster(shards=shards)


def test_more_shards_than_memory_allows_are_refused():
    with pytest.raises(labkit.ConfigurationError, match="will not fit in this machine's free memory"):
        labkit.Cluster(shards=labkit.max_shards(2) + 1, replicas=2)


@pytest.mark.parametrize(
    "azs,message",
    [((), "azs is empty"), (("az-a", "az-a"), "more than once"), (("az a",), "not a valid availability-zone name"),
     ((1, 2), "not a valid availability-zone name"), (42, "must be a list"), (("",), "not a valid")],
)
def test_malformed_az_lists_are_refused(azs, message):
    with pytest.raises(labkit.ConfigurationError, match=message):
        labkit.Cluster(azs=azs)


@pytest.mark.parametrize("azs", ["az-a", "us-east-1a, us-east-1b"])
def test_an_az_list_given_as_a_string_is_refused_with_the_list_to_write(azs):
    with pytest.raises(labkit.ConfigurationError, match=r"not a string .*write azs=\('"):
        labkit.ReplicationGroup(azs=azs)
    with pytest.raises(labkit.ConfigurationError, match="not a string"):
        labkit.Cluster(azs=azs)


def test_an_az_list_may_be_any_sequence_of_names():
    assert labkit.ReplicationGroup(azs=["us-east-1a", "us-east-1b"]).azs == ("us-east-1a", "us-east-1b")


@pytest.mark.parametrize("config,message", [({"port": 1}, "labkit sets 'port'"), ({"bad name": 1}, "not a server setting"), ("maxmemory", "must be a mapping")])
def test_bad_config_is_refused(config, message):
    with pytest.raises(labkit.ConfigurationError, match=message):
        labkit.Standalone(config=config)


# -- standalone ---------------------------------------------------------------------------
def test_standalone_serves_and_reports_its_nodes(standalone):
    (node,) = standalone.nodes
    assert (node.role, node.az, node.shard) == (Role.PRIMARY, "az-a", None)
    assert node.datadir.is_dir() and node.logfile.is_file()
    client = standalone.client()
    client.set("greeting", "hello")
    assert client.get("greeting") == "hello"
    assert "node-0" in standalone.table()


def test_config_settings_reach_the_server():
    with labkit.Standalone(config={"maxmemory": "12mb", "maxmemory-policy": "allkeys-lru"}) as lab:
        settings = lab.client().config_get("maxmemory*")
        assert settings["maxmemory"] == str(12 * 1024 * 1024) and settings["maxmemory-policy"] == "allkeys-lru"


def test_lifecycle_errors_are_clear():
    lab = labkit.Standalone()
    with pytest.raises(labkit.TopologyStateError, match="call start"):
        lab.client()
    lab.start()
    with pytest.raises(labkit.TopologyStateError, match="already running"):
        lab.start()
    assert lab.stop() is lab
    with pytest.raises(labkit.TopologyStateError, match="cannot start a stopped standalone"):
        lab.start()
    lab.stop()  # a second stop is harmless


def test_unknown_nodes_are_refused(standalone):
    with pytest.raises(labkit.UnknownNodeError, match="not a node of this standalone"):
        standalone.client(1)


# -- replication group ------------------------------------------------------------------
def test_replication_group_replicates_across_azs():
    with labkit.ReplicationGroup(replicas=2) as group:
        primary, replicas = group.primary(), group.replicas()
        assert primary.az == "az-a" and sorted(node.az for node in replicas) == ["az-b", "az-c"]
        assert all(node.role is Role.REPLICA and node.shard == 0 for node in replicas)
        info = group.client().info("replication")
        assert info["role"] == "master" and info["connected_slaves"] == 2
        writer = group.client()
        writer.set("k", "v")
        assert writer.wait(2, 2000) == 2  # WAIT counts replicas that have this connection's writes
        for replica in replicas:
            assert group.client(replica).get("k") == "v"  # reads from a replica
            assert group.client(replica).info("replication")["master_link_status"] == "up"
        with pytest.raises(redis.ReadOnlyError):
            group.client(replicas[0]).set("k", "x")


def test_replication_group_with_no_replica():
    with labkit.ReplicationGroup(replicas=0) as group:
        assert len(group.nodes) == 1 and group.replicas() == []


def test_replication_group_has_one_shard():
    group = labkit.ReplicationGroup(replicas=0)
    with pytest.raises(labkit.UnknownNodeError, match="one shard"):
        group.primary(1)


# -- cluster ------------------------------------------------------------------------------
def test_cluster_is_ready_when_start_returns(cluster):
    for node in cluster.nodes:
        client = node.client()
        assert client.cluster("info")["cluster_state"] == "ok"
        if node.role is Role.REPLICA:
            assert client.info("replication")["master_link_status"] == "up"
    maps = {str(sorted((s[0], s[1], s[2][2]) for s in node.client().execute_command("CLUSTER", "SLOTS"))) for node in cluster.nodes}
    assert len(maps) == 1  # every node agrees


def test_cluster_primaries_own_balanced_slots_and_replicas_follow_them(cluster):
    for shard in cluster.shards:
        primary = cluster.primary(shard)
        myself = [line for line in primary.client().execute_command("CLUSTER", "NODES").splitlines() if "myself" in line][0]
        assert "master" in myself and len(myself.split()) > 8  # owns a slot range
        for replica in cluster.replicas(shard):
            assert replica.client().info("replication")["master_port"] == primary.port


def test_cluster_azs_follow_the_rules(cluster):
    layout = [(cluster.primary(s).az, tuple(n.az for n in cluster.replicas(s))) for s in cluster.shards]
    assert placement_problems(layout, cluster.azs) == []
    assert sorted(primary for primary, _ in layout) == ["az-a", "az-b", "az-c"]


def test_cluster_nodes_announce_their_az_when_the_engine_can(cluster):
    if not cluster.engine.supports_availability_zone:
        pytest.skip("this engine has no availability-zone setting; labkit keeps its own record")
    for node in cluster.nodes:
        assert node.client().config_get("availability-zone")["availability-zone"] == node.az


def test_cluster_client_spans_every_shard(cluster):
    client = cluster.client()
    assert isinstance(client, RedisCluster)
    for index in range(60):
        client.set(f"key:{index}", index)
    assert [client.get(f"key:{index}") for index in range(60)] == [str(index) for index in range(60)]
    counts = [cluster.primary(shard).client().dbsize() for shard in cluster.shards]
    assert all(count > 0 for count in counts) and sum(counts) >= 60


def test_cluster_replicas_serve_reads(cluster):
    replica = cluster.replicas(0)[0]
    key = next(f"{{r{i}}}" for i in range(10000) if cluster.primary(0).client().cluster("keyslot", f"{{r{i}}}") <= 5461)
    primary = cluster.primary(0).client()
    primary.set(key, "from-primary")
    primary.wait(2, 2000)
    assert replica.client(readonly=True).get(key) == "from-primary"
    with pytest.raises(redis.exceptions.MovedError):
        replica.client().get(key)  # without READONLY a replica redirects
    assert cluster.client(read_from_replicas=True).get(key) == "from-primary"


def test_cluster_shard_out_of_range(cluster):
    with pytest.raises(labkit.UnknownNodeError, match=r"shard 7 does not exist; this cluster's shards are \[0, 1, 2\]"):
        cluster.primary(7)


def test_one_shard_cluster():
    with labkit.Cluster(shards=1, replicas=0) as lab:
        lab.client().set("a", "b")
        assert lab.client().get("a") == "b"


def test_fifteen_shards_with_two_replicas_each():
    with labkit.Cluster(shards=15, replicas=2) as lab:
        assert len(lab.nodes) == 45
        assert int(lab.nodes[0].client().cluster("info")["cluster_known_nodes"]) == 45
        client = lab.client()
        for index in range(200):
            client.set(f"k{index}", index)
        assert sum(lab.primary(shard).client().dbsize() for shard in lab.shards) == 200


# -- Redis OSS ------------------------------------------------------------------------------
def test_redis_oss_runs_every_topology(redis_oss_server):
    with labkit.Standalone(server=redis_oss_server) as lab:
        assert lab.engine.name == "redis"
        assert lab.client().info("server")["redis_version"].startswith(lab.engine.version_text)
    with labkit.ReplicationGroup(replicas=1, server=redis_oss_server) as group:
        writer = group.client()
        writer.set("k", "v")
        assert writer.wait(1, 2000) == 1
    with labkit.Cluster(shards=3, replicas=1, server=redis_oss_server) as cluster:
        cluster.client().set("k", "v")
        assert cluster.client().get("k") == "v"


# -- encryption in transit ------------------------------------------------------------------------
def test_tls_on_an_engine_without_it_says_what_to_do():
    engine = labkit.find_engine()
    if engine.supports_tls:
        pytest.skip("the default engine here has TLS")
    with pytest.raises(labkit.ConfigurationError, match="built without TLS.*LABKIT_SERVER"):
        labkit.Standalone(tls=True).start()


def test_tls_topologies_accept_only_encrypted_clients(redis_oss_server):
    if not labkit.find_engine(redis_oss_server).supports_tls:
        pytest.skip("this Redis build has no TLS")
    with labkit.Standalone(tls=True, server=redis_oss_server) as lab:
        assert lab.client().set("secret", "1") and lab.client().get("secret") == "1"
        with pytest.raises(redis.ConnectionError):
            redis.Redis(port=lab.port, socket_timeout=2).ping()  # plain text is refused
    with labkit.Cluster(shards=3, replicas=1, tls=True, server=redis_oss_server) as cluster:
        client = cluster.client()
        client.set("k", "v")
        assert client.get("k") == "v"
        replica = cluster.replicas(0)[0]
        assert replica.client().info("replication")["master_link_status"] == "up"  # replication over TLS

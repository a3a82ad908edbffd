"""Backups on real servers: a snapshot of a running replication group or cluster, taken from a
replica, restored into a new topology (a cluster into fewer shards) and verified key by key with
stock clients; bad input refused with what to do; no server or file left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

import labkit
from labkit.backup import snapshots_directory
from labkit.engine import bundled_binary
from labkit.errors import ConfigurationError, SnapshotError

from fault_support import started_pids  # noqa: F401  (fixture)

#: How far a restored TTL may lag the original (the copy runs while the clock ticks).
TTL_SLACK_MS = 60_000


def _fill(client, count: int, prefix: str = "k") -> None:
    """Strings (every third with a TTL), a hash, a list, a set, a sorted set and a stream."""
    pipe = client.pipeline(transaction=False)
    for number in range(count):
        key = f"{prefix}:{number}"
        if number % 3 == 0:
            pipe.set(key, number, px=600_000 + number)
        else:
            pipe.set(key, number)
    pipe.hset(f"{{{prefix}}}:profile", mapping={"name": "Ada", "lang": "en"})
    pipe.rpush(f"{{{prefix}}}:queue", "a", "b", "c")
    pipe.sadd(f"{{{prefix}}}:tags", "x", "y")
    pipe.zadd(f"{{{prefix}}}:board", {"ada": 3, "bob": 1})
    pipe.xadd(f"{{{prefix}}}:events", {"type": "login"})
    pipe.execute()


def _value(client, key):
    """A key's value whatever its type (not its DUMP: a set or hash in a hash table may serialize in
    another order once restored, as on Redis 7.0, where small sets of strings are hash tables)."""
    kind = client.type(key)
    read = {b"string": client.get, b"hash": client.hgetall, b"set": client.smembers, b"stream": client.xrange,
            b"list": lambda k: client.lrange(k, 0, -1), b"zset": lambda k: client.zrange(k, 0, -1, withscores=True)}
    return kind, read[kind](key)


def _contents(clients) -> dict[bytes, tuple[object, int]]:
    """key -> (value, PTTL) over every given node client (binary clients)."""
    found = {}
    for client in clients:
        for key in client.scan_iter(count=500):
            found[key] = (_value(client, key), client.pttl(key))
    return found


def _assert_same(original: dict, client) -> None:
    """Every original key has the same value in the restored lab and about the same TTL."""
    for key, (value, ttl) in original.items():
        assert _value(client, key) == value, f"{key!r} differs"
        new_ttl = client.pttl(key)
        if ttl == -1:
            assert new_ttl == -1, f"{key!r} gained a TTL"
        else:
            assert 0 < new_ttl <= ttl and ttl - new_ttl < TTL_SLACK_MS, f"{key!r}: TTL {ttl} ms became {new_ttl} ms"


def test_a_group_snapshot_comes_from_an_up_to_date_replica_and_restores_key_by_key(started_pids):
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b")) as group:
        writer = group.primary_endpoint.client()
        _fill(writer, 300)
        writer.set("last", "acknowledged just before the snapshot")  # no WAIT: the snapshot waits for the replica
        primary, replica = group.primary(), group.replicas()[0]
        with group.client(primary, decode_responses=False) as client:
            original = _contents([client])
        snapshot = group.snapshot()
        assert (snapshot.kind, snapshot.shards, snapshot.keys, snapshot.sources) == ("replication", 1, 306, ("replica-1",))
        assert snapshot.exists and snapshot.directory.parent == snapshots_directory()
        assert not (replica.datadir / "dump.rdb").exists(), "the RDB file must move into the snapshot, not stay on the node"
        assert group.fault_log[-1].action == "snapshot"
    # The group is gone; the snapshot is not.
    with snapshot, labkit.ReplicationGroup(replicas=2, from_snapshot=snapshot) as restored:
        assert restored.restored_keys == 306 and restored.restored_from is snapshot
        assert restored.spec.from_snapshot is None  # copies of the spec (scale_up) start empty
        record = labkit.LabSpec("replication", from_snapshot=snapshot).as_record()
        assert "from_snapshot" not in record and json.loads(json.dumps(record))  # the lab's record stays JSON
        stock = redis.Redis(port=restored.primary().port)
        _assert_same(original, stock)
        assert stock.get("last") == b"acknowledged just before the snapshot"
        assert stock.dbsize() == 306
        for node in restored.replicas():  # every replica has them too when start() returns
            assert redis.Redis(port=node.port).dbsize() == 306
    assert not snapshot.exists and not snapshot.directory.exists()


def test_a_cluster_snapshot_of_3_shards_restores_into_2_with_keys_routed_by_slot(started_pids):
    with labkit.Cluster(shards=3, replicas=1) as cluster:
        _fill(cluster.client(), 600)
        original = {}
        for primary in cluster.primaries():
            with primary.client(decode_responses=False) as client:
                original.update(_contents([client]))
        snapshot = cluster.snapshot()
    assert (snapshot.kind, snapshot.shards, snapshot.keys) == ("cluster", 3, 605)
    assert len(snapshot.files) == 3 and all("replica" in source for source in snapshot.sources)
    with snapshot, labkit.Cluster(shards=2, replicas=0, from_snapshot=snapshot) as restored:
        assert restored.restored_keys == 605
        stock = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", restored.primary(0).port)])
        try:
            _assert_same(original, stock)
            assert sum(restored.keys_per_shard().values()) == 605 and min(restored.keys_per_shard().values()) > 0
        finally:
            stock.close()


def test_a_standalone_snapshot_waits_out_a_save_already_running_and_takes_its_own(started_pids):
    with labkit.Standalone() as lab:
        client = lab.client()
        _fill(client, 2000)
        client.config_set("rdb-key-save-delay", 200)  # microseconds per key: the first save lasts about 0.4 s
        client.bgsave()
        client.set("after-the-first-save", "1")
        snapshot = lab.snapshot()
        assert snapshot.sources == ("node-0",) and snapshot.keys == 2006
    with snapshot, labkit.Standalone(from_snapshot=snapshot) as restored:
        assert restored.client().get("after-the-first-save") == "1"


def test_bad_input_is_refused_with_what_to_do_and_leaves_nothing_running(started_pids):
    with labkit.Standalone() as lab:
        lab.client().set("in-db-0", "1")
        lab.client(db=3).set("in-db-3", "1")
        with lab.snapshot() as two_databases:
            with pytest.raises(SnapshotError, match="database 0 only.*ReplicationGroup"):
                labkit.Cluster(shards=1, replicas=0, from_snapshot=two_databases).start()
            with labkit.ReplicationGroup(replicas=0, from_snapshot=two_databases) as group:
                assert group.client(db=3).get("in-db-3") == "1"
    assert not two_databases.exists
    with pytest.raises(SnapshotError, match="take a new one"):
        labkit.ReplicationGroup(replicas=0, from_snapshot=two_databases)
    with pytest.raises(ConfigurationError, match="labkit.Snapshot"):
        labkit.Cluster(shards=1, replicas=0, from_snapshot=str(snapshots_directory()))
    with labkit.Cluster(shards=1, replicas=0) as cluster:
        cluster_snapshot = cluster.snapshot()
    with cluster_snapshot:
        for make in (lambda: labkit.ReplicationGroup(replicas=0, from_snapshot=cluster_snapshot),
                     lambda: labkit.Standalone(from_snapshot=cluster_snapshot),
                     lambda: labkit.LabSpec("replication", from_snapshot=cluster_snapshot)):
            with pytest.raises(ConfigurationError, match="restores into a Cluster only"):
                make()


def test_a_snapshot_restores_into_a_newer_engine_and_an_older_one_says_so(started_pids, redis_oss_server):
    valkey = str(bundled_binary())
    with labkit.Standalone(server=redis_oss_server) as old:
        old.client().set("from", "redis 7")
        from_redis = old.snapshot()
    with labkit.Standalone(server=valkey) as new:
        new.client().set("from", "valkey")
        from_valkey = new.snapshot()
    with from_redis, from_valkey:
        with labkit.Standalone(server=valkey, from_snapshot=from_redis) as upgraded:
            assert upgraded.client().get("from") == "redis 7"
        if labkit.find_engine(redis_oss_server).name == "redis":
            with pytest.raises(SnapshotError, match="could not load .* taken with Valkey.*server="):
                labkit.Standalone(server=redis_oss_server, from_snapshot=from_valkey).start()


def test_snapshots_go_with_the_process_that_took_them(started_pids, tmp_path):
    script = textwrap.dedent("""
        import labkit
        lab = labkit.Standalone().start()
        lab.client().set("k", "v")
        print(lab.snapshot().directory, flush=True)
        lab.stop()
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=os.environ)
    assert completed.returncode == 0, completed.stderr
    directory = completed.stdout.strip().splitlines()[-1]
    assert directory and not os.path.exists(directory), "a snapshot outlived the process that took it"
    # A directory left by a process that is gone (killed with its watchdog) is swept by the next snapshot.
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    abandoned = snapshots_directory() / f"cluster-{finished.stdout.strip()}-deadbeef"
    abandoned.mkdir()
    with labkit.Standalone() as lab, lab.snapshot():
        assert not abandoned.exists()

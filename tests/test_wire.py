"""The reply parsers, on replies captured from a Valkey 9 cluster (no server needed)."""

from __future__ import annotations

import pytest
import redis

from labkit._polling import BackgroundThread, is_transient, wait_until
from labkit._wire import (
    SLOT_COUNT, cluster_node_line, cluster_node_lines, info_fields, parse_cluster_nodes, parse_info, redirects_sent,
    replicas_seen, replication_offset, slot_map, slot_migration_jobs, slot_ranges_by_port,
)

CLUSTER_NODES = (
    b"0c56a73d2299b2918fc5cd39107989415e091d71 127.0.0.1:22531@32531 master - 0 1796237479878 2 connected 8192-16383\n"
    b"a0426a5e38a8fe0bb1acd1fc9d4ddfa63ff8f17a 127.0.0.1:22530@32530 myself,master - 0 0 1 connected 0-8190 8191 [8191->-0c56a73d2299b2918fc5cd39107989415e091d71]\n"
    b"824d04cb97065dc6d32c988a31f5fe783a0d38ed 127.0.0.1:22532@32532 slave a0426a5e38a8fe0bb1acd1fc9d4ddfa63ff8f17a 0 1796237479878 1 connected\n"
    b"f0023fdee868faaa26d27b540a6c479a8c09df42 127.0.0.1:22533@32533 slave,fail 0c56a73d2299b2918fc5cd39107989415e091d71 0 1796237480079 2 disconnected\n"
)
CLUSTER_SLOTS = [
    [0, 8191, [b"127.0.0.1", 22530, b"a0426a5e38a8fe0bb1acd1fc9d4ddfa63ff8f17a", {b"availability-zone": b"az-a"}],
     [b"127.0.0.1", 22532, b"824d04cb97065dc6d32c988a31f5fe783a0d38ed", {b"availability-zone": b"az-b"}]],
    [8192, 16383, [b"127.0.0.1", 22531, b"0c56a73d2299b2918fc5cd39107989415e091d71", {b"availability-zone": b"az-b"}],
     [b"127.0.0.1", 22533, b"f0023fdee868faaa26d27b540a6c479a8c09df42", {b"availability-zone": b"az-a"}]],
]
INFO_REPLICATION_PARSED = {  # as redis-py's client.info("replication") returns it
    "role": "master", "connected_slaves": 1,
    "slave0": {"ip": "127.0.0.1", "port": 22532, "state": "online", "offset": 14, "lag": 0, "type": "replica"},
    "master_repl_offset": 20,
}
INFO_RAW = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port=22532,state=online,offset=14,lag=1\r\nmaster_repl_offset:20\r\n# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n"

SOURCE_ID, TARGET_ID = "56f6310738cc9987c6c78b0a8fa4a8a8a62c1e43", "5942b9721c9e02f553dc38f26659dc6cd1377bda"
GETSLOTMIGRATIONS_RESP2 = [  # the raw RESP2 reply: one flat [name, value, ...] array per job
    [b"name", b"95b27880c48025fa029957a8c1cd3f2cdfbb5498", b"operation", b"EXPORT", b"slot_ranges", b"0-1 5-5",
     b"target_node", TARGET_ID.encode(), b"source_node", SOURCE_ID.encode(), b"create_time", 1796278872,
     b"last_update_time", 1796278872, b"last_ack_time", 1796278872, b"state", b"snapshotting", b"message", b"",
     b"cow_size", 0, b"remaining_repl_size", 0],
]
GETSLOTMIGRATIONS_PARSED = [  # as redis-py 8 returns it: one dict per job
    {"name": "d1b1", "operation": "IMPORT", "slot_ranges": "9557-10922", "target_node": TARGET_ID, "source_node": SOURCE_ID,
     "create_time": 1796278063, "last_update_time": 1796278063, "last_ack_time": 1796278063, "state": "failed",
     "message": "Failed to AUTH to target node: -WRONGPASS", "cow_size": 0, "remaining_repl_size": 0},
]


def test_cluster_nodes_lines_give_flags_slots_and_migrations():
    lines = cluster_node_lines(CLUSTER_NODES)
    assert [line.port for line in lines] == [22531, 22530, 22532, 22533]
    myself = lines[1]
    assert "myself" in myself.flags and myself.master and not myself.failed
    assert myself.slots == ((0, 8190), (8191, 8191))
    assert myself.migrating == ((8191, "0c56a73d2299b2918fc5cd39107989415e091d71"),)
    assert lines[3].failed and not lines[3].master
    assert cluster_node_line("not a node line") is None


def test_parse_cluster_nodes_reads_text_and_redis_py_dicts_alike():
    view = parse_cluster_nodes(CLUSTER_NODES)
    assert view[22532]["master_id"] == view[22530]["id"] and not view[22532]["master"]
    assert view[22531]["slots"] == [(8192, 16383)] and not view[22531]["handshake"]
    parsed = {"127.0.0.1:22531": {"node_id": "abc", "flags": "master,handshake", "master_id": "-", "slots": [["0", "1"]]}}
    assert parse_cluster_nodes(parsed)[22531] == {"id": "abc", "master": True, "failed": False, "master_id": "-", "slots": [["0", "1"]], "handshake": True}


def test_cluster_slots_give_a_map_that_covers_every_slot_and_its_owners():
    entries = slot_map(CLUSTER_SLOTS)
    assert sum(last - first + 1 for first, last, _primary, _replicas in entries) == SLOT_COUNT
    assert entries[0][2] == "a0426a5e38a8fe0bb1acd1fc9d4ddfa63ff8f17a" and entries[0][3] == ("824d04cb97065dc6d32c988a31f5fe783a0d38ed",)
    assert slot_ranges_by_port(CLUSTER_SLOTS) == [(0, 8191, 22530), (8192, 16383, 22531)]


def test_info_replication_gives_offsets_and_each_replicas_lag():
    assert replication_offset({"role": "slave", "slave_repl_offset": 12, "master_link_status": "up"}) == (12, True)
    assert replication_offset(INFO_REPLICATION_PARSED) == (20, False)
    [seen] = replicas_seen(INFO_REPLICATION_PARSED)
    assert (seen.port, seen.state, seen.acknowledged_offset, seen.lag_bytes) == (22532, "online", 14, 6)
    raw = parse_info(INFO_RAW)
    assert raw["role"] == "master" and info_fields(raw["db0"])["keys"] == "3"
    [seen] = replicas_seen(raw)
    assert (seen.port, seen.lag_bytes, seen.seconds_since_ack) == (22532, 6, 1.0)


def test_polling_retries_transient_errors_and_names_the_last_one_on_timeout():
    attempts = []

    def refused():
        attempts.append(1)
        raise redis.ConnectionError("Connection refused")

    with pytest.raises(TimeoutError, match="last error: Connection refused"):
        wait_until(refused, 0.05, 0.001, on_timeout=lambda last: TimeoutError(f"not ready{last}"))
    assert len(attempts) > 1
    assert wait_until(lambda: False, 0.01, 0.001) is False
    assert is_transient(redis.ResponseError("LOADING Redis is loading the dataset in memory"))
    assert not is_transient(redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))


def test_polling_raises_a_mistake_at_once_instead_of_waiting_for_the_deadline():
    calls = []

    def broken():
        calls.append(1)
        raise TypeError("unsupported operand")

    with pytest.raises(TypeError, match="unsupported operand"):
        wait_until(broken, 60.0)
    assert calls == [1]


def test_a_background_thread_records_its_failures_instead_of_swallowing_them():
    def step():
        raise ValueError("bad poll")

    thread = BackgroundThread("labkit-test", step, 0.001).start()
    try:
        assert wait_until(lambda: thread.failures >= 2, 5.0, 0.001)
    finally:
        thread.stop()
    assert isinstance(thread.last_error, ValueError) and not thread.alive


def test_slot_migrations_read_from_flat_arrays_and_redis_py_dicts_alike():
    [job] = slot_migration_jobs(GETSLOTMIGRATIONS_RESP2)
    assert (job.operation, job.slot_ranges, job.slots) == ("EXPORT", ((0, 1), (5, 5)), 3)
    assert (job.source_id, job.target_id, job.state, job.done) == (SOURCE_ID, TARGET_ID, "snapshotting", False)
    [failed] = slot_migration_jobs(GETSLOTMIGRATIONS_PARSED)
    assert failed.done and failed.state == "failed" and failed.message.startswith("Failed to AUTH")
    assert slot_migration_jobs([]) == [] and slot_migration_jobs(None) == []


def test_redirects_are_read_from_info_errorstats():
    parsed = {"errorstat_ASK": {"count": 1}, "errorstat_ERR": {"count": 11}, "errorstat_MOVED": {"count": 42}}
    assert redirects_sent(parsed) == {"MOVED": 42, "ASK": 1}
    assert redirects_sent({"errorstat_MOVED": "count=3"}) == {"MOVED": 3, "ASK": 0}
    assert redirects_sent({}) == {"MOVED": 0, "ASK": 0}

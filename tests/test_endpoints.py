"""Endpoints: a primary endpoint that follows failover, a reader endpoint that spreads reads,
and a propagation delay like a DNS TTL."""

from __future__ import annotations


import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import labkit
from labkit import PrimaryEndpoint, ReaderEndpoint

from fault_support import eventually, started_pids  # noqa: F401  (fixture)


def test_a_point_to_with_a_propagation_delay_shows_only_after_the_delay():
    endpoint = PrimaryEndpoint("primary.test", [("127.0.0.1", 1111)], propagation_delay_s=0.3)
    endpoint.point_to([("127.0.0.1", 2222)])
    assert endpoint.address == ("127.0.0.1", 1111)
    assert endpoint.target == [("127.0.0.1", 2222)]
    assert eventually(lambda: endpoint.address == ("127.0.0.1", 2222), timeout=5)
    assert [addresses for _at, addresses in endpoint.history] == [(("127.0.0.1", 1111),), (("127.0.0.1", 2222),)]


def test_a_reader_endpoint_rotates_over_its_addresses():
    endpoint = ReaderEndpoint("reader.test", [("127.0.0.1", 1), ("127.0.0.1", 2)])
    assert {endpoint.address[1] for _ in range(4)} == {1, 2}
    assert ReaderEndpoint("empty", []).address == ("127.0.0.1", 0)


def test_the_same_client_reaches_the_new_primary_after_a_failover(started_pids):
    with labkit.ReplicationGroup(replicas=2, failure_detection_s=0.5) as group:
        client = group.primary_endpoint.client()
        client.set("k", "before")
        group.kill(group.primary())
        new = group.wait_for_failover()
        assert eventually(lambda: client.set("k", "after"))
        assert client.get("k") == "after"
        assert client.connection_pool.get_connection().port == new.port


def test_a_client_holding_a_connection_to_a_demoted_primary_moves_to_the_new_one(started_pids):
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b")) as group:
        client = group.primary_endpoint.client()
        client.set("k", "v")  # its pooled connection goes to the primary
        new = group.test_failover()
        assert client.set("k", "w")  # the pool notices the move and reconnects: no READONLY
        assert new.client().get("k") == "w"


def test_the_reader_endpoint_spreads_reads_over_every_replica(started_pids):
    with labkit.ReplicationGroup(replicas=2) as group:
        group.primary_endpoint.client().set("k", "v")
        reader = group.reader_endpoint.client()
        before = {node.name: _gets(node) for node in group.replicas()}
        for _ in range(40):
            reader.get("k")
        served = {node.name: _gets(node) - before[node.name] for node in group.replicas()}
        assert sum(served.values()) == 40
        assert all(count >= 10 for count in served.values()), served


def test_the_reader_endpoint_drops_a_killed_replica_and_takes_it_back_after_restart(started_pids):
    with labkit.ReplicationGroup(replicas=2) as group:
        gone, staying = group.replicas()
        group.kill(gone)
        assert group.reader_endpoint.addresses == [("127.0.0.1", staying.port)]
        reader = group.reader_endpoint.client()
        assert all(reader.ping() for _ in range(5))
        group.restart(gone)
        assert sorted(group.reader_endpoint.addresses) == sorted([("127.0.0.1", gone.port), ("127.0.0.1", staying.port)])


def test_with_a_propagation_delay_clients_see_errors_until_the_endpoint_moves(started_pids):
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b"), failure_detection_s=0.3, endpoint_propagation_s=0.6) as group:
        old = group.primary()
        client = group.primary_endpoint.client(socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
        group.kill(old)
        new = group.wait_for_failover()
        assert group.primary_endpoint.address == ("127.0.0.1", old.port)  # the "DNS" still has the old record
        with pytest.raises(redis.ConnectionError):
            client.set("k", "v")
        assert eventually(lambda: group.primary_endpoint.address == ("127.0.0.1", new.port))
        assert client.set("k", "v")


def _gets(node) -> int:
    with node.client() as client:
        return int(client.info("commandstats").get("cmdstat_get", {}).get("calls", 0))

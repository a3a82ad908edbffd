"""Endpoints like ElastiCache's: a primary endpoint that follows failover, a reader endpoint that
spreads connections (not commands) over the replicas, AZ affinity, a configuration endpoint that a
stock RedisCluster can start from, a propagation delay like a DNS TTL, TLS and ACL labs."""

from __future__ import annotations

import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import labkit
from labkit import ConfigurationEndpoint, PrimaryEndpoint, ReaderEndpoint
from labkit.acl import CLUSTER_CLIENT_RULES, User, UserGroup
from labkit.topology.cluster import LabClusterClient

from fault_support import eventually, started_pids  # noqa: F401  (fixture)

APP_PASSWORD = "app-password-0123456789"


# -- the name itself (no server) ----------------------------------------------------------------
def test_a_point_to_with_a_propagation_delay_shows_only_after_the_delay():
    endpoint = PrimaryEndpoint("primary.test", [("127.0.0.1", 1111)], propagation_delay_s=0.3)
    endpoint.point_to([("127.0.0.1", 2222)])
    assert endpoint.address == ("127.0.0.1", 1111)
    assert endpoint.target == [("127.0.0.1", 2222)]
    assert eventually(lambda: endpoint.address == ("127.0.0.1", 2222), timeout=5)
    assert [addresses for _at, addresses in endpoint.history] == [(("127.0.0.1", 1111),), (("127.0.0.1", 2222),)]


def test_each_lookup_of_a_reader_endpoint_takes_the_next_address_and_az_narrows_the_choice():
    zones = {("127.0.0.1", 1): "az-b", ("127.0.0.1", 2): "az-c", ("127.0.0.1", 3): "az-c"}
    endpoint = ReaderEndpoint("reader.test", list(zones), zones=zones, azs=("az-a", "az-b", "az-c"))
    assert [endpoint.resolve()[1] for _ in range(3)] and {endpoint.resolve()[1] for _ in range(6)} == {1, 2, 3}
    assert {endpoint.resolve("az-c")[1] for _ in range(4)} == {2, 3}
    assert {endpoint.resolve("az-a")[1] for _ in range(6)} == {1, 2, 3}  # nobody in az-a: any of them
    assert ReaderEndpoint("empty", []).address == ("127.0.0.1", 0)


def test_a_connection_may_stay_only_where_the_name_still_leads():
    zones = {("127.0.0.1", 1): "az-b", ("127.0.0.1", 2): "az-c"}
    endpoint = ReaderEndpoint("reader.test", list(zones), zones=zones)
    assert endpoint.serves(("127.0.0.1", 1)) and endpoint.serves(("127.0.0.1", 2), az="az-b") is False
    endpoint.point_to([("127.0.0.1", 2)])
    assert not endpoint.serves(("127.0.0.1", 1))
    assert endpoint.serves(("127.0.0.1", 2), az="az-b"), "no node in az-b any more: the other AZ will do"


def test_a_bad_az_says_which_azs_there_are():
    endpoint = ReaderEndpoint("reader.test", [], azs=("az-a", "az-b"))
    with pytest.raises(labkit.ConfigurationError, match="az-a, az-b"):
        endpoint.client(az="az-z")
    with pytest.raises(labkit.ConfigurationError, match="reader_endpoint"):
        PrimaryEndpoint("primary.test", []).client(az="az-a")


# -- the primary endpoint ----------------------------------------------------------------------------
def test_the_same_client_reaches_the_new_primary_after_a_failover(started_pids):
    with labkit.ReplicationGroup(replicas=2, failure_detection_s=0.5) as group:
        client = group.primary_endpoint.client()
        client.set("k", "before")
        group.kill(group.primary())
        new = group.wait_for_failover()
        assert eventually(lambda: client.set("k", "after"))
        assert client.get("k") == "after"
        assert _served_by(client) == new.port


def test_a_client_holding_a_connection_to_a_demoted_primary_moves_to_the_new_one(started_pids):
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b")) as group:
        client = group.primary_endpoint.client()
        client.set("k", "v")  # its pooled connection goes to the primary
        new = group.test_failover()
        assert client.set("k", "w")  # the pool notices the move and reconnects: no READONLY
        assert new.client().get("k") == "w"


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


# -- the reader endpoint -------------------------------------------------------------------------------
def test_a_reader_connection_stays_on_one_replica_and_new_connections_spread(started_pids):
    with labkit.ReplicationGroup(replicas=2) as group:
        group.primary_endpoint.client().set("k", "v")
        before = _gets(group)
        one = group.reader_endpoint.client()
        for _ in range(40):
            one.get("k")
        served = _delta(before, _gets(group))
        assert sorted(served.values()) == [0, 0, 40], f"one connection stays on one replica: {served}"
        assert served["primary"] == 0

        before = _gets(group)
        clients = [group.reader_endpoint.client() for _ in range(4)]
        for client in clients:
            for _ in range(10):
                client.get("k")
        served = _delta(before, _gets(group))
        assert served == {"primary": 0, "replica-1": 20, "replica-2": 20}, f"four connections, two per replica: {served}"


def test_a_reader_connection_reconnects_to_another_replica_when_its_replica_dies(started_pids):
    with labkit.ReplicationGroup(replicas=2) as group:
        group.primary_endpoint.client().set("k", "v")
        group.primary().client().wait(2, 2000)
        reader = group.reader_endpoint.client()
        first = group.node(_served_by(reader))
        group.kill(first)
        assert reader.get("k") == "v"
        second = group.node(_served_by(reader))
        assert second is not first and second.role is labkit.Role.REPLICA


def test_the_reader_endpoint_points_at_the_primary_once_its_only_replica_is_promoted(started_pids):
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b"), failure_detection_s=0.5) as group:
        group.primary_endpoint.client().set("k", "v")
        group.primary().client().wait(1, 2000)
        replica = group.replicas()[0]
        reader = group.reader_endpoint.client()
        assert _served_by(reader) == replica.port
        old = group.primary()
        group.kill(old)
        assert group.wait_for_failover() is replica
        assert group.reader_endpoint.addresses == [("127.0.0.1", replica.port)]  # the new primary: no replica left
        assert reader.get("k") == "v" and _served_by(reader) == replica.port
        assert redis.Redis(port=group.reader_endpoint.port, decode_responses=True).get("k") == "v"  # a stock client too
        group.restart(old)  # it comes back as a replica, and the reader endpoint leads to it again
        assert group.reader_endpoint.addresses == [("127.0.0.1", old.port)]
        assert eventually(lambda: reader.get("k") == "v" and _served_by(reader) == old.port)


def test_a_reader_client_with_an_az_reads_from_a_replica_in_that_az_and_falls_back_elsewhere(started_pids):
    with labkit.ReplicationGroup(replicas=2, azs=("az-a", "az-b", "az-c")) as group:
        local = next(node for node in group.replicas() if node.az == "az-c")
        clients = [group.reader_endpoint.client(az="az-c") for _ in range(4)]
        assert {_served_by(client) for client in clients} == {local.port}
        in_primary_az = group.reader_endpoint.client(az="az-a")  # no replica there: any replica, not the primary
        assert group.node(_served_by(in_primary_az)).role is labkit.Role.REPLICA
        group.kill(local)
        other = next(node for node in group.replicas() if node is not local)
        assert {_served_by(client) for client in clients} == {other.port}
        group.restart(local)
        assert {_served_by(client) for client in clients} == {local.port}, "back to the local replica once it is up"


def test_the_reader_endpoint_drops_a_killed_replica_and_takes_it_back_after_restart(started_pids):
    with labkit.ReplicationGroup(replicas=2) as group:
        gone, staying = group.replicas()
        group.kill(gone)
        assert group.reader_endpoint.addresses == [("127.0.0.1", staying.port)]
        reader = group.reader_endpoint.client()
        assert all(reader.ping() for _ in range(5))
        group.restart(gone)
        assert sorted(group.reader_endpoint.addresses) == sorted([("127.0.0.1", gone.port), ("127.0.0.1", staying.port)])


# -- the configuration endpoint ------------------------------------------------------------------------
def test_a_stock_cluster_client_starts_from_the_configuration_endpoint_and_outlives_its_node(cluster_3x1):
    endpoint = cluster_3x1.configuration_endpoint
    assert isinstance(endpoint, ConfigurationEndpoint) and cluster_3x1.configuration_endpoint is endpoint
    port = endpoint.port
    stock = redis.RedisCluster(host=endpoint.host, port=port, decode_responses=True)
    keys = [f"cfg:{number}" for number in range(30)]
    for key in keys:
        stock.set(key, key)
    found = {node.port for node in stock.get_nodes()}
    assert endpoint.port not in found and {node.port for node in cluster_3x1.primaries()} <= found, "it found the real nodes"
    first = cluster_3x1.node(endpoint.target[1])
    assert first.role is labkit.Role.PRIMARY
    cluster_3x1.kill(first)
    assert endpoint.target[1] != first.port and endpoint.port == port
    owners = cluster_3x1.state().slot_owners()
    elsewhere = next(key for key in keys if owners[stock.keyslot(key)] not in (None, first.shard))  # None: owner down
    fresh = redis.RedisCluster(host="127.0.0.1", port=port, decode_responses=True)  # a new client, the same address
    assert fresh.get(elsewhere) == elsewhere  # (keys of the dead primary's shard wait for the failover)
    cluster_3x1.wait_for_failover(first.shard, since=first)
    assert eventually(lambda: all(stock.set(key, key + "!") for key in keys), 20), "the first client keeps working"
    assert eventually(lambda: all(fresh.get(key) == key + "!" for key in keys))
    stock.close()
    fresh.close()


def test_the_configuration_endpoint_client_is_labkits_cluster_client_and_stops_with_the_cluster(started_pids):
    with labkit.Cluster(shards=1, replicas=0) as cluster:
        endpoint = cluster.configuration_endpoint
        client = endpoint.client()
        assert isinstance(client, LabClusterClient)
        client.set("k", "v")
        assert client.get("k") == "v"
    assert not endpoint.running
    with pytest.raises(labkit.TopologyStateError, match="not listening"):
        endpoint.port
    with pytest.raises(labkit.TopologyStateError, match="start"):
        cluster.configuration_endpoint


# -- TLS and ACL labs ---------------------------------------------------------------------------------
def test_endpoint_clients_use_tls_on_a_tls_lab(redis_oss_server, started_pids):
    if not labkit.find_engine(redis_oss_server).supports_tls:
        pytest.skip("this Redis build has no TLS")
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b"), tls=True, server=redis_oss_server) as group:
        group.primary_endpoint.client().set("k", "v")
        group.primary().client().wait(1, 2000)
        assert group.reader_endpoint.client().get("k") == "v"
        with pytest.raises(redis.ConnectionError):
            redis.Redis(port=group.reader_endpoint.port, socket_timeout=2).ping()  # plain text is refused
    with labkit.Cluster(shards=3, replicas=0, tls=True, server=redis_oss_server) as cluster:
        endpoint = cluster.configuration_endpoint
        endpoint.client().set("k", "v")
        stock = redis.RedisCluster(host=endpoint.host, port=endpoint.port, decode_responses=True, **cluster.connection_options())
        assert stock.get("k") == "v"
        stock.close()


def test_endpoint_clients_log_in_on_a_lab_whose_default_user_is_off(started_pids):
    users = UserGroup("app-users", [User.disabled_default(), User("app", f"on ~app:* -@all +@read +@write {CLUSTER_CLIENT_RULES}", passwords=(APP_PASSWORD,))])
    with labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b")) as group:
        users.apply(group)
        # The Multi-AZ monitor's health check logs in again: turning `default` off is no failure (on
        # Redis 7.0 its old connection was refused and it promoted the replica of a healthy primary).
        time.sleep(3 * group.failure_detection_s)
        assert group.promotions == [], group.fault_log
        group.primary_endpoint.client().set("app:1", "v")  # labkit's own credentials
        group.primary().client().wait(1, 2000)
        assert group.reader_endpoint.client(username="app", password=APP_PASSWORD).get("app:1") == "v"
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=group.reader_endpoint.port).ping()  # the default user is off
    with labkit.Cluster(shards=3, replicas=0) as cluster:
        users.apply(cluster)
        endpoint = cluster.configuration_endpoint
        endpoint.client().set("app:1", "v")
        stock = redis.RedisCluster(host=endpoint.host, port=endpoint.port, username="app", password=APP_PASSWORD, decode_responses=True)
        assert stock.get("app:1") == "v"
        with pytest.raises(redis.exceptions.NoPermissionError):
            stock.get("salary:1")
        stock.close()


# -- helpers -------------------------------------------------------------------------------------------
def _served_by(client: redis.Redis) -> int:
    """The port of the node that served this client's command (the server's own address)."""
    return int(client.client_info()["laddr"].rsplit(":", 1)[1])


def _gets(group) -> dict[str, int]:
    calls = {}
    for node in group.nodes:
        with node.client() as client:
            calls[node.name] = int(client.info("commandstats").get("cmdstat_get", {}).get("calls", 0))
    return calls


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after}

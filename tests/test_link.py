"""labkit.Link: a TCP proxy that delays traffic like a cross-Region link and can be cut (real server)."""

from __future__ import annotations

import time

import pytest
import redis

import labkit
from labkit import ConfigurationError, Link, TopologyStateError


def _round_trip(client: redis.Redis) -> float:
    started = time.perf_counter()
    client.ping()
    return time.perf_counter() - started


def test_traffic_through_the_link_is_delayed_each_way(standalone):
    with Link(standalone.nodes[0].port, latency_ms=60) as link:
        client = redis.Redis(port=link.port, socket_timeout=5, decode_responses=True)
        client.set("far", "away")
        assert client.get("far") == "away"
        assert _round_trip(client) >= 0.12, "a round trip crosses the link twice"
        link.latency_ms = 0
        assert _round_trip(client) < 0.12
        stats = link.stats()
        assert stats.connections == 1 and stats.bytes_to_target > 0 and stats.bytes_from_target > 0
        client.close()


def test_a_cut_link_drops_connections_until_restored(standalone):
    with Link(standalone.nodes[0].port) as link:
        client = redis.Redis(port=link.port, socket_timeout=2, socket_connect_timeout=2)
        assert client.ping()
        with link.cut_for():
            assert link.is_cut
            with pytest.raises(redis.ConnectionError):
                client.ping()
        assert not link.is_cut and client.ping(), "clients reconnect once the link is back"
        assert link.stats().cuts == 1


def test_bad_settings_and_lifecycle_say_what_to_do(standalone):
    with pytest.raises(ConfigurationError, match="target_port"):
        Link("6379")
    with pytest.raises(ConfigurationError, match="127.0.0.1"):
        Link(6379, target_host="10.0.0.1")
    with pytest.raises(ConfigurationError, match="latency_ms"):
        Link(6379, latency_ms=-5)
    link = Link(standalone.nodes[0].port)
    with pytest.raises(TopologyStateError, match="start"):
        link.cut()
    link.start()
    try:
        with pytest.raises(TopologyStateError, match="already running"):
            link.start()
    finally:
        link.stop()
    link.stop()  # idempotent


def test_a_link_to_an_endpoint_goes_wherever_it_points_at_each_new_connection(standalone):
    from labkit import PrimaryEndpoint

    with labkit.Standalone() as other:
        endpoint = PrimaryEndpoint("primary.test", [("127.0.0.1", standalone.nodes[0].port)])
        with Link(endpoint) as link:
            assert link.target_port == standalone.nodes[0].port
            first = redis.Redis(port=link.port, socket_timeout=2, decode_responses=True)
            assert first.config_get("port")["port"] == str(standalone.nodes[0].port)
            endpoint.point_to([("127.0.0.1", other.nodes[0].port)])
            second = redis.Redis(port=link.port, socket_timeout=2, decode_responses=True)
            assert second.config_get("port")["port"] == str(other.nodes[0].port), "a new connection follows the endpoint"
            assert first.config_get("port")["port"] == str(standalone.nodes[0].port), "an open one stays where it went"
            first.close()
            second.close()


def test_a_link_with_targets_sends_each_new_connection_to_the_first_port_that_accepts(standalone):
    from labkit.ports import reserve_ports

    nowhere = reserve_ports(1)  # reserved, never listened on: connecting there is refused
    live = standalone.nodes[0].port
    targets = [nowhere.numbers[0], live]
    try:
        with Link(nowhere.numbers[0], targets=lambda: list(targets)) as link:
            client = redis.Redis(port=link.port, socket_timeout=2)
            assert client.ping() and link.target_port == live
            targets[:] = []  # nothing to forward to: new connections are refused, with the reason noted
            with pytest.raises(redis.ConnectionError):
                redis.Redis(port=link.port, socket_timeout=2, socket_connect_timeout=2).ping()
            assert "no target" in link.stats().last_error
            assert client.ping(), "a connection already made stays where it is"
            client.close()
    finally:
        nowhere.release()
    with pytest.raises(ConfigurationError, match="targets"):
        Link(live, targets=[live])

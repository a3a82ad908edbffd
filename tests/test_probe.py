"""The probe: its arithmetic on hand-made operations, and its measurements on real servers."""

from __future__ import annotations

import dataclasses
import time

import pytest
import redis

import labkit
from labkit import Operation, Probe, ProbeResult
from labkit.errors import ConfigurationError
from labkit.errors import ProbeError
from labkit.probe import NotReplicatedError, classify

from fault_support import eventually, started_pids  # noqa: F401  (fixture)


def op(at: float, outcome: str = "ok", latency: float = 0.001, kind: str = "write") -> Operation:
    return Operation(time=at, kind=kind, key=f"k{at}", outcome=outcome, latency_s=latency)


# -- pure logic ----------------------------------------------------------------------------------
def test_windows_run_from_the_last_good_operation_to_the_first_good_one_after():
    operations = (
        op(0.0), op(1.0), op(2.0, "connection refused"), op(3.0, "connection refused"), op(4.0), op(5.0),
        op(6.0, "timeout", 0.25), op(7.0), op(8.0, kind="read"),
    )
    result = ProbeResult(operations, acknowledged_writes=5, acknowledged_writes_lost=0, stopped=9.0)
    windows = result.write_windows
    assert [(w.start, w.end, w.failed) for w in windows] == [(1.001, 4.001, 2), (5.001, 7.001, 1)]
    assert result.write_unavailable_s == pytest.approx(5.0)
    assert result.read_unavailable_s == 0
    assert result.errors_by_kind == {"connection refused": 2, "timeout": 1}


def test_a_slow_success_counts_as_unavailable_and_a_failure_at_the_end_runs_to_the_stop():
    operations = (op(0.0), op(1.0, latency=1.5), op(3.0), op(4.0, "READONLY"))
    result = ProbeResult(operations, 3, 0, slow_s=0.2, stopped=6.0)
    assert [(w.start, w.end) for w in result.write_windows] == [(0.001, 2.5), (3.001, 6.0)]


def test_latency_percentiles_use_successful_operations_only():
    operations = tuple(op(float(i), latency=(i + 1) / 1000) for i in range(100)) + (op(200.0, "timeout", 5.0),)
    result = ProbeResult(operations, 100, 0)
    assert result.p50_s() == pytest.approx(0.0505, abs=0.001)
    assert result.p99_s() == pytest.approx(0.099, abs=0.0015)
    assert "p50" in result.summary() and "acknowledged writes lost: 0 of 100" in result.summary()


def test_refused_writes_count_server_answers_not_network_failures():
    operations = (op(0.0, "NOREPLICAS"), op(1.0, "READONLY"), op(2.0, "connection refused"), op(3.0, "timeout"))
    assert ProbeResult(operations, 0, 0).refused_writes == 2


def test_classify_names_each_error_kind():
    assert classify(redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")) == "connection refused"
    assert classify(redis.TimeoutError("Timeout reading from socket")) == "timeout"
    assert classify(redis.exceptions.ReadOnlyError("You can't write against a read only replica.")) == "READONLY"
    assert classify(redis.ResponseError("NOREPLICAS Not enough good replicas to write.")) == "NOREPLICAS"
    assert classify(redis.exceptions.ClusterDownError("The cluster is down")) == "CLUSTERDOWN"
    assert classify(redis.ResponseError("some lower-case message")) == "error"
    assert classify(NotReplicatedError("WAIT: 0 of 1")) == "not replicated"


def test_operations_are_frozen_with_the_documented_fields():
    operation = op(1.0)
    assert [field.name for field in dataclasses.fields(operation)] == ["time", "kind", "key", "outcome", "latency_s"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        operation.outcome = "timeout"  # type: ignore[misc]


def test_bad_probe_arguments_are_refused():
    with pytest.raises(ConfigurationError, match="topology, an endpoint or a redis-py client"):
        Probe(42)
    with pytest.raises(ConfigurationError, match="interval_s"):
        Probe(redis.Redis(), interval_s=-1)
    with pytest.raises(ConfigurationError, match="write=True or read=True"):
        Probe(redis.Redis(), write=False, read=False)
    with pytest.raises(ConfigurationError, match="wait_for_replicas"):
        Probe(redis.Redis(), wait_for_replicas=-1)


# -- real servers ----------------------------------------------------------------------------------
def test_probe_on_a_healthy_node_sees_only_successes_and_loses_nothing(started_pids):
    with labkit.Standalone() as lab:
        with Probe(lab) as probe:
            eventually(lambda: len(probe.operations) >= 100)
        result = probe.result
        assert result.writes and result.reads
        assert result.errors_by_kind == {}
        assert result.write_unavailable_s == 0 and result.read_unavailable_s == 0
        assert result.acknowledged_writes == len(result.writes)
        assert result.acknowledged_writes_lost == 0
        assert 0 < result.p50_s("write") <= result.p99_s("write")


def test_lost_writes_are_counted_exactly_by_reading_every_key_back(started_pids):
    with labkit.Standalone() as lab:
        probe = Probe(lab, read=False).start()
        eventually(lambda: len(probe.operations) >= 50)
        result = probe.stop(verify=False)
        client = lab.client()
        victims = [operation.key for operation in result.writes[:17]]
        client.delete(*victims)
        verified = probe.verify()
        assert verified.acknowledged_writes_lost == 17
        assert set(verified.lost_keys) == set(victims)


def test_a_probe_drives_the_learners_own_stock_clients_and_leaves_them_open(started_pids):
    with labkit.Cluster(shards=2, replicas=0, azs=("az-a", "az-b")) as cluster, labkit.Standalone() as lab:
        stock = redis.RedisCluster(host="127.0.0.1", port=cluster.primary(0).port, decode_responses=True)
        plain = redis.Redis(host="127.0.0.1", port=lab.node0.port, decode_responses=True)
        for client in (stock, plain):
            with Probe(client) as probe:
                eventually(lambda: len(probe.operations) >= 100)
            result = probe.result
            assert result.writes and result.reads and result.failed == []
            assert result.acknowledged_writes == len(result.writes) and result.acknowledged_writes_lost == 0
            assert client.ping()  # the learner's client is theirs: the probe does not close it
        # Verification reads back through that same client: a key deleted behind its back is lost.
        probe = Probe(stock, read=False).start()
        eventually(lambda: len(probe.operations) >= 20)
        result = probe.stop(verify=False)
        cluster.client().delete(result.writes[3].key)
        assert probe.verify().lost_keys == (result.writes[3].key,)


def test_a_paused_node_shows_as_timeouts_and_an_unavailable_window(started_pids):
    with labkit.Standalone() as lab:
        with Probe(lab) as probe:
            eventually(lambda: len(probe.operations) >= 20)
            with lab.paused(lab.node0):
                time.sleep(0.8)
            eventually(lambda: probe.operations[-1].ok and probe.operations[-2].ok)
        result = probe.result
        assert result.errors_by_kind.get("timeout", 0) >= 2
        assert len(result.write_windows) == 1
        assert 0.6 < result.write_unavailable_s < 3.0
        assert result.acknowledged_writes_lost == 0


def test_verify_explains_what_to_do_when_the_server_is_gone(started_pids):
    with labkit.Standalone() as lab:
        probe = Probe(lab, read=False).start()
        eventually(lambda: len(probe.operations) >= 5)
        probe.stop(verify=False)
        lab.kill(lab.node0)
        with pytest.raises(ProbeError, match="verify"):
            probe.verify()


def test_longest_gap_measures_a_pause_that_no_operation_failed_during():
    operations = (op(0.0), op(0.01), op(0.02, latency=0.08), op(0.11))
    result = ProbeResult(operations, 4, 0)
    assert result.write_unavailable_s == 0
    assert result.longest_gap_s("write") == pytest.approx(0.089, abs=1e-9)  # 0.011 -> 0.100


def test_stop_all_stops_a_forgotten_probe_too(started_pids, monkeypatch):
    with labkit.Standalone() as lab:
        probe = Probe(lab).start()
        eventually(lambda: len(probe.operations) >= 10)
        # only this probe: the other tests' labs (a session fixture) must keep running
        with monkeypatch.context() as patch:
            patch.setattr("labkit.topology.base._live_labs", set())
            labkit.stop_all()
        assert not probe.running
        assert probe.result is not None and probe.result.acknowledged_writes_lost is None

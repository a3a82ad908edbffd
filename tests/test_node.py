"""One server process: its command line, readiness, and what happens when it cannot start."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import labkit
from labkit.engine import find_engine
from labkit.node import Node, NodeConfig, NodeStatus
from labkit.ports import reserve_ports


@pytest.fixture()
def port():
    with reserve_ports(1) as reservation:
        yield reservation.numbers[0]


def test_argv_binds_loopback_with_protected_mode(tmp_path):
    engine = find_engine()
    argv = NodeConfig(port=12345, datadir=tmp_path, az="az-b", cluster=True, node_timeout_ms=1500).argv(engine)
    joined = " ".join(argv)
    assert "--bind 127.0.0.1" in joined and "--protected-mode yes" in joined
    assert "--cluster-enabled yes" in joined and "--cluster-node-timeout 1500" in joined
    assert "--availability-zone az-b" in joined  # the bundled Valkey supports it


def test_cluster_nodes_ping_each_other_often_enough_to_agree_on_a_failure_fast(tmp_path):
    engine = find_engine()
    argv = NodeConfig(port=12345, datadir=tmp_path, cluster=True, node_timeout_ms=1000).argv(engine)
    assert engine.supports_cluster_ping_interval  # the bundled Valkey has it
    assert argv[argv.index("--cluster-ping-interval") + 1] == "100"  # not the default of half the node timeout
    without = dataclasses.replace(engine, supports_cluster_ping_interval=False)  # Redis OSS 7.0
    assert "--cluster-ping-interval" not in NodeConfig(port=1, datadir=tmp_path, cluster=True).argv(without)
    assert "--cluster-ping-interval" not in NodeConfig(port=1, datadir=tmp_path).argv(engine)


def test_multi_word_settings_become_separate_words(tmp_path):
    argv = NodeConfig(port=1, datadir=tmp_path, settings=(("save", "3600 1"),)).argv(find_engine())
    assert argv[-3:] == ["--save", "3600", "1"]


def test_node_starts_answers_and_stops(tmp_path, port):
    node = Node(NodeConfig(port=port, datadir=tmp_path / "n"), engine=find_engine()).start()
    try:
        assert node.status is NodeStatus.UP
        client = node.client()
        assert client.ping()
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert client.config_get("protected-mode")["protected-mode"] == "yes"
        assert Path(client.config_get("dir")["dir"]) == (tmp_path / "n").resolve()
    finally:
        node.stop()
    assert node.status is NodeStatus.STOPPED and not node.is_running()


def test_a_node_that_dies_on_start_reports_its_log(tmp_path, port):
    config = NodeConfig(port=port, datadir=tmp_path / "bad", settings=(("no-such-directive", "1"),))
    node = Node(config, engine=find_engine())
    with pytest.raises(labkit.NodeStartError, match="exited with code") as caught:
        node.start()
    assert "no-such-directive" in caught.value.log_tail
    assert not node.is_running()


def test_kill_marks_the_node_down(tmp_path, port):
    node = Node(NodeConfig(port=port, datadir=tmp_path / "k"), engine=find_engine()).start()
    node.kill()
    assert node.status is NodeStatus.DOWN and not node.is_running()


def test_starting_a_running_node_twice_is_refused(tmp_path, port):
    node = Node(NodeConfig(port=port, datadir=tmp_path / "twice"), engine=find_engine()).start()
    try:
        with pytest.raises(labkit.TopologyStateError, match="already running"):
            node.start()
    finally:
        node.stop()


def test_a_node_is_a_context_manager_that_stops_on_exit(tmp_path, port):
    with Node(NodeConfig(port=port, datadir=tmp_path / "with"), engine=find_engine()) as node:
        assert node.status is NodeStatus.UP and node.client().ping()
    assert node.status is NodeStatus.STOPPED and not node.is_running()


def test_a_start_whose_on_started_hook_fails_kills_the_process(tmp_path, port):
    node = Node(NodeConfig(port=port, datadir=tmp_path / "hook"), engine=find_engine())
    seen = []

    def hook(started: Node) -> None:
        seen.append(started.client().ping())
        raise RuntimeError("could not prepare the node")

    node.on_started.append(hook)
    with pytest.raises(RuntimeError, match="could not prepare"):
        node.start()
    assert seen == [True]  # the hook ran once the server answered
    assert node.status is NodeStatus.DOWN and not node.is_running()


def test_a_start_that_times_out_kills_the_process_and_names_the_port(tmp_path, port, monkeypatch):
    node = Node(NodeConfig(port=port, datadir=tmp_path / "slow"), engine=find_engine())
    monkeypatch.setattr("labkit.node.redis.Redis.ping", lambda self: False)  # never "ready"
    with pytest.raises(labkit.NodeStartError, match=f"port {port} did not answer PING") as caught:
        node.start(timeout=0.2)
    assert caught.value.port == port
    assert not node.is_running() and node.status is NodeStatus.DOWN

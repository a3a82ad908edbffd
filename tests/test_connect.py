"""labkit.connect(): your server, else a local one, else fakeredis, and it says which."""

from __future__ import annotations

import importlib
import subprocess
import sys

import fakeredis
import pytest
import redis
from redis.cluster import RedisCluster

import labkit
connect_module = importlib.import_module("labkit.connect")  # the module, not the function of the same name


@pytest.fixture(autouse=True)
def no_shared_lab(monkeypatch):
    monkeypatch.delenv("LABKIT_REDIS_URL", raising=False)
    monkeypatch.setattr(connect_module, "_shared_lab", None)
    yield
    if connect_module._shared_lab is not None:
        connect_module._shared_lab.stop()


def test_without_a_url_it_starts_a_local_server_and_says_so(capsys):
    client = labkit.connect()
    assert isinstance(client, redis.Redis) and client.ping()
    assert "labkit: using a local Valkey" in capsys.readouterr().out
    assert labkit.connect(quiet=True).connection_pool.connection_kwargs["port"] == client.connection_pool.connection_kwargs["port"]
    assert capsys.readouterr().out == ""


def test_a_url_points_at_your_own_server(standalone, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_REDIS_URL", standalone.url)
    client = labkit.connect()
    client.set("via-url", "1")
    assert standalone.client().get("via-url") == "1"
    assert "cluster mode disabled" in capsys.readouterr().out
    assert connect_module._shared_lab is None  # nothing local was started


def test_a_cluster_url_gives_a_cluster_client(monkeypatch, capsys):
    with labkit.Cluster(shards=1, replicas=0) as cluster:
        monkeypatch.setenv("LABKIT_REDIS_URL", f"redis://127.0.0.1:{cluster.nodes[0].port}")
        client = labkit.connect()
        assert isinstance(client, RedisCluster)
        client.set("k", "v")
        assert "cluster mode enabled" in capsys.readouterr().out


def test_a_password_in_the_url_is_not_printed(standalone, monkeypatch, capsys):
    standalone.client().config_set("requirepass", "s3cret")
    try:
        monkeypatch.setenv("LABKIT_REDIS_URL", f"redis://default:s3cret@127.0.0.1:{standalone.port}")
        assert labkit.connect().ping()
        printed = capsys.readouterr().out
        assert "s3cret" not in printed and "***" in printed
    finally:
        redis.Redis(port=standalone.port, password="s3cret").config_set("requirepass", "")


def test_an_unreachable_url_says_what_to_check(monkeypatch):
    monkeypatch.setenv("LABKIT_REDIS_URL", "redis://127.0.0.1:1")
    with pytest.raises(labkit.LabkitError, match="Cannot reach redis://127.0.0.1:1.*unset LABKIT_REDIS_URL"):
        labkit.connect()


def test_a_malformed_url_is_refused(monkeypatch):
    monkeypatch.setenv("LABKIT_REDIS_URL", "http://example")
    with pytest.raises(labkit.LabkitError, match="not a valid Redis URL"):
        labkit.connect()


def test_no_runnable_binary_falls_back_to_fakeredis_and_says_what_it_lacks(monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_SERVER", "/nonexistent/valkey-server")
    client = labkit.connect()
    assert isinstance(client, fakeredis.FakeRedis)
    client.set("k", "v")
    assert client.get("k") == "v"
    printed = capsys.readouterr().out
    assert "using fakeredis" in printed and "no replication, no cluster" in printed


def test_stop_all_stops_the_shared_server():
    # In a separate interpreter: stop_all() stops every lab of its process, this test's fixtures included.
    code = (
        "import labkit, importlib\n"
        "labkit.connect(quiet=True)\n"
        "lab = importlib.import_module('labkit.connect')._shared_lab\n"
        "print(labkit.stop_all(), lab.lifecycle, lab.nodes[0].is_running())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["1", "stopped", "False"], result.stderr


def test_doctor_in_a_notebook_returns_a_report():
    report = labkit.doctor()
    assert report.ok
    text = repr(report)
    assert "engine" in text and "Valkey" in text and "All good" in text

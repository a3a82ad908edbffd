"""`labkit up | status | down | doctor` as a facilitator would run them in a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from labkit.reaper import is_our_server


@pytest.fixture()
def run_dir(tmp_path, monkeypatch):
    """A private run directory, so this test's `labkit up` lab is the only one it can see."""
    directory = tmp_path / "run"
    monkeypatch.setenv("LABKIT_RUN_DIR", str(directory))
    yield directory
    subprocess.run([sys.executable, "-m", "labkit.cli", "down"], capture_output=True, timeout=60)


def labkit_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, timeout=timeout, env=os.environ)


def test_up_status_attach_down(run_dir):
    started = labkit_cli("up", "--mode", "cluster", "--shards", "2", "--replicas", "1", "--azs", "east,west")
    assert started.returncode == 0, started.stderr
    assert "waiting for cluster_state:ok" in started.stdout and "ready" in started.stdout
    assert "labkit.attach()" in started.stdout

    status = labkit_cli("status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    header = next(line for line in lines if line.startswith("node"))
    assert header.split() == ["node", "port", "role", "shard", "az", "status"]
    rows = [line.split() for line in lines[lines.index(header) + 1:] if line.strip()]
    assert len(rows) == 4 and {row[4] for row in rows} == {"east", "west"} and {row[5] for row in rows} == {"up"}

    # A notebook (another process) uses the lab, and the servers outlived `labkit up`.
    code = (
        "import json, labkit\n"
        "lab = labkit.attach()\n"
        "lab.client().set('from-notebook', 'yes')\n"
        "print(json.dumps({'value': lab.client().get('from-notebook'), 'nodes': [[n.pid, n.port] for n in lab.nodes]}))\n"
    )
    used = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert used.returncode == 0, used.stderr
    facts = json.loads(used.stdout.strip().splitlines()[-1])
    assert facts["value"] == "yes"
    assert all(is_our_server(pid, port) for pid, port in facts["nodes"])  # still running after that process exited

    stopped = labkit_cli("down")
    assert stopped.returncode == 0 and "stopped 4 node(s)" in stopped.stdout
    assert not any(is_our_server(pid, port) for pid, port in facts["nodes"])
    again = labkit_cli("status")
    assert again.returncode == 1 and "No lab started by `labkit up` is running" in again.stderr


def test_up_twice_is_refused(run_dir):
    assert labkit_cli("up", "--mode", "standalone").returncode == 0
    second = labkit_cli("up", "--mode", "standalone")
    assert second.returncode == 2 and "already running" in second.stderr


def test_bad_arguments_say_what_to_do(run_dir):
    result = labkit_cli("up", "--mode", "replication", "--replicas", "9")
    assert result.returncode == 2 and "replicas must be a whole number from 0 to 5" in result.stderr
    result = labkit_cli("up", "--azs", "a,a")
    assert result.returncode == 2 and "more than once" in result.stderr


def test_down_without_a_lab(run_dir):
    result = labkit_cli("down")
    assert result.returncode == 1 and "labkit up" in result.stderr


def test_doctor_reports_engine_features_and_ports(run_dir):
    result = labkit_cli("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    for expected in ("server binary", "engine", "availability-zone", "tls", "start a server", "ports", "memory", "All good"):
        assert expected in result.stdout


def test_doctor_explains_a_missing_binary(run_dir):
    result = labkit_cli("doctor", "--server", "/nonexistent/redis-server")
    assert result.returncode == 1
    assert "[FAIL] server binary" in result.stdout and "LABKIT_SERVER" in result.stdout

"""A lab started with `labkit up` and used from notebooks through `labkit.attach()`: the same
automatic failover and fault API as a lab started in the notebook, one Multi-AZ monitor however
many processes attach, and a `labkit down` that attached processes survive quietly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import redis

import labkit
from labkit.reaper import all_records, is_our_server, labs_directory, sweep_orphans
from labkit.session import multi_az_monitor_pid

from fault_support import eventually, role_of


@pytest.fixture()
def run_dir(tmp_path, monkeypatch):
    """A private run directory: the `labkit up` lab of this test is the only one it can see."""
    directory = tmp_path / "run"
    monkeypatch.setenv("LABKIT_RUN_DIR", str(directory))
    children: list[subprocess.Popen] = []
    yield children
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()
    subprocess.run([sys.executable, "-m", "labkit.cli", "down"], capture_output=True, timeout=60)


def labkit_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, timeout=timeout, env=os.environ)


def labkit_up(*args: str) -> None:
    started = labkit_cli("up", *args)
    assert started.returncode == 0, started.stdout + started.stderr


def notebook(children: list, code: str) -> subprocess.Popen:
    """Another process (a second notebook) running `code`; its first printed line is awaited."""
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children.append(child)
    return child


def first_line(child: subprocess.Popen) -> dict:
    line = child.stdout.readline()
    if not line:
        raise AssertionError(child.stderr.read())
    return json.loads(line)


def masters(group) -> list[str]:
    """The nodes that answer ROLE as a primary now (asked of the servers, not of labkit)."""
    return [node.name for node in group.nodes if node.is_running() and role_of(node) == "master"]


def test_an_attached_replication_group_fails_over_by_itself(run_dir):
    labkit_up("--mode", "replication", "--replicas", "2")
    group = labkit.attach()
    assert eventually(lambda: multi_az_monitor_pid() == os.getpid())  # the only attached process runs it
    host, port = group.primary_endpoint.address
    before = redis.Redis(host=host, port=port, decode_responses=True)
    before.set("order:1", "paid")
    assert before.wait(2, 2000) == 2

    old = group.primary()
    group.kill(old)
    new = group.wait_for_failover(timeout=10)
    assert new is not old and role_of(new) == "master"
    assert masters(group) == [new.name]
    other = next(node for node in group.replicas() if node is not old)
    assert eventually(lambda: other.client().execute_command("ROLE")[2] == new.port)

    # A stock client made from the primary endpoint writes again, on the new primary.
    host, port = group.primary_endpoint.address
    after = redis.Redis(host=host, port=port, decode_responses=True)
    assert eventually(lambda: after.set("order:2", "paid"))
    assert after.get("order:1") == "paid" and new.client().get("order:2") == "paid"

    # `labkit status` (another process) sees the failover, and the old primary rejoins as a replica.
    rows = {line.split()[0]: line.split() for line in labkit_cli("status").stdout.splitlines() if line.split()}
    assert rows[new.name][2] == "primary" and rows[old.name][2] == "replica"
    group.restart(old)
    assert role_of(old) == "slave" and masters(group) == [new.name]


def test_one_monitor_however_many_processes_attach(run_dir):
    labkit_up("--mode", "replication", "--replicas", "2")
    other = notebook(run_dir, """
        import json, os, time, labkit
        group = labkit.attach()
        print(json.dumps({"pid": os.getpid()}), flush=True)
        time.sleep(600)
    """)
    other_pid = first_line(other)["pid"]
    assert eventually(lambda: multi_az_monitor_pid() == other_pid)
    group = labkit.attach()

    # This process kills the primary; the other one's monitor promotes a replica, and this one follows.
    first = group.primary()
    group.kill(first)
    second = group.wait_for_failover(timeout=10)
    assert masters(group) == [second.name]
    assert "changed by another process" in group.fault_log_text()
    assert group.primary_endpoint.address[1] == second.port
    assert multi_az_monitor_pid() == other_pid

    # The other process dies: this one takes the monitor over and fails over by itself.
    os.kill(other_pid, signal.SIGKILL)
    other.wait(10)
    assert eventually(lambda: multi_az_monitor_pid() == os.getpid())
    group.restart(first)
    group.kill(second)
    third = group.wait_for_failover(timeout=10)
    assert third is not second and masters(group) == [third.name]
    assert "did not answer" in group.fault_log[-1].detail


def test_a_node_restarted_by_another_process_is_followed(run_dir):
    labkit_up("--mode", "standalone")
    lab = labkit.attach()
    node = lab.nodes[0]
    other = notebook(run_dir, """
        import json, labkit
        lab = labkit.attach()
        lab.kill(lab.nodes[0])
        lab.restart(lab.nodes[0])
        print(json.dumps({"pid": lab.nodes[0].pid}), flush=True)
    """)
    pid = first_line(other)["pid"]
    assert other.wait(30) == 0
    assert eventually(lambda: node.pid == pid)
    assert node.status is labkit.NodeStatus.UP and is_our_server(pid, node.port)  # it outlived the process that started it
    assert lab.client().ping()
    lab.kill(node)  # this process can signal a server another one started
    assert not is_our_server(pid, node.port)


def test_an_attached_cluster_has_the_fault_api(run_dir):
    labkit_up("--mode", "cluster", "--shards", "3", "--replicas", "1")
    cluster = labkit.attach()
    assert cluster.role_watcher is not None and cluster.role_watcher.alive
    stock = redis.RedisCluster(host="127.0.0.1", port=cluster.primary(2).port, decode_responses=True)
    tag = cluster.hash_tag_for(0)
    stock.set(f"{tag}:a", "1")

    old = cluster.primary(0)
    cluster.kill(old)
    new = cluster.wait_for_failover(0)
    assert role_of(new) == "master"
    assert eventually(lambda: any(event.action == "promoted" and event.target == new.name for event in cluster.fault_log))
    assert eventually(lambda: stock.set(f"{tag}:b", "2"), timeout=15)
    cluster.restart(old)
    assert role_of(old) == "slave"
    cluster.wait_converged(30)
    assert cluster.failover(0, to=old) is old and role_of(old) == "master"  # primaries spread over the AZs again

    replica = cluster.replicas(1)[0]
    with cluster.paused(replica):
        assert replica.status is labkit.NodeStatus.PAUSED
    assert replica.client().ping()

    report = cluster.fail_az(cluster.primary(1).az)
    assert report.shards_that_lost_writes == (1,) and report.write_outage_s[1] is not None
    cluster.restore_az(report.az)
    cluster.wait_converged(30)
    assert stock.get(f"{tag}:a") == "1" and stock.get(f"{tag}:b") == "2"
    status = labkit_cli("status").stdout
    assert status.count(" up") >= 6 and "down" not in status


DOWN_WATCHER = """
    import json, os, sys, threading, time
    import labkit
    problems = []
    threading.excepthook = lambda args: problems.append(repr(args.exc_value))
    lab = labkit.attach()
    view = labkit.viz.TopologyView(lab)
    view.watch(0.1, display=False)
    probe = labkit.Probe(lab, read=False).start()
    node = lab.replicas(0)[0] if lab.kind == "replication" else lab.replicas(1)[0]
    lab.restart(node)  # this process starts a server of the lab: `labkit down` must stop it too
    print(json.dumps({"restarted": [node.pid, node.port]}), flush=True)
    deadline = time.monotonic() + 60
    while str(lab.lifecycle) == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the background threads end after their current step
    probe.stop(verify=False)
    state = lab.state()
    print(json.dumps({
        "lifecycle": str(lab.lifecycle),
        "statuses": sorted({str(node.status) for node in state.nodes}),
        "threads": sorted(thread.name for thread in threading.enumerate() if thread.name.startswith("labkit-")),
        "view_watching": view.watching,
        "zombie": os.path.exists(f"/proc/{node.pid}"),
        "problems": problems,
        "last_event": str(lab.fault_log[-1].action),
    }), flush=True)
    lab.client()
"""


@pytest.mark.parametrize("mode", ["replication", "cluster"])
def test_labkit_down_while_attached_stops_everything_quietly(run_dir, mode):
    labkit_up("--mode", mode, "--replicas", "1", "--shards", "2")
    record = next(record for record in all_records() if record.detached)
    recorded = [(node["pid"], node["port"]) for node in record.nodes]
    watcher = notebook(run_dir, DOWN_WATCHER)
    restarted = first_line(watcher)["restarted"]

    stopped = labkit_cli("down")
    assert stopped.returncode == 0, stopped.stderr
    facts = first_line(watcher)
    assert watcher.wait(30) == 1  # its last line, lab.client(), raised: the lab is stopped
    errors = watcher.stderr.read()
    assert "labkit down" in errors.strip().splitlines()[-1] and errors.count("Traceback") == 1
    assert facts["lifecycle"] == "stopped" and facts["statuses"] == ["stopped"] and facts["last_event"] == "stopped"
    assert facts["threads"] == [] and not facts["view_watching"] and facts["problems"] == []
    assert not facts["zombie"]
    assert not any(is_our_server(pid, port) for pid, port in recorded + [tuple(restarted)])
    assert list(labs_directory().iterdir()) == []  # no record, no lock file


def test_the_sweep_keeps_a_lab_whose_servers_are_all_down_while_a_process_is_attached(run_dir):
    labkit_up("--mode", "standalone")
    lab = labkit.attach()
    lab.kill(lab.nodes[0])
    sweep_orphans()  # what every labkit start in any process runs
    assert any(record.detached for record in all_records())
    lab.restart(lab.nodes[0])
    assert lab.client().ping()

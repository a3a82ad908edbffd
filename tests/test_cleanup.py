"""No server outlives its lab: stop(), exceptions, failed starts, interpreter exit, kernel
restart, kernel interrupt, a kernel killed with SIGKILL, and the sweep at the next start.

Each test checks only the pids of the servers it started (other labs may run on this machine).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

import labkit
from labkit.reaper import all_records, is_our_server, sweep_orphans

ORPHAN_DEADLINE_S = 2.0


def _servers_alive(pids_ports) -> list[int]:
    return [pid for pid, port in pids_ports if is_our_server(pid, port)]


def _wait_until_gone(pids_ports, deadline_s: float = ORPHAN_DEADLINE_S) -> list[int]:
    """Poll until every server is gone or the deadline passes; returns the survivors."""
    deadline = time.monotonic() + deadline_s
    while True:
        alive = _servers_alive(pids_ports)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


def _eventually(condition, deadline_s: float = ORPHAN_DEADLINE_S) -> bool:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _nodes_of(lab) -> list[tuple[int, int]]:
    return [(node.pid, node.port) for node in lab.nodes]


def test_stop_ends_every_process_and_removes_the_files():
    lab = labkit.Cluster(shards=2, replicas=1).start()
    nodes, workdir = _nodes_of(lab), lab.workdir
    assert len(_servers_alive(nodes)) == 4
    lab.stop()
    assert _servers_alive(nodes) == [] and not workdir.exists()
    assert all(record.lab_id != lab.lab_id for record in all_records())


def test_an_exception_in_a_with_block_stops_the_lab():
    with pytest.raises(ZeroDivisionError):
        with labkit.ReplicationGroup(replicas=1) as group:
            nodes = _nodes_of(group)
            1 / 0
    assert _servers_alive(nodes) == []


def test_a_start_that_fails_halfway_stops_what_it_started():
    class Interrupted(Exception):
        pass

    started = []

    def interrupt_after_launch(message: str) -> None:
        if "MEET" in message:
            started.extend(_nodes_of(lab))
            raise Interrupted

    lab = labkit.Cluster(shards=3, replicas=1)
    with pytest.raises(Interrupted):
        lab.start(progress=interrupt_after_launch)
    assert len(started) == 6 and _servers_alive(started) == []
    assert lab.lifecycle is labkit.Lifecycle.STOPPED and not lab.workdir.exists()


def test_keyboard_interrupt_during_start_stops_what_it_started():
    started = []

    def press_ctrl_c(message: str) -> None:
        if "attaching replicas" in message:
            started.extend(_nodes_of(lab))
            raise KeyboardInterrupt

    lab = labkit.ReplicationGroup(replicas=2)
    with pytest.raises(KeyboardInterrupt):
        lab.start(progress=press_ctrl_c)
    assert len(started) == 3 and _servers_alive(started) == []


def test_a_node_that_dies_on_start_stops_the_others_and_shows_its_log():
    lab = labkit.Cluster(shards=2, replicas=1, config={"no-such-directive": "yes"})
    with pytest.raises(labkit.NodeStartError, match="exited with code") as caught:
        lab.start()
    assert "no-such-directive" in str(caught.value)
    assert _servers_alive(_nodes_of(lab)) == []


CHILD_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import labkit
    from labkit.reaper import Watchdog
    lab = labkit.{topology}.start()
    print(json.dumps({{"nodes": [[n.pid, n.port] for n in lab.nodes], "watchdog": Watchdog.pid(), "workdir": str(lab.workdir)}}), flush=True)
    {then}
    """
)


def _child(topology: str, then: str) -> tuple[subprocess.Popen, dict]:
    code = CHILD_SCRIPT.format(topology=topology, then=then)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = child.stdout.readline()
    if not line:
        raise AssertionError(child.stderr.read())
    return child, json.loads(line)


def test_interpreter_exit_stops_labs_left_running():
    child, facts = _child("ReplicationGroup(replicas=1)", "sys.exit(0)")
    child.wait(timeout=30)
    assert _wait_until_gone(facts["nodes"]) == []
    assert not Path(facts["workdir"]).exists()


def test_sigkill_of_the_owner_lets_the_watchdog_stop_the_servers():
    child, facts = _child("Cluster(shards=1, replicas=1)", "time.sleep(600)")
    assert len(_servers_alive(facts["nodes"])) == 2
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert _wait_until_gone(facts["nodes"]) == [], f"orphans still running {ORPHAN_DEADLINE_S} s after SIGKILL"
    assert _eventually(lambda: not Path(facts["workdir"]).exists()), "the watchdog should remove the lab's files"


@pytest.fixture()
def private_run_dir(tmp_path, monkeypatch):
    """A run directory of this test alone, so that no other labkit process sweeps its orphan first."""
    monkeypatch.setenv("LABKIT_RUN_DIR", str(tmp_path / "run"))
    yield
    sweep_orphans()  # whatever a failed assertion left behind in this directory


def test_the_next_start_sweeps_servers_whose_owner_and_watchdog_both_died(private_run_dir):
    child, facts = _child("Standalone()", "time.sleep(600)")
    os.kill(facts["watchdog"], signal.SIGKILL)  # the worst case: the safety net is gone too
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    time.sleep(0.2)
    assert len(_servers_alive(facts["nodes"])) == 1, "the server should have survived without its watchdog"
    assert sweep_orphans() >= 1
    assert _wait_until_gone(facts["nodes"]) == []
    assert not Path(facts["workdir"]).exists()


def test_the_sweep_leaves_labs_of_live_owners_alone(private_run_dir):
    child, facts = _child("Standalone()", "time.sleep(600)")
    try:
        sweep_orphans()
        assert len(_servers_alive(facts["nodes"])) == 1
    finally:
        child.kill()
        child.wait()
    assert _wait_until_gone(facts["nodes"]) == []


# -- a real Jupyter kernel ---------------------------------------------------------------------
@pytest.fixture()
def kernel():
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(Path(__file__).parent))
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    yield manager, client
    client.stop_channels()
    if manager.is_alive():
        manager.shutdown_kernel(now=True)


def _run(client, code: str, timeout: float = 60) -> str:
    """Execute code in the kernel and return what it printed (messages of other cells ignored)."""
    output = []
    msg_id = client.execute(code)
    while True:
        message = client.get_iopub_msg(timeout=timeout)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            output.append(content["text"])
        elif kind == "error":
            output.append("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(output)


START_IN_KERNEL = (
    "import json, labkit\n"
    "lab = labkit.Cluster(shards=2, replicas=1).start()\n"
    "print(json.dumps([[n.pid, n.port] for n in lab.nodes]))\n"
)


def test_kernel_restart_stops_the_servers(kernel):
    manager, client = kernel
    nodes = json.loads(_run(client, START_IN_KERNEL).strip().splitlines()[-1])
    assert len(_servers_alive(nodes)) == 4
    manager.restart_kernel(now=False)
    assert _wait_until_gone(nodes) == []


def test_kernel_killed_with_sigkill_leaves_no_orphans(kernel):
    manager, client = kernel
    nodes = json.loads(_run(client, START_IN_KERNEL).strip().splitlines()[-1])
    os.kill(manager.provisioner.process.pid, signal.SIGKILL)
    assert _wait_until_gone(nodes) == [], f"orphans still running {ORPHAN_DEADLINE_S} s after the kernel was killed"


def test_kernel_interrupt_during_start_stops_what_had_started(kernel):
    manager, client = kernel
    kernel_pid = manager.provisioner.process.pid
    first = client.execute(
        "import labkit, time\n"
        "lab = labkit.Cluster(shards=3, replicas=1)\n"
        "lab.start(progress=lambda message: time.sleep(60) if 'MEET' in message else None)\n"
    )
    deadline = time.monotonic() + 30
    nodes: list = []
    while time.monotonic() < deadline and len(nodes) < 6:
        records = [record for record in all_records() if record.owner_pid == kernel_pid]
        nodes = [(node["pid"], node["port"]) for record in records for node in record.nodes if node["pid"]]
        time.sleep(0.05)
    assert len(_servers_alive(nodes)) == 6
    manager.interrupt_kernel()
    assert _wait_until_gone(nodes, 10) == []
    while not (
        (message := client.get_iopub_msg(timeout=30))["parent_header"].get("msg_id") == first
        and message["msg_type"] == "status" and message["content"]["execution_state"] == "idle"
    ):
        pass  # let the interrupted cell finish before the next one
    # The kernel survived the interrupt and can start a lab again.
    assert "PONG" in _run(client, "with labkit.Standalone() as s: print('PONG' if s.client().ping() else 'no')")

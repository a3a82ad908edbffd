"""Helpers shared by the fault, failover, probe, endpoint and scaling tests."""

from __future__ import annotations

import time

import pytest

from labkit.node import Node
from labkit.reaper import is_our_server


#: Labs shared by several tests (conftest's session fixtures): their nodes outlive a test on purpose and
#: are stopped with the lab at the end of the session.
SHARED_LABS: list = []


@pytest.fixture()
def started_pids(monkeypatch):
    """Every (pid, port) a test launched, restarts included; checked to be gone at the end
    (except nodes of a shared lab, which the session stops)."""
    seen: list[tuple[int, int]] = []
    original = Node.launch

    def launch(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        seen.append((self.pid, self.port))
        return result

    monkeypatch.setattr(Node, "launch", launch)
    yield seen
    shared = {node.pid for lab in SHARED_LABS for node in lab.nodes}
    leftovers = [(pid, port) for pid, port in seen if pid not in shared and is_our_server(pid, port)]
    assert not leftovers, f"servers left running after the test: {leftovers}"


def eventually(condition, timeout: float = 10.0, interval: float = 0.01):
    """Poll until `condition()` is truthy; return its value, or fail the test."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # noqa: BLE001
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last error: {last_error!r})")


def role_of(node: Node) -> str:
    with node.client(socket_timeout=2.0) as client:
        return client.execute_command("ROLE")[0]


def reset_lab(lab) -> None:
    """Bring a shared lab back to how it was built, between tests: every node up, each shard's
    primary the node built as primary (so placement holds), every replica linked."""
    from labkit import NodeStatus

    for node in list(lab.nodes):
        if node.status is NodeStatus.PAUSED:
            lab.resume(node)
    for node in list(lab.nodes):
        if not node.is_running():
            lab.restart(node)
    if lab.kind == "cluster":
        lab.wait_converged(30)
        lab.sync_roles()
        for shard in lab.shards:
            built = lab.node(f"shard-{shard}-primary")
            if lab.primary(shard) is not built:
                lab.failover(shard, to=built)
        lab.wait_converged(30)

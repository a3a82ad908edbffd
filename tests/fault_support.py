"""Helpers shared by the fault, failover, probe, endpoint and scaling tests."""

from __future__ import annotations

import time

import pytest

from labkit.node import Node
from labkit.reaper import is_our_server


@pytest.fixture()
def started_pids(monkeypatch):
    """Every (pid, port) a test launched, restarts included; checked to be gone at the end."""
    seen: list[tuple[int, int]] = []
    original = Node.launch

    def launch(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        seen.append((self.pid, self.port))
        return result

    monkeypatch.setattr(Node, "launch", launch)
    yield seen
    leftovers = [(pid, port) for pid, port in seen if is_our_server(pid, port)]
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

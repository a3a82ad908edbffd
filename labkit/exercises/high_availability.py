"""Exercises for notebook 12_failover_and_high_availability: graceful failover, durability, downtime.

They check a live replication group::

    from labkit.exercises import high_availability as ex
    ex.use(group)
    ex.q1.prepare(group.client())
    ex.q1.check()
"""

from __future__ import annotations

import time
from textwrap import dedent
from typing import Any

from ..node import NodeStatus, Role
from .core import NotAttempted, Problem, expect, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "12_failover_and_high_availability"


def _live(nodes):
    return [node for node in nodes if node.status is NodeStatus.UP and node.is_running()]


class GracefulFailover(Problem):
    title = "Fail over without losing a write"
    needs = "replication"
    hints = (
        "lab.failover() promotes a replica; its mode decides whether it waits for the replica to catch up.",
        "mode='graceful' (FAILOVER TO) pauses writes until the replica has every write, then swaps the roles.",
    )
    solution_code = "lab.failover(mode='graceful')"
    wrong_code = "lab.failover(mode='force')"
    wrong_message = "not graceful"

    def __init__(self) -> None:
        super().__init__()
        self._primary_before: str | None = None
        self._since = 0.0

    def prepare(self, r: Any) -> None:
        """Remember which node is primary now, so the check can tell that it changed."""
        self._primary_before = self.lab.primary().name
        self._since = time.time()

    def verify(self, r: Any, answer: Any) -> str:
        if self._primary_before is None:
            raise NotAttempted("run ex.q1.prepare(lab.client()) first: it notes which node is primary now")
        lab = self.lab
        new = lab.primary()
        if new.name == self._primary_before:
            raise NotAttempted(f"{new.name} is still the primary: fail over to one of the replicas")
        with new.client(socket_timeout=1.0) as client:
            expect(client.execute_command("ROLE")[0] == "master", f"labkit says {new.name} is primary, but the server does not agree yet")
        failovers = [event for event in lab.fault_log if event.action == "failover" and event.time >= self._since]
        expect(failovers, "the primary changed without a failover (did a node restart?): use lab.failover()")
        expect("graceful" in failovers[-1].detail, f"that failover was not graceful ({failovers[-1].detail.split(';')[0]}): use mode='graceful'")
        expect(lab.primary_endpoint.addresses == [("127.0.0.1", new.port)], "the primary endpoint does not point at the new primary yet")
        return f"{new.name} took over from {self._primary_before} after catching up: no acknowledged write was lost"


class DurableWrites(Problem):
    title = "Refuse writes that no replica has"
    needs = "replication"
    hints = (
        "min-replicas-to-write N makes a primary refuse writes (NOREPLICAS) unless N replicas acknowledged within min-replicas-max-lag seconds.",
        "Every node may become primary: set it on all of them. lab.set_durability(min_replicas_to_write=1, min_replicas_max_lag=2) does that.",
    )
    solution_code = "lab.set_durability(min_replicas_to_write=1, min_replicas_max_lag=2)"
    wrong_code = dedent("""
        r.config_set("min-replicas-to-write", 1)
        r.config_set("min-replicas-max-lag", 2)
    """)
    wrong_message = "on every node"

    def prepare(self, r: Any) -> None:
        """Turn the setting off on every node (labkit's default)."""
        self.lab.set_durability(min_replicas_to_write=0, min_replicas_max_lag=10)

    def verify(self, r: Any, answer: Any) -> str:
        settings = {}
        for node in _live(self.lab.nodes):
            with node.client(socket_timeout=1.0) as client:
                found = client.config_get("min-replicas-*")
            settings[node.name] = (int(found["min-replicas-to-write"]), int(found["min-replicas-max-lag"]))
        if all(to_write == 0 for to_write, _ in settings.values()):
            raise NotAttempted("min-replicas-to-write is 0 (off) on every node")
        for name, (to_write, max_lag) in settings.items():
            expect(to_write >= 1, f"{name} has min-replicas-to-write {to_write}: set it on every node, since any of them may be promoted")
            expect(to_write == 1, f"{name} needs {to_write} replicas: right after a failover only one is left, and every write would be refused")
            expect(max_lag <= 2, f"{name} has min-replicas-max-lag {max_lag} s: a replica that silent may have missed that many seconds of writes; use 1 or 2")
        return "every node refuses writes unless a replica keeps up"


class MeasureDowntime(Problem):
    title = "Measure how long writes were down"
    takes_answer = True
    needs = "replication"
    hints = (
        "Run a labkit.Probe through lab.primary_endpoint, kill the primary with lab.kill(lab.primary()), then lab.wait_for_failover().",
        "probe.stop() returns a ProbeResult; its write_unavailable_s is the answer.",
    )
    solution_code = dedent("""
        import labkit
        with labkit.Probe(lab.primary_endpoint) as probe:
            lab.kill(lab.primary())
            lab.wait_for_failover()
        answer = probe.result.write_unavailable_s
    """)
    wrong_code = dedent("""
        import labkit
        with labkit.Probe(lab.primary_endpoint) as probe:
            lab.kill(lab.primary())
            lab.wait_for_failover()
        answer = probe.result.p99_s("write")
    """)
    wrong_message = "shorter"

    def __init__(self) -> None:
        super().__init__()
        self._since = 0.0

    def prepare(self, r: Any) -> None:
        """Note the time: only a kill after this counts. Every node must be up."""
        down = [node.name for node in self.lab.nodes if node.status is not NodeStatus.UP]
        for name in down:
            self.lab.restart(name)
        self.lab.set_durability(min_replicas_to_write=0)
        self._since = time.time()

    def verify(self, r: Any, answer: Any) -> str:
        expect(isinstance(answer, (int, float)) and not isinstance(answer, bool), f"pass a number of seconds; got {answer!r}")
        events = [event for event in self.lab.fault_log if event.time >= self._since]
        kills = [event for event in events if event.action == "kill"]
        expect(kills, "no node was killed since ex.q3.prepare(...): kill the primary while the probe runs")
        deadline = time.monotonic() + 3.0
        while True:  # the monitor logs a failover just after it repoints the replicas
            promoted = [event for event in self.lab.fault_log if event.action == "failover" and event.time > kills[0].time]
            if promoted or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        expect(promoted, "no replica has been promoted yet: call lab.wait_for_failover() before stopping the probe")
        failover_s = promoted[0].time - kills[0].time
        expect(answer >= 0.5 * failover_s, f"{answer:.3f} s is much shorter than the failover, which took {failover_s:.2f} s: "
               "use the probe's write_unavailable_s, not a latency")
        expect(answer <= failover_s + 1.5, f"{answer:.3f} s is much longer than the {failover_s:.2f} s from kill to promotion: measure only while the probe runs")
        new = self.lab.primary()
        expect(new.role is Role.PRIMARY and new.name != kills[0].target, "the killed node is still labkit's primary")
        return f"writes were down {answer:.2f} s; the kill-to-promotion time was {failover_s:.2f} s"


q1 = GracefulFailover()
q2 = DurableWrites()
q3 = MeasureDowntime()

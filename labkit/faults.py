"""Break a lab on purpose and undo it: kill, pause, restart, fail a whole availability zone.

Every topology (Standalone, ReplicationGroup, Cluster) has these methods; each fault is also a
context manager that undoes itself, and each is written to `topology.fault_log`. Each change is
made inside `roles_frozen()`: for a lab `labkit up` started, which several processes may use,
that brings this process up to date first and records the change for the others.

Example::

    with labkit.ReplicationGroup(replicas=2) as group:
        group.kill(group.primary())          # SIGKILL: the monitor promotes a replica
        with group.paused(group.replicas()[0]):
            ...                              # SIGSTOP: holds its port, answers nothing
        report = group.fail_az("az-b")       # every node of az-b at once
        group.restore_az("az-b")             # back, as replicas
        for event in group.fault_log:
            print(event)
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from ._polling import wait_until  # noqa: F401 - re-exported: labkit.exercises polls with it
from .errors import ConfigurationError, TopologyStateError
from .node import Node, NodeStatus, Role
from .reaper import Watchdog


@dataclass(frozen=True)
class FaultEvent:
    """One thing that happened to a lab: a fault, a failover, a scaling step.

    `time` is `time.time()`; `action` is a short verb ("kill", "pause", "resume", "restart",
    "fail_az", "restore_az", "failover", "promoted", "add_shard", "move_slots", ...); `target`
    names the node, shard or AZ; `detail` says the rest in words.
    """

    time: float
    action: str
    target: str
    detail: str = ""

    def __str__(self) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(self.time)) + f".{int(self.time % 1 * 1000):03d}"
        return f"{clock}  {self.action:<11} {self.target:<22} {self.detail}".rstrip()


@dataclass(frozen=True)
class AzFailureReport:
    """What `fail_az(az)` did: the nodes killed, and for each shard whose primary was there,
    how long it had no primary (`None`: no surviving replica, writes stay down until restore).

    Example::

        report = cluster.fail_az("az-a")
        report.shards_that_lost_writes      # (0,)
        report.write_outage_s               # {0: 2.1}
        print(report)
    """

    az: str
    killed: tuple[str, ...]
    shards_that_lost_writes: tuple[int, ...]
    write_outage_s: dict[int, float | None] = field(default_factory=dict)
    new_primaries: dict[int, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"{self.az} failed: killed {', '.join(self.killed) or 'nothing'}"]
        if not self.shards_that_lost_writes:
            lines.append("no shard lost its primary: writes kept working everywhere")
        for shard in self.shards_that_lost_writes:
            outage = self.write_outage_s.get(shard)
            if outage is None:
                lines.append(f"shard {shard}: no primary and no replica left to promote; writes are down until restore_az()")
            else:
                lines.append(f"shard {shard}: writes down for {outage:.1f} s, until {self.new_primaries.get(shard, '?')} was promoted")
        return "\n".join(lines)


class FaultInjection:
    """The fault methods every topology has (mixed into `Topology`)."""

    fault_log: list[FaultEvent]

    # -- the log --------------------------------------------------------------------------------
    def log_event(self, action: str, target: str, detail: str = "") -> FaultEvent:
        """Add an event to `fault_log` (labkit does this for every fault, failover and scaling step)."""
        event = FaultEvent(time.time(), action, target, detail)
        self.fault_log.append(event)  # list.append is atomic: monitor threads log too
        return event

    def fault_log_text(self) -> str:
        """The fault log as text, one event per line."""
        return "\n".join(str(event) for event in self.fault_log) or "(no events yet)"

    # -- checks ---------------------------------------------------------------------------------
    def _running_node(self, which: Node | int | str, action: str) -> Node:
        self.require_running()  # type: ignore[attr-defined]
        node = self.node(which)  # type: ignore[attr-defined]
        if node.status in (NodeStatus.DOWN, NodeStatus.STOPPED) or not node.is_running():
            raise TopologyStateError(
                f"cannot {action} {node.name} (port {node.port}): it is {node.status}. "
                f"Bring it back first with restart({node.name!r})."
            )
        return node

    def _check_az(self, az: str) -> list[Node]:
        self.require_running()  # type: ignore[attr-defined]
        nodes = [node for node in self.nodes if node.az == az]  # type: ignore[attr-defined]
        if az not in self.azs or not nodes:  # type: ignore[attr-defined]
            used = sorted({node.az for node in self.nodes if node.az})  # type: ignore[attr-defined]
            raise ConfigurationError(f"no node of this lab is in {az!r}; its nodes are in {', '.join(used)}.")
        return nodes

    # -- single-node faults ---------------------------------------------------------------------
    def kill(self, node: Node | int | str) -> Node:
        """SIGKILL a node: it vanishes like a host that lost power. `restart(node)` brings it back.

        Example::

            group.kill(group.primary())
        """
        with self.roles_frozen():  # type: ignore[attr-defined]
            target = self._running_node(node, "kill")
            role = target.role
            old_pid = target.pid
            target.kill()
            if old_pid is not None and not self.detached:  # type: ignore[attr-defined]
                Watchdog.forget(old_pid)
        self.log_event("kill", target.name, f"SIGKILL {role} on port {target.port} in {target.az}")
        self._after_kill(target)
        return target

    def pause(self, node: Node | int | str) -> Node:
        """SIGSTOP a node: it hangs but still holds its port (clients time out). `resume(node)` undoes it.

        Example::

            group.pause(group.replicas()[0])
        """
        with self.roles_frozen():  # type: ignore[attr-defined]
            target = self._running_node(node, "pause")
            if target.status is NodeStatus.PAUSED:
                raise TopologyStateError(f"{target.name} is already paused; resume({target.name!r}) first.")
            target.signal(signal.SIGSTOP)
            target.status = NodeStatus.PAUSED
        self.log_event("pause", target.name, f"SIGSTOP {target.role} on port {target.port}")
        return target

    def resume(self, node: Node | int | str) -> Node:
        """SIGCONT a paused node; if it was a primary that lost its job meanwhile, it becomes a replica.

        Example::

            group.resume(group.node("replica-1"))
        """
        with self.roles_frozen():  # type: ignore[attr-defined]
            target = self._running_node(node, "resume")
            if target.status is not NodeStatus.PAUSED:
                raise TopologyStateError(f"{target.name} is not paused (it is {target.status}); nothing to resume.")
            target.signal(signal.SIGCONT)
            target.status = NodeStatus.UP
        self.log_event("resume", target.name, f"SIGCONT on port {target.port}")
        self._after_resume(target)
        return target

    def restart(self, node: Node | int | str, timeout: float = 20.0) -> Node:
        """Start a node again on the same port and data directory; it rejoins its topology.

        A running node is stopped first (SIGTERM). Nodes keep no data on disk, so a restarted
        node gets its data from its primary; a primary that comes back before anyone replaced it
        comes back empty (as on ElastiCache without Multi-AZ or persistence).

        Example::

            group.kill(group.primary())
            group.restart("primary")       # the old primary rejoins as a replica
        """
        self.require_running()  # type: ignore[attr-defined]
        with self.roles_frozen():  # type: ignore[attr-defined]
            target = self.node(node)  # type: ignore[attr-defined]
            if target.is_running():
                old_pid = target.pid
                target.stop()
                if old_pid is not None and not self.detached:  # type: ignore[attr-defined]
                    Watchdog.forget(old_pid)
        # Not inside roles_frozen(): this may wait for a failover that another process makes.
        self._before_restart(target, timeout)
        with self.roles_frozen():  # type: ignore[attr-defined]
            target.launch()
            if not self.detached:  # type: ignore[attr-defined]
                target.watch()
        target.wait_ready(timeout)
        self._after_restart(target, timeout)
        self.save_record()  # type: ignore[attr-defined]
        self.log_event("restart", target.name, f"back on port {target.port} as {target.role}")
        return target

    # -- availability zones ---------------------------------------------------------------------
    def fail_az(self, az: str, timeout: float = 30.0) -> AzFailureReport:
        """Kill every node in an availability zone at once, then wait for the failovers it causes.

        Returns an `AzFailureReport`: which shards lost their primary and for how long.

        Example::

            report = cluster.fail_az("az-a")
            print(report)
            cluster.restore_az("az-a")
        """
        with self.roles_frozen():  # type: ignore[attr-defined]
            nodes = self._check_az(az)
            victims = [node for node in nodes if node.is_running() and node.status is not NodeStatus.DOWN]
            if not victims:
                raise TopologyStateError(f"every node of {az} is already down; restore_az({az!r}) brings them back.")
            lost = sorted({node.shard if node.shard is not None else 0 for node in victims if node.role is Role.PRIMARY})
            started = time.monotonic()
            for node in victims:
                old_pid = node.pid
                node.kill()
                if old_pid is not None and not self.detached:  # type: ignore[attr-defined]
                    Watchdog.forget(old_pid)
        self.log_event("fail_az", az, f"killed {', '.join(node.name for node in victims)}")
        for node in victims:
            self._after_kill(node)
        outage, promoted = self._wait_for_new_primaries(lost, started, timeout)
        return AzFailureReport(az, tuple(node.name for node in victims), tuple(lost), outage, promoted)

    def restore_az(self, az: str, timeout: float = 30.0) -> list[Node]:
        """Restart every stopped or killed node of an availability zone; they rejoin as replicas.

        Example::

            cluster.restore_az("az-a")
        """
        nodes = [node for node in self._check_az(az) if not node.is_running()]
        if not nodes:
            raise TopologyStateError(f"no node of {az} is down; nothing to restore.")
        self.log_event("restore_az", az, f"restarting {', '.join(node.name for node in nodes)}")
        return [self.restart(node, timeout) for node in nodes]

    # -- the same faults as context managers --------------------------------------------------------
    @contextlib.contextmanager
    def killed(self, node: Node | int | str) -> Iterator[Node]:
        """`with lab.killed(node):` SIGKILL on entry, restart on exit."""
        target = self.kill(node)
        try:
            yield target
        finally:
            self.restart(target)

    @contextlib.contextmanager
    def paused(self, node: Node | int | str) -> Iterator[Node]:
        """`with lab.paused(node):` SIGSTOP on entry, SIGCONT on exit."""
        target = self.pause(node)
        try:
            yield target
        finally:
            if target.status is NodeStatus.PAUSED:
                self.resume(target)

    @contextlib.contextmanager
    def restarting(self, node: Node | int | str) -> Iterator[Node]:
        """`with lab.restarting(node):` stopped (SIGTERM) on entry, started again on exit."""
        with self.roles_frozen():  # type: ignore[attr-defined]
            target = self._running_node(node, "stop")
            old_pid = target.pid
            target.stop()
            if old_pid is not None and not self.detached:  # type: ignore[attr-defined]
                Watchdog.forget(old_pid)
        self.log_event("stop", target.name, f"SIGTERM on port {target.port}")
        self._after_kill(target)
        try:
            yield target
        finally:
            self.restart(target)

    @contextlib.contextmanager
    def az_failed(self, az: str) -> Iterator[AzFailureReport]:
        """`with lab.az_failed("az-a") as report:` fail_az on entry, restore_az on exit."""
        report = self.fail_az(az)
        try:
            yield report
        finally:
            self.restore_az(az)

    # -- hooks the topologies fill in ------------------------------------------------------------
    def _after_kill(self, node: Node) -> None:
        """Called after a node died on purpose (the failure detectors notice by themselves)."""

    def _after_resume(self, node: Node) -> None:
        """Called after SIGCONT."""

    def _before_restart(self, node: Node, timeout: float) -> None:
        """Called before a stopped node is launched again."""

    def _after_restart(self, node: Node, timeout: float) -> None:
        """Called once a restarted node answers PING: make it rejoin."""

    def _wait_for_new_primaries(
        self, shards: list[int], started: float, timeout: float
    ) -> tuple[dict[int, float | None], dict[int, str]]:
        """Wait until each shard has a new primary: (outage seconds or None, new primary's name)."""
        return {shard: None for shard in shards}, {}

"""Exercises for notebook 15_cluster_failover_and_az_failure: failover time, AZ placement rules, failing back.

They check your cluster, so bind it first::

    from labkit.exercises import az_failure as ex
    ex.use(cluster)
    ex.q1.check(seconds)
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from ..node import NodeStatus
from ..topology.placement import placement_problems
from .core import NotAttempted, Problem, expect, use

__all__ = ["NOTEBOOK", "layout_of", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "15_cluster_failover_and_az_failure"


def layout_of(cluster: Any) -> list[tuple[str, tuple[str, ...]]]:
    """The live layout, one `(primary_az, replica_azs)` per shard (what the exercises compare with)."""
    cluster.sync_roles()
    return [(cluster.primary(shard).az, tuple(node.az for node in cluster.replicas(shard))) for shard in cluster.shards]


def _normalise(answer: Any) -> list[tuple[str, tuple[str, ...]]]:
    expect(isinstance(answer, (list, tuple)), f"pass a list with one (primary_az, replica_azs) pair per shard (got a {type(answer).__name__})")
    layout = []
    for index, entry in enumerate(answer):
        expect(isinstance(entry, (list, tuple)) and len(entry) == 2, f"entry {index} should be a pair (primary_az, replica_azs); got {entry!r}")
        primary, replicas = entry
        expect(isinstance(replicas, (list, tuple)), f"shard {index}: replica_azs should be a list or tuple of AZ names; got {replicas!r}")
        layout.append((primary, tuple(replicas)))
    return layout


class FailoverTime(Problem):
    title = "Measure how long a shard had no primary"
    needs = "cluster"
    takes_answer = True
    hints = (
        "Note time.monotonic() just before lab.kill(lab.primary(2)), then call lab.wait_for_failover(2, since=old).",
        "The answer is in seconds: time.monotonic() after wait_for_failover returns, minus the time you noted.",
    )
    solution_code = dedent("""
        import time
        old = lab.primary(2)
        started = time.monotonic()
        lab.kill(old)
        lab.wait_for_failover(2, since=old)
        answer = time.monotonic() - started
    """)
    wrong_code = dedent("""
        old = lab.primary(2)
        lab.kill(old)
        lab.wait_for_failover(2, since=old)
        answer = lab.node_timeout_ms
    """)
    wrong_message = "far from"

    def verify(self, r: Any, answer: Any) -> str:
        expect(isinstance(answer, (int, float)) and not isinstance(answer, bool), f"pass a number of seconds (got {answer!r})")
        lab = self.lab
        lab.sync_roles()
        events = list(lab.fault_log)
        kills = [event for event in events if event.action == "kill" and " primary " in f" {event.detail} "]
        if not kills:
            raise NotAttempted("no primary was killed in this cluster yet: kill one with lab.kill(lab.primary(2))")
        kill = kills[-1]
        shard = lab.node(kill.target).shard
        promoted = next(
            (event for event in events if event.action == "promoted" and event.time >= kill.time and event.detail.startswith(f"shard {shard}:")),
            None,
        )
        expect(promoted is not None, f"{kill.target} was killed but no replica of shard {shard} is primary yet: wait with lab.wait_for_failover({shard})")
        measured = promoted.time - kill.time
        expect(
            abs(answer - measured) <= max(0.5, measured / 2),
            f"{answer:g} s is far from the {measured:.2f} s the fault log shows between the kill and the promotion (answer in seconds)",
        )
        return f"shard {shard} had no primary for about {measured:.2f} s (node timeout {lab.node_timeout_ms} ms, then the election)"


class LiveLayout(Problem):
    title = "Read your cluster's placement"
    needs = "cluster"
    takes_answer = True
    hints = (
        "For each shard in lab.shards: lab.primary(shard).az, and the .az of each node in lab.replicas(shard).",
        "answer = [(lab.primary(s).az, tuple(n.az for n in lab.replicas(s))) for s in lab.shards]",
    )
    solution_code = "answer = [(lab.primary(s).az, tuple(n.az for n in lab.replicas(s))) for s in lab.shards]"
    wrong_code = "answer = [(lab.primary(s).az, ()) for s in lab.shards]"
    wrong_message = "replicas"

    def verify(self, r: Any, answer: Any) -> str:
        layout = _normalise(answer)
        live = layout_of(self.lab)
        expect(len(layout) == len(live), f"your layout has {len(layout)} shards; the cluster has {len(live)}")
        for shard, ((primary, replicas), (live_primary, live_replicas)) in enumerate(zip(layout, live)):
            expect(primary == live_primary, f"shard {shard}: its primary is in {live_primary} now, not {primary} (after a failover, look again)")
            expect(
                sorted(replicas) == sorted(live_replicas),
                f"shard {shard}: its replicas are in {', '.join(live_replicas) or 'no AZ'}, but your layout lists {', '.join(replicas) or 'no replicas'}",
            )
        problems = placement_problems(live, self.lab.azs)
        verdict = "it follows every placement rule" if not problems else "but it breaks a rule: " + "; ".join(problems)
        return f"that is the live layout; {verdict}"


class BadPlacement(Problem):
    title = "Design a placement that breaks the replica rule"
    needs = "cluster"
    takes_answer = True
    hints = (
        "Keep one primary per AZ and two replicas per shard, but put one replica in its primary's AZ.",
        "labkit.placement_problems(layout, azs) lists what a layout breaks; aim for exactly the 'same AZ as its primary' problem.",
    )
    solution_code = "answer = [('az-a', ('az-a', 'az-b')), ('az-b', ('az-c', 'az-a')), ('az-c', ('az-a', 'az-b'))]"
    wrong_code = "answer = [('az-a', ('az-b', 'az-c')), ('az-b', ('az-c', 'az-a')), ('az-c', ('az-a', 'az-b'))]"
    wrong_message = "follows every rule"

    def verify(self, r: Any, answer: Any) -> str:
        layout = _normalise(answer)
        lab = self.lab
        expect(len(layout) == len(lab.shards), f"give one pair per shard of your cluster: {len(lab.shards)} pairs, not {len(layout)}")
        for shard, (primary, replicas) in enumerate(layout):
            for az in (primary, *replicas):
                expect(az in lab.azs, f"shard {shard}: {az!r} is not one of the cluster's AZs ({', '.join(lab.azs)})")
            expect(len(replicas) == 2, f"shard {shard} has {len(replicas)} replicas; keep the recommended two, the point is where they are")
        problems = placement_problems(layout, lab.azs)
        expect(problems, "that layout follows every rule: put a replica in the same AZ as its primary")
        same_az = [problem for problem in problems if "same AZ as its primary" in problem]
        expect(same_az, f"that layout breaks other rules ({'; '.join(problems)}), but every replica is outside its primary's AZ")
        others = [problem for problem in problems if problem not in same_az]
        expect(not others, f"break only the replica rule; it also breaks: {'; '.join(others)}")
        return f"placement_problems finds it: {same_az[0]} (an outage of that AZ takes a primary and one of its two copies at once)"


class FailBack(Problem):
    title = "Fail back so the primaries are spread across the AZs again"
    needs = "cluster"
    hints = (
        "Which AZ has no primary now, and which has two? Look at [(s, lab.primary(s).name, lab.primary(s).az) for s in lab.shards].",
        "lab.failover(shard, to=node) makes `node`, a replica of that shard, its primary (gracefully: no write is lost).",
        "The nodes named shard-N-primary were placed by the rules: failing each shard back to it restores the layout.",
    )
    solution_code = dedent("""
        for shard in lab.shards:
            original = lab.node(f"shard-{shard}-primary")
            if lab.primary(shard) is not original:
                lab.failover(shard, to=original)
    """)
    wrong_code = "lab.test_failover(1)"
    wrong_message = "primaries are not spread"

    def prepare(self, r: Any) -> None:
        """A graceful failover of shard 0 puts its primary in an AZ that already has one."""
        lab = self.lab
        lab.sync_roles()
        taken = {lab.primary(shard).az for shard in lab.shards if shard != 0}
        target = next((node for node in lab.replicas(0) if node.az in taken), None)
        if target is not None and lab.primary(0).az not in taken:
            lab.failover(0, to=target)
        self.prepared = {shard: lab.primary(shard).name for shard in lab.shards}

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        lab.sync_roles()
        primaries = {shard: lab.primary(shard) for shard in lab.shards}
        if getattr(self, "prepared", None) is None:
            raise NotAttempted("run ex.q4.prepare(r) first: it moves shard 0's primary into an AZ that already has one")
        if {shard: node.name for shard, node in primaries.items()} == getattr(self, "prepared", None):
            raise NotAttempted("the primaries are where the preparation left them: fail over shard 0 to a replica in the AZ without a primary")
        down = [node.name for node in primaries.values() if node.status is not NodeStatus.UP]
        expect(not down, f"{', '.join(down)} is a primary but not up; restart it or wait for the failover")
        problems = placement_problems(layout_of(lab), lab.azs)
        expect(not problems, "; ".join(problems))
        return "one primary per AZ again: " + ", ".join(f"shard {shard} in {node.az}" for shard, node in primaries.items())


q1 = FailoverTime()
q2 = LiveLayout()
q3 = BadPlacement()
q4 = FailBack()

"""Exercises for notebook 11_replication_and_read_scaling: lag, reads from replicas, WAIT.

They check a live replication group::

    from labkit.exercises import replication as ex
    ex.use(group)            # the ReplicationGroup you started
    ex.q1.prepare(group.client())
    ex.q1.check("replica-2")
"""

from __future__ import annotations

import random
from textwrap import dedent
from typing import Any

from ..errors import TopologyStateError
from ..node import Node, NodeStatus
from .core import Incorrect, NotAttempted, Problem, expect, use

__all__ = ["NOTEBOOK", "CATALOG_SIZE", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "11_replication_and_read_scaling"

#: q2: how many catalog items the prepared data holds (`catalog:item:0` ... `catalog:item:99`).
CATALOG_SIZE = 100


def _up(nodes: list[Node]) -> list[Node]:
    return [node for node in nodes if node.status is NodeStatus.UP and node.is_running()]


def _name_of(answer: Any) -> str:
    name = getattr(answer, "name", answer)
    if not isinstance(name, str):
        raise Incorrect(f"pass the replica's name (a str such as 'replica-1') or its Node; got {type(answer).__name__}")
    return name


class LaggingReplica(Problem):
    title = "Find the lagging replica"
    takes_answer = True
    needs = "replication"
    hints = (
        "A replica's INFO replication has slave_repl_offset: how much of the primary's stream it has applied.",
        "lab.replication_offsets() reads every replica's offset; the one with the lowest offset lags the most.",
    )
    solution_code = dedent("""
        offsets = lab.replication_offsets()
        answer = min(offsets, key=lambda item: item.offset).node
    """)
    wrong_code = dedent("""
        offsets = lab.replication_offsets()
        answer = max(offsets, key=lambda item: item.offset).node
    """)
    wrong_message = "most up to date"

    def prepare(self, r: Any) -> None:
        """Cut one replica (chosen at random) off its primary, then write 200 keys it will not get."""
        lab = self.lab
        for replica in _up(lab.replicas()):
            try:
                lab.heal(replica)
            except TopologyStateError:
                pass  # it was not partitioned
        lab.partition(random.choice(_up(lab.replicas())))
        writer = lab.client(lab.primary())
        with writer.pipeline(transaction=False) as pipe:
            for number in range(200):
                pipe.set(f"lag:{number}", number)
            pipe.execute()

    def verify(self, r: Any, answer: Any) -> str:
        name = _name_of(answer)
        lab = self.lab
        replicas = {node.name: node for node in _up(lab.replicas())}
        expect(name in replicas, f"{name!r} is not a live replica of this group; its replicas are {sorted(replicas)}")
        offsets = {}
        for replica_name, node in replicas.items():
            with node.client(socket_timeout=1.0) as client:
                offsets[replica_name] = int(client.info("replication").get("slave_repl_offset", 0))
        if len(set(offsets.values())) == 1:
            raise NotAttempted("every replica is at the same offset now: run ex.q1.prepare(lab.client()) to make one lag")
        lowest = min(offsets, key=offsets.get)
        expect(offsets[name] != max(offsets.values()), f"{name} is the most up to date replica (offset {offsets[name]}); look for the lowest offset")
        expect(name == lowest, f"{name} is at offset {offsets[name]}, but {lowest} is further behind")
        return f"{name} lags: offset {offsets[name]} while the others are at {max(offsets.values())}. Heal it with lab.heal({name!r})."


class ReadsFromReplicas(Problem):
    title = "Scale reads over the replicas"
    needs = "replication"
    hints = (
        "lab.reader_endpoint.client() gives a client whose commands go to the replicas in turn.",
        "Read each key catalog:item:0 ... catalog:item:99 once through that client; do not read them from the primary.",
    )
    solution_code = dedent("""
        reader = lab.reader_endpoint.client()
        for number in range(100):
            reader.get(f"catalog:item:{number}")
    """)
    wrong_code = dedent("""
        for number in range(100):
            r.get(f"catalog:item:{number}")
    """)
    wrong_message = "served by the primary"

    def prepare(self, r: Any) -> None:
        """Write the catalog on the primary, wait until both replicas have it, and zero every node's counters."""
        lab = self.lab
        writer = lab.client(lab.primary())
        with writer.pipeline(transaction=False) as pipe:
            for number in range(CATALOG_SIZE):
                pipe.set(f"catalog:item:{number}", f"item {number}")
            pipe.execute()
        writer.wait(len(_up(lab.replicas())), 2000)
        for node in _up(lab.nodes):
            with node.client(socket_timeout=1.0) as client:
                client.config_resetstat()

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        hits = {}
        for node in _up(lab.nodes):
            with node.client(socket_timeout=1.0) as client:
                stats = client.info("stats")
                hits[node.name] = int(stats.get("keyspace_hits", 0)) + int(stats.get("keyspace_misses", 0))
        if sum(hits.values()) == 0:
            raise NotAttempted("no node has served a read since ex.q2.prepare(...): read the catalog through the reader endpoint")
        primary = lab.primary().name
        expect(hits.get(primary, 0) == 0, f"{hits[primary]} reads were served by the primary ({primary}); send them through lab.reader_endpoint")
        replicas = [node.name for node in _up(lab.replicas())]
        total = sum(hits[name] for name in replicas)
        expect(total >= CATALOG_SIZE, f"the replicas served {total} reads; read all {CATALOG_SIZE} catalog items")
        for name in replicas:
            expect(hits[name] >= total // (2 * len(replicas)), f"{name} served only {hits[name]} of {total} reads: spread them over every replica")
        return "reads per node: " + ", ".join(f"{name} {count}" for name, count in hits.items())


class WaitForReplicas(Problem):
    title = "Confirm a write reached both replicas"
    takes_answer = True
    needs = "replication"
    hints = (
        "WAIT numreplicas timeout_ms blocks until that many replicas acknowledged every earlier write on this connection.",
        "r.set('order:1001', 'paid') then answer = r.wait(2, 1000) on the same client.",
    )
    solution_code = dedent("""
        r.set("order:1001", "paid")
        answer = r.wait(2, 1000)
    """)
    wrong_code = dedent("""
        r.set("order:1001", "pending")
        answer = r.wait(2, 1000)
    """)
    wrong_message = "should be 'paid'"

    def verify(self, r: Any, answer: Any) -> str:
        expect(isinstance(answer, int) and not isinstance(answer, bool), f"pass the reply of WAIT (a whole number); got {answer!r}")
        replicas = _up(self.lab.replicas())
        expect(answer >= len(replicas), f"WAIT said {answer} replica(s) acknowledged; ask for {len(replicas)} and give it time (e.g. 1000 ms)")
        for node in replicas:
            with node.client(socket_timeout=1.0) as client:
                value = client.get("order:1001")
            expect(value is not None, f"{node.name} has no order:1001: write it on the primary before WAIT")
            expect(value == "paid", f"order:1001 on {node.name} is {value!r}; it should be 'paid'")
        return f"WAIT returned {answer}: every replica acknowledged order:1001 before you went on"


q1 = LaggingReplica()
q2 = ReadsFromReplicas()
q3 = WaitForReplicas()

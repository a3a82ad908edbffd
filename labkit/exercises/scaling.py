"""Exercises for notebook 14_scaling_out_in_and_up: rebalancing, vertical scaling, the cost of one more shard.

They check your cluster, so bind it first::

    from labkit.exercises import scaling as ex
    ex.use(cluster)
    ex.q1.prepare(cluster.client())     # q1 starts from an uneven slot map
    ex.q1.check()
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from ..faults import wait_until
from ..node import Role
from .core import NotAttempted, Problem, expect, use

__all__ = ["NOTEBOOK", "CATALOG_ITEMS", "SALE_ITEMS", "SHOP_ITEMS", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "14_scaling_out_in_and_up"

SLOT_COUNT = 16384
#: q1: keys that must survive the rebalancing.
SHOP_ITEMS = 300
#: q1: slots the preparation moves from the last shard to the first.
UNEVEN_SLOTS = 1500
#: q2: keys to copy to the bigger cluster; the sale items carry a TTL that must survive the copy.
CATALOG_ITEMS = 200
SALE_ITEMS = 20
BIGGER_MAXMEMORY = 256 * 1024 * 1024


def _slot_counts(lab: Any) -> dict[int, int]:
    return lab.slot_counts()


def _balanced(counts: dict[int, int]) -> bool:
    share = SLOT_COUNT / len(counts)
    return all(abs(count - share) < 1 for count in counts.values())


def _counts_text(counts: dict[int, int]) -> str:
    return ", ".join(f"shard {shard}: {count:,}" for shard, count in sorted(counts.items()))


class Rebalance(Problem):
    title = "Rebalance an uneven cluster without losing a key"
    needs = "cluster"
    hints = (
        "The cluster has a method that moves slots until every shard owns the same share.",
        "lab.rebalance() returns how many slots it moved; lab.slot_counts() shows the result.",
    )
    solution_code = "moved = lab.rebalance()"
    wrong_code = "lab.remove_shard(max(lab.shards))"
    wrong_message = "keep its 3 shards"

    def prepare(self, r: Any) -> None:
        """Write the shop's items, then move slots from the last shard to the first (as a hasty reshard would)."""
        from ..scaling import move_slots, slot_owners

        lab = self.lab
        client = lab.client()
        pipe = client.pipeline()
        for number in range(SHOP_ITEMS):
            pipe.set(f"shop:item:{number}", f"item-{number}")
        pipe.execute()
        self.shard_count = len(lab.shards)
        first, last = lab.primary(min(lab.shards)), lab.primary(max(lab.shards))
        owned = sorted(slot for slot, owner in slot_owners(lab).items() if owner is last)
        move_slots(lab, [(slot, last, first) for slot in owned[-UNEVEN_SLOTS:]])
        # Let the slot map settle before the learner looks.
        wait_until(lambda: _slot_counts(lab)[first.shard] >= SLOT_COUNT // self.shard_count + UNEVEN_SLOTS - 1, 10.0)

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        expected = getattr(self, "shard_count", 3)
        expect(len(lab.shards) == expected, f"the cluster has {len(lab.shards)} shards now, but the exercise asks to keep its {expected} shards and move slots between them")
        counts = _slot_counts(lab)
        if not _balanced(counts):
            raise NotAttempted(f"the slots are still uneven ({_counts_text(counts)}): move them so every shard owns an equal share")
        client = lab.client()
        pipe = client.pipeline()
        for number in range(SHOP_ITEMS):
            pipe.get(f"shop:item:{number}")
        values = pipe.execute()
        missing = [number for number, value in enumerate(values) if value != f"item-{number}"]
        expect(not missing, f"{len(missing)} of the {SHOP_ITEMS} shop:item keys are missing or changed (e.g. shop:item:{missing[0] if missing else 0})")
        return f"every shard owns an equal share ({_counts_text(counts)}) and all {SHOP_ITEMS} items are still there"


class ScaleUp(Problem):
    title = "Scale up: a bigger cluster with every key, ready for the cut-over"
    needs = "cluster"
    takes_answer = True
    hints = (
        "Vertical scaling starts a new cluster of the same shape with bigger nodes and copies the data: lab.scale_up(config=...).",
        "config={'maxmemory': '256mb'}; pass what scale_up returns (the new cluster) to check().",
    )
    solution_code = "answer = lab.scale_up(config={'maxmemory': '256mb'})"
    wrong_code = "answer = lab"
    wrong_message = "the cluster you started from"

    def prepare(self, r: Any) -> None:
        client = self.lab.client()
        pipe = client.pipeline()
        for number in range(CATALOG_ITEMS):
            pipe.set(f"catalog:{number}", f"product-{number}")
        for number in range(SALE_ITEMS):
            pipe.set(f"catalog:sale:{number}", f"discount-{number}", ex=3600)
        pipe.execute()

    def verify(self, r: Any, answer: Any) -> str:
        from ..topology import Cluster

        expect(isinstance(answer, Cluster), f"pass the new cluster that scale_up returned (got a {type(answer).__name__})")
        expect(answer is not self.lab, "that is the cluster you started from; scale_up returns a new, bigger one: pass that")
        expect(str(answer.lifecycle) == "running", "the new cluster is not running; it must serve traffic after the cut-over")
        expect(len(answer.shards) == len(self.lab.shards), f"the new cluster has {len(answer.shards)} shards; vertical scaling keeps the shape ({len(self.lab.shards)})")
        for node in answer.nodes:
            limit = int(node.client().config_get("maxmemory")["maxmemory"])
            expect(limit == BIGGER_MAXMEMORY, f"{node.name} of the new cluster has maxmemory {limit // 2**20} MB; expected 256 MB on every node")
        client = answer.client()
        try:
            pipe = client.pipeline()
            for number in range(CATALOG_ITEMS):
                pipe.get(f"catalog:{number}")
            for number in range(SALE_ITEMS):
                pipe.get(f"catalog:sale:{number}")
                pipe.ttl(f"catalog:sale:{number}")
            replies = pipe.execute()
        finally:
            client.close()
        products, sales = replies[:CATALOG_ITEMS], replies[CATALOG_ITEMS:]
        missing = sum(value != f"product-{number}" for number, value in enumerate(products))
        expect(missing == 0, f"{missing} of the {CATALOG_ITEMS} catalog keys are missing on the new cluster: copy the data (scale_up does)")
        for number in range(SALE_ITEMS):
            value, ttl = sales[2 * number], sales[2 * number + 1]
            expect(value == f"discount-{number}", f"catalog:sale:{number} is missing on the new cluster")
            expect(ttl > 0, f"catalog:sale:{number} lost its TTL in the copy; copy TTLs too (DUMP/RESTORE with the PTTL)")
        return f"a running {len(answer.shards)}-shard cluster with 256 MB nodes holds every key and TTL: ready for the cut-over"


class SlotsToMove(Problem):
    title = "How much moves when one shard is added"
    needs = "cluster"
    takes_answer = True
    hints = (
        "After the change every one of the N+1 shards owns an equal share of the 16,384 slots.",
        "The new shard starts with none, so it receives exactly its share: 16384 // (N + 1), N being len(lab.shards).",
    )
    solution_code = "answer = 16384 // (len(lab.shards) + 1)"
    wrong_code = "answer = 16384 // len(lab.shards)"
    wrong_message = "one shard's share today"

    def verify(self, r: Any, answer: Any) -> str:
        expect(isinstance(answer, int) and not isinstance(answer, bool), f"pass a whole number of slots (got {answer!r})")
        shards = len(self.lab.shards)
        primaries = [node for node in self.lab.nodes if node.role is Role.PRIMARY]
        expect(len(primaries) == shards, "every shard needs a primary to answer this; wait for the failover or restore the AZ")
        expected = SLOT_COUNT // (shards + 1)
        expect(answer != SLOT_COUNT // shards, f"{answer} is one shard's share today; with {shards + 1} shards each owns less")
        expect(abs(answer - expected) <= 1, f"{answer} slots is not it: with {shards + 1} shards each owns about {expected:,}")
        fraction = expected / SLOT_COUNT
        return f"{expected:,} slots ({fraction:.0%} of the data) move; the other {1 - fraction:.0%} stays where it is"


q1 = Rebalance()
q2 = ScaleUp()
q3 = SlotsToMove()

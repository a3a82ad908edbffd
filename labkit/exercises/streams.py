"""Exercises for notebook 10_streams_and_consumer_groups: IDs, trimming, consumer groups, recovery.

Example::

    from labkit.exercises import streams as ex
    ex.use(r)
    ex.q1.check()
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from .core import NotAttempted, Problem, expect, expect_type, use

__all__ = ["NOTEBOOK", "SENSOR_EVENTS", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "10_streams_and_consumer_groups"

#: q1: events with the IDs the sensor's own clock gives them (milliseconds-sequence).
SENSOR_EVENTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("1700000000000-0", {"temp": "21.5"}),
    ("1700000000000-1", {"temp": "21.6"}),
    ("1700000001000-0", {"temp": "21.4"}),
)


def _consumers(r: Any, stream: str, group: str) -> dict[str, dict]:
    return {consumer["name"]: consumer for consumer in r.xinfo_consumers(stream, group)}


def _pending_ids(r: Any, stream: str, group: str) -> list[str]:
    return [entry["message_id"] for entry in r.xpending_range(stream, group, min="-", max="+", count=1000)]


class ExplicitIds(Problem):
    title = "Append events with explicit IDs"
    keys = ("sensor:events",)
    hints = (
        "XADD takes the ID as its second argument: r.xadd(key, fields, id='1700000000000-0').",
        "Loop over ex.SENSOR_EVENTS in order: each ID must be greater than the last one in the stream.",
    )
    solution_code = dedent("""
        from labkit.exercises import streams as ex
        for entry_id, fields in ex.SENSOR_EVENTS:
            r.xadd('sensor:events', fields, id=entry_id)
    """)
    wrong_code = dedent("""
        from labkit.exercises import streams as ex
        for entry_id, fields in ex.SENSOR_EVENTS:
            r.xadd('sensor:events', fields)
    """)
    wrong_message = "pass id="

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "sensor:events", "stream")
        entries = r.xrange("sensor:events")
        expect(len(entries) == len(SENSOR_EVENTS), f"'sensor:events' holds {len(entries)} entries; expected {len(SENSOR_EVENTS)}")
        for (found_id, found_fields), (entry_id, fields) in zip(entries, SENSOR_EVENTS):
            expect(found_id == entry_id, f"an entry has the ID {found_id}, expected {entry_id}: pass id= to XADD instead of letting the server generate it")
            expect(found_fields == fields, f"entry {entry_id} holds {found_fields}, expected {fields}")
        return "three entries, with the IDs of the sensor's clock (two in the same millisecond: sequence 0 and 1)"


class ExactTrim(Problem):
    title = "Append and trim to exactly 10 entries in one command"
    hints = (
        "XADD takes MAXLEN: r.xadd(key, fields, maxlen=10, approximate=False).",
        "With '~' (approximate=True, redis-py's default) the server trims only whole internal nodes, so it may keep far more than 10.",
    )
    solution_code = dedent("""
        r.xadd('logs', {'level': 'error', 'msg': 'disk full'}, maxlen=10, approximate=False)
    """)
    wrong_code = dedent("""
        r.xadd('logs', {'level': 'error', 'msg': 'disk full'}, maxlen=10, approximate=True)
    """)
    wrong_message = "expected exactly 10"

    def prepare(self, r: Any) -> None:
        r.delete("logs")
        with r.pipeline(transaction=False) as pipe:
            for number in range(100):
                pipe.xadd("logs", {"level": "info", "msg": f"request {number}"})
            pipe.execute()

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "logs", "stream")
        length = r.xlen("logs")
        if length == 100:
            raise NotAttempted(f"{self.title}: 'logs' still holds the 100 entries of the setup; XADD yours with MAXLEN.")
        expect(length == 10, f"'logs' holds {length} entries; expected exactly 10 (an approximate '~' trim keeps whole nodes)")
        _, fields = r.xrevrange("logs", count=1)[0]
        expect(fields == {"level": "error", "msg": "disk full"}, f"the newest entry is {fields}; expected your error entry")
        return "10 entries, the newest is yours"


class AutoClaim(Problem):
    title = "Recover a crashed consumer's entries with XAUTOCLAIM"
    hints = (
        "r.xautoclaim('jobs', 'workers', 'rescuer', min_idle_time=0) returns [next start ID, claimed entries, deleted IDs].",
        "After claiming, 'rescuer' owns the entries: XACK each claimed ID so nothing stays pending.",
    )
    solution_code = dedent("""
        next_id, claimed, deleted = r.xautoclaim('jobs', 'workers', 'rescuer', min_idle_time=0)
        for entry_id, fields in claimed:
            r.xack('jobs', 'workers', entry_id)
    """)
    wrong_code = dedent("""
        for entry in r.xpending_range('jobs', 'workers', min='-', max='+', count=10):
            r.xack('jobs', 'workers', entry['message_id'])
    """)
    wrong_message = "'rescuer' never claimed"

    def prepare(self, r: Any) -> None:
        r.delete("jobs")
        for number in range(4):
            r.xadd("jobs", {"job": f"resize image {number}"})
        r.xgroup_create("jobs", "workers", id="0")
        r.xreadgroup("workers", "crashed", {"jobs": ">"}, count=10)

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "jobs", "stream")
        groups = [group["name"] for group in r.xinfo_groups("jobs")]
        expect("workers" in groups, "the group 'workers' is gone; rerun the setup cell")
        consumers = _consumers(r, "jobs", "workers")
        if "rescuer" not in consumers and len(_pending_ids(r, "jobs", "workers")) == 4:
            raise NotAttempted(f"{self.title}: the 4 jobs of 'crashed' are still pending; claim them as 'rescuer'.")
        expect("rescuer" in consumers, "the consumer 'rescuer' never claimed anything: XAUTOCLAIM with consumer 'rescuer' first, then XACK")
        pending = _pending_ids(r, "jobs", "workers")
        expect(not pending, f"{len(pending)} entries are still pending: XACK the entries you claimed")
        return "the crashed consumer's 4 jobs were claimed by 'rescuer' and acknowledged"


class DeadLetter(Problem):
    title = "Move entries delivered too often to a dead-letter stream"
    keys = ("payments:dead",)
    hints = (
        "r.xpending_range('payments', 'billing', min='-', max='+', count=100) lists each pending entry with 'times_delivered'.",
        "For each one delivered more than 3 times: read it with XRANGE id id, XADD it to payments:dead with an extra "
        "field original_id, then XACK it in 'billing'. Leave the others pending.",
    )
    solution_code = dedent("""
        for entry in r.xpending_range('payments', 'billing', min='-', max='+', count=100):
            if entry['times_delivered'] > 3:
                entry_id, fields = r.xrange('payments', entry['message_id'], entry['message_id'])[0]
                r.xadd('payments:dead', {**fields, 'original_id': entry_id})
                r.xack('payments', 'billing', entry_id)
    """)
    wrong_code = dedent("""
        for entry in r.xpending_range('payments', 'billing', min='-', max='+', count=100):
            entry_id, fields = r.xrange('payments', entry['message_id'], entry['message_id'])[0]
            r.xadd('payments:dead', {**fields, 'original_id': entry_id})
            r.xack('payments', 'billing', entry_id)
    """)
    wrong_message = "only the 2 delivered more than 3 times"

    def prepare(self, r: Any) -> None:
        r.delete("payments", "payments:dead")
        amounts = ["12.50", "oops", "7.00", "-", "30.10"]
        for amount in amounts:
            r.xadd("payments", {"amount": amount})
        r.xgroup_create("payments", "billing", id="0")
        r.xreadgroup("billing", "c1", {"payments": ">"}, count=10)
        ids = [entry_id for entry_id, _ in r.xrange("payments")]
        for _ in range(3):  # each claim counts as one more delivery
            r.xclaim("payments", "billing", "c1", min_idle_time=0, message_ids=[ids[1], ids[3]])

    def _poison(self, r: Any) -> list[str]:
        ids = [entry_id for entry_id, _ in r.xrange("payments")]
        return [ids[1], ids[3]]

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "payments:dead", "stream")
        expect_type(r, "payments", "stream")
        poison = self._poison(r)
        dead = r.xrange("payments:dead")
        expect(len(dead) == len(poison), f"'payments:dead' holds {len(dead)} entries; only the 2 delivered more than 3 times belong there")
        originals = [fields.get("original_id") for _, fields in dead]
        expect(None not in originals, "add an 'original_id' field to each dead-letter entry, so someone can trace it back")
        expect(sorted(originals) == sorted(poison), f"the dead letters point at {originals}; the entries delivered more than 3 times are {poison}")
        for _, fields in dead:
            original = r.xrange("payments", fields["original_id"], fields["original_id"])[0][1]
            expect(fields.get("amount") == original["amount"], "copy the original entry's fields into the dead letter")
        pending = _pending_ids(r, "payments", "billing")
        expect(not set(poison) & set(pending), "the dead-lettered entries are still pending in 'billing': XACK them")
        expect(len(pending) == 3, f"{3 - len(pending)} healthy entries were acknowledged; leave them pending for a normal retry")
        return "2 poison messages parked in payments:dead, 3 healthy ones still pending for a retry"


q1 = ExplicitIds()
q2 = ExactTrim()
q3 = AutoClaim()
q4 = DeadLetter()

"""Exercises for notebook 10_streams_and_consumer_groups: IDs, trimming, consumer groups, recovery.

Each exercise draws its own data when its cell runs `ex.qN.prepare()`; the checks read the server:
the streams, `XPENDING` and `XINFO CONSUMERS` (who owns an entry, how often it was delivered) and
`INFO commandstats` (which commands the learner sent).

Example::

    from labkit.exercises import streams as ex
    ex.use(r)
    ex.q1.prepare()
    for entry_id, fields in ex.q1.events:
        r.xadd("sensor:events", fields, id=entry_id)
    ex.q1.check()
"""

from __future__ import annotations

import random
import time
from textwrap import dedent
from typing import Any

from redis.cluster import RedisCluster

from .core import Incorrect, NotAttempted, Problem, Wrong, as_text, expect, expect_type, use

__all__ = ["NOTEBOOK", "MAX_DELIVERIES", "draw_events", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "10_streams_and_consumer_groups"

#: q4: an entry delivered more often than this goes to the dead-letter stream.
MAX_DELIVERIES = 3


class _EveryPrimary:
    """INFO summed over every primary of a cluster client (a RedisCluster sends INFO to one node)."""

    def __init__(self, client: RedisCluster) -> None:
        self.client = client

    def info(self, section: str) -> Any:
        return self.client.info(section, target_nodes=RedisCluster.PRIMARIES)


class _StreamProblem(Problem):
    """Counts commands on every primary when the notebook runs against a cluster endpoint."""

    def _evidence_target(self) -> Any:
        target = super()._evidence_target()
        return _EveryPrimary(target) if isinstance(target, RedisCluster) else target

    def _untouched(self) -> NotAttempted:
        """What an untouched exercise says (for checks whose keys exist from the start, so 'create ...' does not apply)."""
        return NotAttempted(f"{self.title}: write your code under {self._call('prepare()')} in the exercise cell, run it, then run this check.")

    def _calls(self, *commands: str) -> int:
        calls = self.commands_since_prepare()
        return sum(calls.get(command, 0) for command in commands)


def _pending(r: Any, stream: str, group: str) -> dict[str, dict]:
    """The group's pending entries list: ID -> {'consumer', 'times_delivered', ...} (XPENDING with a range)."""
    return {as_text(entry["message_id"]): entry for entry in r.xpending_range(stream, group, min="-", max="+", count=1000)}


def _set_deliveries(r: Any, stream: str, group: str, consumer: str, ids: list[str], deliveries: int, idle_ms: int = 0) -> None:
    """Give pending entries a delivery count and an idle time, as if they had been delivered that often, that long ago.

    XCLAIM to the owner itself with RETRYCOUNT (sets the count; JUSTID does not add one) and IDLE."""
    if ids:
        r.xclaim(stream, group, consumer, 0, ids, idle=idle_ms, retrycount=deliveries, justid=True)


# -- the data each exercise draws (a pure function of a random generator, tested without a server) ---

def draw_events(rng: random.Random) -> list[tuple[str, dict[str, str]]]:
    """q1: 4-6 events stamped by a sensor's clock in 2024-2025: '<ms>-<seq>', two of them in the same millisecond."""
    ms = rng.randint(1_704_067_200_000, 1_767_225_600_000)
    events, sequence = [], 0
    for number in range(rng.randint(4, 6)):
        if number and not (number == 1 or rng.random() < 0.3):
            ms += rng.randint(200, 5000)
            sequence = 0
        events.append((f"{ms}-{sequence}", {"sensor": f"s{rng.randint(1, 9)}", "temp": f"{rng.uniform(15, 30):.1f}"}))
        sequence += 1
    return events


# -- the exercises -----------------------------------------------------------------------------------

class ExplicitIds(_StreamProblem):
    title = "Append events with the IDs of the sensor's clock"
    keys = ("sensor:events",)
    hints = (
        "XADD takes the ID in place of '*': r.xadd(key, fields, id='1712345678901-0').",
        "Loop over ex.q1.events in order (each ID must be greater than the last one in the stream) and pass id=entry_id.",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        for entry_id, fields in ex.q1.events:
            r.xadd("sensor:events", fields, id=entry_id)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            for entry_id, fields in ex.q1.events:
                r.xadd("sensor:events", fields)
        """), "pass id=", why="server-generated IDs"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.xadd("sensor:events", {"sensor": "s1", "temp": "21.5"}, id="1700000000000-0")
            r.xadd("sensor:events", {"sensor": "s2", "temp": "19.0"}, id="1700000000000-1")
            r.xadd("sensor:events", {"sensor": "s1", "temp": "21.6"}, id="1700000001000-0")
        """), "not one of this run's events", why="the IDs printed in the section, copied"),
        Wrong(dedent("""
            ex.q1.prepare()
            for entry_id, fields in ex.q1.events:
                r.xadd("sensor:events", {"temp": fields["temp"]}, id=entry_id)
        """), "all its fields", why="a field dropped"),
    )

    def setup(self, r: Any) -> None:
        self.events = draw_events(self.rng)

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "sensor:events", "stream")
        entries = [(as_text(entry_id), fields) for entry_id, fields in r.xrange("sensor:events")]
        wanted = dict(self.events)
        now_ms = time.time() * 1000
        for entry_id, _ in entries:
            if entry_id not in wanted:
                generated = abs(int(entry_id.split("-")[0]) - now_ms) < 3_600_000
                raise Incorrect(f"the entry {entry_id} was given its ID by the server's clock: pass id= to XADD with the "
                                "sensor's own ID" if generated else
                                f"the entry {entry_id} is not one of this run's events (ex.q1.events): append the events "
                                "that ex.q1.prepare() drew, with their IDs")
        expect(len(entries) == len(self.events), f"'sensor:events' holds {len(entries)} entries; this run has {len(self.events)} events")
        for entry_id, fields in entries:
            expect(fields == wanted[entry_id], f"entry {entry_id} holds {fields}; the event has {wanted[entry_id]} (all its fields)")
        return f"{len(entries)} entries with the IDs of the sensor's clock (the same millisecond: sequence 0, 1, ...)"


class ExactTrim(_StreamProblem):
    title = "Append and trim to exactly 10 entries in one command"
    keys = ("logs",)
    hints = (
        "XADD takes MAXLEN: r.xadd(key, fields, maxlen=10, approximate=False).",
        "redis-py's XADD trims approximately by default ('~', approximate=True): the server then removes whole internal "
        "nodes only, and may keep far more than 10.",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        r.xadd("logs", {"level": "error", "msg": "disk full"}, maxlen=10, approximate=False)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            r.xadd("logs", {"level": "error", "msg": "disk full"}, maxlen=10)
        """), "expected exactly 10", why="redis-py's default '~' trim"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.xadd("logs", {"level": "error", "msg": "disk full"})
            r.xtrim("logs", maxlen=10, approximate=False)
        """), "XTRIM is a second command", why="XADD then XTRIM: two commands"),
        Wrong(dedent("""
            ex.q2.prepare()
            keep = r.xrevrange("logs", count=9)[::-1]
            r.delete("logs")
            for entry_id, fields in keep:
                r.xadd("logs", fields)
            r.xadd("logs", {"level": "error", "msg": "disk full"})
        """), "deleted the stream", why="the stream rebuilt on the client"),
    )

    def setup(self, r: Any) -> None:
        # 100 entries fill one internal node (stream-node-max-entries): a '~' trim cannot drop it and keep 10.
        with r.pipeline(transaction=False) as pipe:
            for number in range(100):
                pipe.xadd("logs", {"level": "info", "msg": f"request {number}"})
            pipe.execute()

    def attempted(self, r: Any, answer: Any) -> bool:
        if not self._calls("xadd", "xtrim", "del", "unlink", "xdel"):
            raise self._untouched()
        return True

    def verify(self, r: Any, answer: Any) -> str:
        expect(not self._calls("del", "unlink", "xdel"), "you deleted the stream (or entries) and rebuilt it: one XADD with MAXLEN trims as it appends")
        expect(not self._calls("xtrim"), "XTRIM is a second command: XADD trims by itself with MAXLEN, in the same command")
        xadds = self._calls("xadd")
        expect(xadds == 1, f"the server saw {xadds} XADD commands; append your entry with exactly one")
        expect_type(r, "logs", "stream")
        length = r.xlen("logs")
        expect(length == 10, f"'logs' holds {length} entries; expected exactly 10 (an approximate '~' trim removes whole nodes only)")
        _, fields = r.xrevrange("logs", count=1)[0]
        expect(fields == {"level": "error", "msg": "disk full"}, f"the newest entry is {fields}; expected your error entry")
        return "one XADD appended and trimmed: 10 entries, the newest is yours"


class AutoClaim(_StreamProblem):
    title = "Take over a crashed consumer's entries with XAUTOCLAIM"
    hints = (
        "XPENDING shows each pending entry's owner and idle time: r.xpending_range('jobs', 'workers', min='-', max='+', count=100).",
        "r.xautoclaim('jobs', 'workers', 'rescuer', min_idle_time=...) claims every entry idle longer than min_idle_time (ms). "
        "'slow' is alive: choose a min_idle_time longer than a healthy job can take (30 s), shorter than crashed's idle time.",
        "Do not pass justid=True: a claim with JUSTID does not count as a delivery, so a poison entry would never reach a limit.",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        next_id, claimed, deleted = r.xautoclaim("jobs", "workers", "rescuer", min_idle_time=60_000)
        print("rescuer claimed", [entry_id for entry_id, _ in claimed])
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            stuck = r.xpending_range("jobs", "workers", min="-", max="+", count=100, consumername="crashed")
            r.xack("jobs", "workers", *[entry["message_id"] for entry in stuck])
        """), "never claimed", why="XACK without a claim: the jobs are dropped unprocessed"),
        Wrong(dedent("""
            ex.q3.prepare()
            next_id, claimed, deleted = r.xautoclaim("jobs", "workers", "rescuer", min_idle_time=100)
        """), "'slow'", why="the section's min_idle_time of 100 ms, copied: steals a live consumer's work"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.xreadgroup("workers", "rescuer", {"jobs": ">"}, count=10)
        """), "still belong to 'crashed'", why="XREADGROUP '>' reads new entries, it claims nothing"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.xautoclaim("jobs", "workers", "rescuer", min_idle_time=60_000, justid=True)
        """), "JUSTID", why="a claim that does not count the delivery"),
    )

    def setup(self, r: Any) -> None:
        rng = self.rng
        for _ in range(rng.randint(12, 15)):
            r.xadd("jobs", {"job": f"resize image {rng.randint(1000, 9999)}.png"})
        r.xgroup_create("jobs", "workers", id="0")
        done = r.xreadgroup("workers", "healthy", {"jobs": ">"}, count=rng.randint(2, 3))[0][1]
        r.xack("jobs", "workers", *[entry_id for entry_id, _ in done])
        self.crashed = [as_text(entry_id) for entry_id, _ in r.xreadgroup("workers", "crashed", {"jobs": ">"}, count=rng.randint(3, 5))[0][1]]
        self.slow = [as_text(entry_id) for entry_id, _ in r.xreadgroup("workers", "slow", {"jobs": ">"}, count=2)[0][1]]
        # crashed died 9-15 minutes ago, after 1 or 2 deliveries of its entries; slow took its two a few seconds ago.
        self.deliveries = rng.randint(1, 2)
        _set_deliveries(r, "jobs", "workers", "crashed", self.crashed, self.deliveries, idle_ms=rng.randint(9, 15) * 60_000)
        _set_deliveries(r, "jobs", "workers", "slow", self.slow, 1, idle_ms=rng.randint(2, 20) * 1000)

    def cleanup(self, r: Any) -> None:
        r.delete("jobs")

    def attempted(self, r: Any, answer: Any) -> bool:
        if not self._calls("xautoclaim", "xclaim", "xack", "xreadgroup", "xgroup|delconsumer", "xgroup|destroy", "del"):
            raise self._untouched()
        return True

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "jobs", "stream")
        expect(any(as_text(group["name"]) == "workers" for group in r.xinfo_groups("jobs")), "the group 'workers' is gone: run the exercise cell again")
        claims = self._calls("xautoclaim", "xclaim")
        pending = _pending(r, "jobs", "workers")
        gone = [entry_id for entry_id in self.crashed if entry_id not in pending]
        if gone and not claims:
            raise Incorrect(f"{len(gone)} of crashed's entries are no longer pending, but 'rescuer' never claimed them: an XACK "
                            "without a claim drops the jobs unprocessed. Claim them with XAUTOCLAIM.")
        expect(not gone, f"{len(gone)} of the entries you claimed are no longer pending: leave them pending (rescuer would process "
                         "and acknowledge them later), so the check can see who owns them")
        stolen = [entry_id for entry_id in self.slow if as_text(pending.get(entry_id, {}).get("consumer", "")) != "slow"]
        expect(not stolen, f"you also took {stolen} from 'slow', a live consumer still working on them (idle for seconds only): "
                           "a min_idle_time shorter than a healthy job steals work and gets it processed twice. Claim only "
                           "what has been idle longer than 30 s.")
        owners = {entry_id: as_text(pending[entry_id]["consumer"]) for entry_id in self.crashed}
        left = [entry_id for entry_id, owner in owners.items() if owner == "crashed"]
        expect(not left, f"{len(left)} of crashed's entries still belong to 'crashed'"
                         + (": XREADGROUP with '>' delivers new entries only; XAUTOCLAIM takes over pending ones" if self._calls("xreadgroup") else
                            ": claim them as 'rescuer' with XAUTOCLAIM"))
        others = sorted({owner for owner in owners.values() if owner != "rescuer"})
        expect(not others, f"crashed's entries now belong to {others}; claim them as the consumer 'rescuer'")
        expect(claims, "the server saw no XAUTOCLAIM or XCLAIM: claim the entries")
        counts = sorted({int(pending[entry_id]["times_delivered"]) for entry_id in self.crashed})
        expect(counts == [self.deliveries + 1],
               f"the claimed entries show {counts} deliveries, as before the claim ({self.deliveries}): a claim with JUSTID does "
               "not count a delivery, so a poison message would never reach a dead-letter limit. Claim without JUSTID.")
        consumers = {as_text(consumer["name"]): consumer for consumer in r.xinfo_consumers("jobs", "workers")}
        holding = int(consumers["rescuer"]["pending"])
        expect(holding == len(self.crashed), f"XINFO CONSUMERS says 'rescuer' holds {holding} pending entries; it should hold "
                                             f"crashed's {len(self.crashed)} and nothing else")
        return (f"'rescuer' owns crashed's {len(self.crashed)} entries (delivery count {self.deliveries} -> {self.deliveries + 1}); "
                "'slow' kept its own")


class DeadLetter(_StreamProblem):
    title = "Move entries delivered too often to a dead-letter stream"
    hints = (
        "r.xpending_range('payments', 'billing', min='-', max='+', count=100) lists each pending entry with 'times_delivered'.",
        "For each one delivered ex.MAX_DELIVERIES (3) times or more: read it with XRANGE id id, XADD its fields plus "
        "original_id to payments:dead, then XACK it in 'billing'. Leave the others pending.",
    )
    solution_code = dedent("""
        ex.q4.prepare()
        for entry in r.xpending_range("payments", "billing", min="-", max="+", count=100):
            if entry["times_delivered"] >= ex.MAX_DELIVERIES:
                entry_id = entry["message_id"]
                _, fields = r.xrange("payments", entry_id, entry_id)[0]
                r.xadd("payments:dead", {**fields, "original_id": entry_id})
                r.xack("payments", "billing", entry_id)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q4.prepare()
            for entry in r.xpending_range("payments", "billing", min="-", max="+", count=100):
                entry_id = entry["message_id"]
                _, fields = r.xrange("payments", entry_id, entry_id)[0]
                r.xadd("payments:dead", {**fields, "original_id": entry_id})
                r.xack("payments", "billing", entry_id)
        """), "only entries delivered 3 times or more belong", why="every pending entry dead-lettered"),
        Wrong(dedent("""
            ex.q4.prepare()
            for entry in r.xpending_range("payments", "billing", min="-", max="+", count=100):
                if entry["times_delivered"] > MAX_DELIVERIES:
                    entry_id = entry["message_id"]
                    _, fields = r.xrange("payments", entry_id, entry_id)[0]
                    r.xadd("payments:dead", {**fields, "original_id": entry_id})
                    r.xack("payments", "billing", entry_id)
        """), "delivered exactly 3 times", why="> instead of >=: the entry at the limit stays"),
        Wrong(dedent("""
            ex.q4.prepare()
            for entry in r.xpending_range("payments", "billing", min="-", max="+", count=100):
                if entry["times_delivered"] >= ex.MAX_DELIVERIES:
                    entry_id = entry["message_id"]
                    _, fields = r.xrange("payments", entry_id, entry_id)[0]
                    r.xadd("payments:dead", {**fields, "original_id": entry_id})
        """), "still pending", why="copied but never acknowledged"),
        Wrong(dedent("""
            ex.q4.prepare()
            for entry in r.xpending_range("payments", "billing", min="-", max="+", count=100):
                if entry["times_delivered"] >= ex.MAX_DELIVERIES:
                    r.xack("payments", "billing", entry["message_id"])
        """), "'payments:dead' is empty", why="acknowledged without a copy: the poison messages are lost"),
        Wrong(dedent("""
            ex.q4.prepare()
            for entry in r.xpending_range("payments", "billing", min="-", max="+", count=100):
                if entry["times_delivered"] >= ex.MAX_DELIVERIES:
                    entry_id = entry["message_id"]
                    _, fields = r.xrange("payments", entry_id, entry_id)[0]
                    r.xadd("payments:dead", fields)
                    r.xack("payments", "billing", entry_id)
        """), "original_id", why="a dead letter that cannot be traced back"),
    )

    def setup(self, r: Any) -> None:
        """6-8 payments, all pending: one delivered exactly MAX_DELIVERIES times, one more often, one just below the limit."""
        rng = self.rng
        count = rng.randint(6, 8)
        at_limit, beyond, below = rng.sample(range(count), 3)
        for number in range(count):
            amount = rng.choice(["oops", "-", "12,50", "N/A", "1e999x"]) if number in (at_limit, beyond) else f"{rng.uniform(5, 200):.2f}"
            r.xadd("payments", {"amount": amount, "customer": f"c{rng.randint(100, 999)}"})
        r.xgroup_create("payments", "billing", id="0")
        ids = [as_text(entry_id) for entry_id, _ in r.xreadgroup("billing", "c1", {"payments": ">"}, count=count)[0][1]]
        self.deliveries: dict[str, int] = {}
        for number, entry_id in enumerate(ids):
            self.deliveries[entry_id] = {at_limit: MAX_DELIVERIES, beyond: rng.randint(MAX_DELIVERIES + 1, MAX_DELIVERIES + 3),
                                         below: MAX_DELIVERIES - 1}.get(number, 1)
            _set_deliveries(r, "payments", "billing", "c1", [entry_id], self.deliveries[entry_id], idle_ms=rng.randint(1, 60) * 1000)

    def cleanup(self, r: Any) -> None:
        r.delete("payments", "payments:dead")

    def attempted(self, r: Any, answer: Any) -> bool:
        if not self._calls("xadd", "xack", "xclaim", "xautoclaim", "xdel", "del"):
            raise self._untouched()
        return True

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "payments", "stream")
        poison = sorted(entry_id for entry_id, count in self.deliveries.items() if count >= MAX_DELIVERIES)
        dead = []
        if r.exists("payments:dead"):
            expect_type(r, "payments:dead", "stream")
            dead = r.xrange("payments:dead")
        expect(dead, "'payments:dead' is empty: copy each poison entry there (XADD) before you XACK it, or it is lost for good")
        originals = [as_text(fields.get("original_id", "")) for _, fields in dead]
        expect(all(originals), "add an 'original_id' field to each dead-letter entry, so that someone can trace it back")
        extra = sorted(set(originals) - set(poison))
        expect(not extra, f"'payments:dead' holds {extra}, delivered {[self.deliveries.get(i) for i in extra]} time(s): only entries "
                          f"delivered 3 times or more belong there (this run has {len(poison)})")
        missing = sorted(set(poison) - set(originals))
        at_limit = [entry_id for entry_id in missing if self.deliveries[entry_id] == MAX_DELIVERIES]
        expect(not at_limit, f"{', '.join(at_limit)} was delivered exactly 3 times: it has reached the limit (>= ex.MAX_DELIVERIES, "
                             "as in worker_round above) and belongs in 'payments:dead'")
        expect(not missing, f"{missing} were delivered 3 times or more but are not in 'payments:dead'")
        expect(len(originals) == len(set(originals)), "'payments:dead' holds the same entry twice: copy each poison entry once")
        for _, fields in dead:
            original = r.xrange("payments", fields["original_id"], fields["original_id"])[0][1]
            copied = {key: value for key, value in fields.items() if key != "original_id"}
            expect(original.items() <= copied.items(), f"the dead letter of {fields['original_id']} holds {copied}; copy all of "
                                                       f"the original's fields {original}")
        pending = _pending(r, "payments", "billing")
        stuck = sorted(set(poison) & set(pending))
        expect(not stuck, f"{stuck} are still pending in 'billing': XACK each dead-lettered entry, or the next claim delivers it again")
        healthy = sorted(set(self.deliveries) - set(poison))
        acked = sorted(set(healthy) - set(pending))
        expect(not acked, f"{acked} were acknowledged, but were delivered fewer than 3 times: leave them pending for a normal retry")
        return f"{len(poison)} poison messages parked in payments:dead and acknowledged; {len(healthy)} others still pending for a retry"


q1 = ExplicitIds()
q2 = ExactTrim()
q3 = AutoClaim()
q4 = DeadLetter()

"""Exercises for `02_lists_and_queues`: a capped list, a FIFO queue, and recovering a crashed worker's message.

Example::

    from labkit.exercises import lists as ex
    ex.use(r)
    ex.q1.prepare()
    ex.q1.check()
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from .core import NotAttempted, Problem, Wrong, expect, expect_type, use
from .welcome import ServerEvidence

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "02_lists_and_queues"

ACTIONS = ("view", "like", "comment", "share", "follow", "cart", "search", "login")


class RecentActivity(ServerEvidence):
    title = "A capped recent-activity list: the 10 newest events, newest first"
    keys = ("recent:alice",)
    hints = (
        "LPUSH adds at the head (index 0), so the newest event is first; LTRIM key 0 9 keeps indexes 0..9.",
        "for event in ex.q1.events: r.lpush('recent:alice', event); r.ltrim('recent:alice', 0, 9)",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        for event in ex.q1.events:
            r.lpush("recent:alice", event)
            r.ltrim("recent:alice", 0, 9)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            for event in ex.q1.events:
                r.rpush("recent:alice", event)
                r.ltrim("recent:alice", 0, 9)
            """), "RPUSH appends at the tail", why="pushes at the wrong end"),
        Wrong(dedent("""
            ex.q1.prepare()
            for event in ex.q1.events:
                r.lpush("recent:alice", event)
            """), "has 15 items", why="skips LTRIM"),
        Wrong(dedent("""
            ex.q1.prepare()
            for event in ex.q1.events:
                r.lpush("recent:alice", event)
            r.ltrim("recent:alice", 0, 9)
            """), "trim after each push", why="one LTRIM at the end: the list grew to 15 first"),
        Wrong(dedent("""
            ex.q1.prepare()
            for event in ex.q1.events:
                r.lpush("recent:alice", event)
                r.ltrim("recent:alice", 0, 10)
            """), "has 11 items", why="off by one: LTRIM's stop index is inclusive"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.rpush("recent:alice", *reversed(ex.q1.events[-10:]))
            """), "no LPUSH", why="the final list written in one go, no push-and-trim"),
    )

    def setup(self, r: Any) -> None:
        """Alice's 15 events for this run, oldest first, in `self.events`."""
        numbers = self.rng.sample(range(100, 1000), 15)
        self.events = [f"{self.rng.choice(ACTIONS)}:{number}" for number in numbers]
        print(f"ex.q1.events (oldest first): {self.events}")

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect_type(r, "recent:alice", "list")
        items = r.lrange("recent:alice", 0, -1)
        expected = list(reversed(self.events))[:10]
        expect(calls.get("lpush", 0) >= 1,
               "the server saw no LPUSH" + (" (RPUSH appends at the tail, so the newest event would come last)" if calls.get("rpush") else "")
               + ": push each event at the head with LPUSH, then LTRIM, as the events arrive")
        expect(calls.get("ltrim", 0) >= 1, f"'recent:alice' has {len(items)} items and the server saw no LTRIM: trim it to the 10 newest")
        expect(len(items) == 10, f"'recent:alice' has {len(items)} items; LTRIM key 0 9 keeps the 10 newest (the stop index is inclusive)")
        expect(calls["ltrim"] >= calls["lpush"],
               f"the server saw {calls['lpush']} LPUSHes but {calls['ltrim']} LTRIM: trim after each push, so that the list never "
               "holds more than 10 events")
        if sorted(items) == sorted(expected) and items != expected:
            expect(False, f"'recent:alice' has the right events in the wrong order: {items}; the newest ({self.events[-1]}) comes first")
        expect(items == expected, f"'recent:alice' holds {items}, but the 10 newest of ex.q1.events, newest first, are {expected}")
        return "LPUSH + LTRIM: a list that never grows past 10"


class FifoQueue(ServerEvidence):
    title = "A FIFO queue: the first job in is the first out"
    keys = ("queue:jobs",)
    takes_answer = True
    hints = (
        "With LPUSH, new jobs go in at the left; the oldest job is at the right end.",
        "r.lpush('queue:jobs', *ex.q2.jobs) pushes them in order. Then answer = r.rpop('queue:jobs').",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        r.lpush("queue:jobs", *ex.q2.jobs)
        answer = r.rpop("queue:jobs")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            r.lpush("queue:jobs", *ex.q2.jobs)
            answer = r.lpop("queue:jobs")
        """), "the newest job", why="LPUSH + LPOP is a stack"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.lpush("queue:jobs", *ex.q2.jobs)
            answer = r.lindex("queue:jobs", -1)
        """), "still in 'queue:jobs'", why="reads the oldest job but leaves it in the queue"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.lpush("queue:jobs", *ex.q2.jobs)
            answer = "a"
        """), "no RPOP", why="the answer of an earlier version, typed by hand"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.rpush("queue:jobs", *ex.q2.jobs)
            answer = r.rpop("queue:jobs")
        """), "with LPUSH", why="RPUSH + RPOP: pushes and pops at the same end"),
    )

    def setup(self, r: Any) -> None:
        """Three jobs for this run, in arrival order, in `self.jobs`."""
        self.jobs = [f"job:{number}" for number in self.rng.sample(range(100, 1000), 3)]
        print(f"ex.q2.jobs (in arrival order): {self.jobs}")

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect(isinstance(answer, str), f"answer should be the job RPOP returned (a string); got {answer!r}")
        expect(calls.get("lpush", 0) >= 1, "the server saw no LPUSH: push the jobs with LPUSH, as the task says")
        first, newest = self.jobs[0], self.jobs[-1]
        expect(answer != newest,
               f"you took {newest!r}, the newest job: a FIFO queue pops from the other end than it pushes (LPUSH + RPOP)")
        pops = calls.get("rpop", 0) + calls.get("brpop", 0)
        expect_type(r, "queue:jobs", "list")
        items = r.lrange("queue:jobs", 0, -1)
        if not pops:
            where = f" and {first!r} is still in 'queue:jobs'" if first in items else ""
            expect(False, f"the server saw no RPOP{where}: take the job with RPOP (or BRPOP), which removes it from the queue")
        expect(answer == first, f"you took {answer!r}; the first job pushed was {first!r}")
        expect(items == list(reversed(self.jobs[1:])),
               f"'queue:jobs' holds {items} after one pop; expected {list(reversed(self.jobs[1:]))}")
        return "LPUSH at one end, RPOP at the other: first in, first out"


QUEUE, PROCESSING = "{orders}:queue", "{orders}:processing:worker-1"


class RecoverCrashedWorker(ServerEvidence):
    title = "Recover the message a crashed worker left in its processing list"
    keys = (QUEUE, PROCESSING)
    hints = (
        "Workers take from the RIGHT end of the queue, so the message must go back at the RIGHT end to be next.",
        "One atomic command moves it: LMOVE source destination RIGHT RIGHT.",
        "r.lmove('{orders}:processing:worker-1', '{orders}:queue', 'RIGHT', 'RIGHT')",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        r.lmove("{orders}:processing:worker-1", "{orders}:queue", "RIGHT", "RIGHT")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            r.lmove("{orders}:processing:worker-1", "{orders}:queue", "RIGHT", "LEFT")
        """), "would be processed last", why="put back at the wrong end"),
        Wrong(dedent("""
            ex.q3.prepare()
            message = r.rpop("{orders}:processing:worker-1")
            r.rpush("{orders}:queue", message)
        """), "not atomic", why="two commands: a crash between them loses the message"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.rpush("{orders}:queue", r.lindex("{orders}:processing:worker-1", 0))
        """), "still holds", why="copies the message, leaves it in the processing list"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.delete("{orders}:processing:worker-1")
        """), "is lost", why="deletes the stuck message"),
    )

    def setup(self, r: Any) -> None:
        """A crash drawn for this run: one order stuck in worker-1's processing list, two waiting in the queue."""
        stuck, *waiting = (f"order:{number}" for number in self.rng.sample(range(100, 1000), 3))
        self.stuck, self.start_queue = stuck, list(reversed(waiting))
        r.delete("{orders}:processing:worker-2")
        r.lpush(QUEUE, *waiting)
        r.lpush(PROCESSING, stuck)
        print(f"{QUEUE}: {r.lrange(QUEUE, 0, -1)} | {PROCESSING}: {r.lrange(PROCESSING, 0, -1)}")

    def cleanup(self, r: Any) -> None:
        r.delete(QUEUE, PROCESSING, "{orders}:processing:worker-2")

    def attempted(self, r: Any, answer: Any) -> bool:
        if not hasattr(self, "stuck") or not any(r.exists(key) for key in self.keys):
            raise NotAttempted("run the exercise cell from its first line, ex.q3.prepare(): it sets up the crash")
        untouched = (
            r.type(QUEUE) == "list" and r.lrange(QUEUE, 0, -1) == self.start_queue
            and r.type(PROCESSING) == "list" and r.lrange(PROCESSING, 0, -1) == [self.stuck]
        )
        if untouched:
            raise NotAttempted(f"the stuck order is still in {PROCESSING!r}: move it back to {QUEUE!r}")
        return True

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        stuck = self.stuck
        left = r.lrange(PROCESSING, 0, -1) if r.type(PROCESSING) == "list" else None
        expect(not r.exists(PROCESSING), f"{PROCESSING!r} still holds {left if left is not None else 'a value'}: move the message out of it")
        expect_type(r, QUEUE, "list")
        items = r.lrange(QUEUE, 0, -1)
        expect(stuck in items, f"{QUEUE!r} holds {items}: {stuck} is lost; LMOVE it from the processing list to the queue")
        expect(items.count(stuck) == 1, f"{QUEUE!r} holds {stuck} {items.count(stuck)} times; it should be there once")
        expect(len(items) == 3, f"{QUEUE!r} holds {items}; expected {stuck} plus the two orders that were waiting")
        moves = calls.get("lmove", 0) + calls.get("rpoplpush", 0) + calls.get("blmove", 0) + calls.get("brpoplpush", 0)
        expect(moves >= 1 and not any(calls.get(c) for c in ("rpush", "lpush", "rpop", "lpop", "lrem", "del")),
               "the message is back, but in separate commands, which is not atomic: between a pop and a push it is in no list "
               "(a crash there loses it), between a push and a delete it is in both; move it with one LMOVE")
        expect(items[-1] == stuck,
               f"{QUEUE!r} is {items}: {stuck} is at the left end, so it would be processed last; put it back at the RIGHT end, "
               "where workers pop")
        return f"{stuck} is back in the queue and will be processed next"


q1 = RecentActivity()
q2 = FifoQueue()
q3 = RecoverCrashedWorker()

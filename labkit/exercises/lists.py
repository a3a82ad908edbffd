"""Exercises for `02_lists_and_queues`: a capped list, a FIFO queue, and recovering a crashed worker's message.

Example::

    from labkit.exercises import lists as ex
    ex.use(r)
    ex.q1.check()
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from .core import NotAttempted, Problem, expect, expect_type, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "02_lists_and_queues"


class RecentActivity(Problem):
    title = "A capped recent-activity list: the 10 newest events, newest first"
    keys = ("recent:alice",)
    hints = (
        "LPUSH adds at the head (index 0), so the newest event is first; LTRIM key 0 9 keeps indexes 0..9.",
        "for i in range(1, 16): r.lpush('recent:alice', f'e{i}'); r.ltrim('recent:alice', 0, 9)",
    )
    solution_code = dedent("""
        for i in range(1, 16):
            r.lpush("recent:alice", f"e{i}")
            r.ltrim("recent:alice", 0, 9)
    """)
    wrong_code = dedent("""
        for i in range(1, 16):
            r.rpush("recent:alice", f"e{i}")
            r.ltrim("recent:alice", 0, 9)
    """)
    wrong_message = "wrong order"

    expected = [f"e{i}" for i in range(15, 5, -1)]

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "recent:alice", "list")
        items = r.lrange("recent:alice", 0, -1)
        expect(len(items) == 10, f"'recent:alice' has {len(items)} items; LTRIM it to the 10 newest")
        if sorted(items) == sorted(self.expected):
            expect(items == self.expected, f"'recent:alice' has the right events in the wrong order: {items}; newest (e15) first")
        expect(items == self.expected,
               f"'recent:alice' holds {items}, but the 10 newest of e1..e15 are e15..e6: push at the head (LPUSH) and "
               "trim the tail, or you keep the oldest ones in the wrong order")
        return "LPUSH + LTRIM: a list that never grows past 10"


class FifoQueue(Problem):
    title = "A FIFO queue: the first job in is the first out"
    keys = ("queue:jobs",)
    takes_answer = True
    hints = (
        "With LPUSH, new jobs go in at the left; the oldest job is at the right end.",
        "r.lpush('queue:jobs', 'a', 'b', 'c') pushes a, then b, then c. Then answer = r.rpop('queue:jobs').",
    )
    solution_code = dedent("""
        r.lpush("queue:jobs", "a", "b", "c")
        answer = r.rpop("queue:jobs")
    """)
    wrong_code = dedent("""
        r.lpush("queue:jobs", "a", "b", "c")
        answer = r.lpop("queue:jobs")
    """)
    wrong_message = "you popped 'c', the newest job"

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "queue:jobs", "list")
        items = r.lrange("queue:jobs", 0, -1)
        expect(isinstance(answer, str), f"answer should be the job RPOP returned (a string); got {answer!r}")
        expect(answer != "c", "you popped 'c', the newest job: a FIFO queue pops from the other end than it pushes (LPUSH + RPOP)")
        expect(answer == "a", f"you popped {answer!r}; the first job pushed was 'a'")
        expect(items == ["c", "b"], f"'queue:jobs' holds {items} after one pop; expected ['c', 'b'] (push a, b, c with LPUSH, pop once)")
        return "LPUSH at one end, RPOP at the other: first in, first out"


class RecoverCrashedWorker(Problem):
    title = "Recover the message a crashed worker left in its processing list"
    keys = ("queue:orders", "processing:worker-1")
    hints = (
        "Start with: r.delete('queue:orders', 'processing:worker-1'); r.lpush('queue:orders', 'order:43', 'order:44'); "
        "r.lpush('processing:worker-1', 'order:42').",
        "Workers take from the RIGHT end of queue:orders, so the message must go back at the RIGHT end to be next.",
        "r.lmove('processing:worker-1', 'queue:orders', 'RIGHT', 'RIGHT')",
    )
    solution_code = dedent("""
        r.lmove("processing:worker-1", "queue:orders", "RIGHT", "RIGHT")
    """)
    wrong_code = dedent("""
        r.lmove("processing:worker-1", "queue:orders", "RIGHT", "LEFT")
    """)
    wrong_message = "would be processed last"

    start_queue = ["order:44", "order:43"]

    def prepare(self, r: Any) -> None:
        r.delete("queue:orders", "processing:worker-1")
        r.lpush("queue:orders", "order:43", "order:44")
        r.lpush("processing:worker-1", "order:42")

    def attempted(self, r: Any, answer: Any) -> bool:
        if not any(r.exists(key) for key in self.keys):
            raise NotAttempted("run the set-up cell first: it fills 'queue:orders' and 'processing:worker-1' (hint 1 has it)")
        untouched = (
            r.type("queue:orders") == "list" and r.lrange("queue:orders", 0, -1) == self.start_queue
            and r.type("processing:worker-1") == "list" and r.lrange("processing:worker-1", 0, -1) == ["order:42"]
        )
        if untouched:
            raise NotAttempted("order:42 is still in 'processing:worker-1': move it back to 'queue:orders'")
        return True

    def verify(self, r: Any, answer: Any) -> str:
        expect(not r.exists("processing:worker-1"),
               f"'processing:worker-1' still holds {r.lrange('processing:worker-1', 0, -1) if r.type('processing:worker-1') == 'list' else 'a value'}: "
               "move the message out of it")
        expect_type(r, "queue:orders", "list")
        items = r.lrange("queue:orders", 0, -1)
        expect("order:42" in items, f"'queue:orders' holds {items}: order:42 is lost; LMOVE it from the processing list to the queue")
        expect(items.count("order:42") == 1, f"'queue:orders' holds order:42 {items.count('order:42')} times; it should be there once")
        expect(len(items) == 3, f"'queue:orders' holds {items}; expected order:42 plus the two orders that were waiting")
        expect(items[-1] == "order:42",
               f"'queue:orders' is {items}: order:42 is at the left end, so it would be processed last; put it back at the RIGHT end, where workers pop")
        return "order:42 is back in the queue and will be processed next"


q1 = RecentActivity()
q2 = FifoQueue()
q3 = RecoverCrashedWorker()

"""Exercises for notebook 04, sets and deduplication: `from labkit.exercises import sets as ex`.

Example::

    ex.use(r)
    r.sadd("article:7:tags", "redis", "caching", "aws")
    ex.q1.check()
"""

from __future__ import annotations

from typing import Any

from .core import Problem, call_learner, expect, expect_type, use

__all__ = ["NOTEBOOK", "RESULT", "TAG", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "04_sets_and_dedup"

#: The tag index the notebook builds in its tagging section: tag -> article ids, in the sets TAG + tag.
#: The tag sets share the hash tag {blog}, so SINTER/SDIFF over them work on a cluster too.
TAG = "{blog}:tag:"
RESULT = "{blog}:result:redis-not-aws"
TAG_INDEX: dict[str, tuple[str, ...]] = {
    "redis": ("1", "2", "3", "5", "8"),
    "aws": ("2", "3", "4", "6"),
    "python": ("1", "3", "6", "8"),
    "caching": ("2", "5", "6"),
}


def _members(r: Any, key: str) -> set[str]:
    return {m.decode() if isinstance(m, bytes) else str(m) for m in r.smembers(key)}



class TagAnArticle(Problem):
    title = "Tag article 7 both ways"
    keys = ("article:7:tags",)
    hints = (
        "A tag index goes both ways: the article's set of tags, and for each tag the set of its articles.",
        "SADD article:7:tags redis caching aws, then SADD {blog}:tag:<name> 7 for each of the three tags.",
    )
    solution_code = """
for tag in ("redis", "caching", "aws"):
    r.sadd("article:7:tags", tag)
    r.sadd("{blog}:tag:" + tag, "7")
"""
    wrong_code = 'r.sadd("article:7:tags", "redis", "caching", "aws")'
    wrong_message = "does not contain article 7"

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "article:7:tags", "set")
        tags = _members(r, "article:7:tags")
        expect(tags == {"redis", "caching", "aws"}, f"article:7:tags holds {sorted(tags)}; it should hold exactly aws, caching and redis")
        for tag in sorted(tags):
            key = TAG + tag
            if r.exists(key):
                expect_type(r, key, "set")
            expect(r.sismember(key, "7"), f"{key} does not contain article 7: add it with SADD {key} 7 so the tag finds the article")
        return "article 7 is found from its tags and its tags from the article."


class RedisButNotAws(Problem):
    title = "Articles tagged redis but not aws"
    keys = (RESULT,)
    hints = (
        "'In the first set but not the second' is a set difference.",
        "SDIFFSTORE {blog}:result:redis-not-aws {blog}:tag:redis {blog}:tag:aws stores the difference in a new key.",
    )
    solution_code = 'r.sdiffstore("{blog}:result:redis-not-aws", ["{blog}:tag:redis", "{blog}:tag:aws"])'
    wrong_code = 'r.sinterstore("{blog}:result:redis-not-aws", ["{blog}:tag:redis", "{blog}:tag:aws"])'
    wrong_message = "also tagged aws"

    def prepare(self, r: Any) -> None:
        for tag, articles in TAG_INDEX.items():
            r.sadd(TAG + tag, *articles)

    def verify(self, r: Any, answer: Any) -> str:
        redis_key, aws_key = TAG + "redis", TAG + "aws"
        for key in (redis_key, aws_key):
            expect(r.exists(key), f"{key} does not exist: run the cells of the tagging section first")
        expect_type(r, RESULT, "set")
        stored = _members(r, RESULT)
        expected = _members(r, redis_key) - _members(r, aws_key)
        both = sorted(stored & _members(r, aws_key))
        expect(not both, f"{RESULT} holds article(s) {both}, which are also tagged aws")
        missing = sorted(expected - stored)
        expect(not missing, f"{RESULT} misses article(s) {missing}, tagged redis and not aws")
        extra = sorted(stored - expected)
        expect(not extra, f"{RESULT} holds article(s) {extra}, which are not tagged redis")
        return f"{sorted(stored)} are tagged redis but not aws."


class FirstTimeSeen(Problem):
    title = "Deduplicate a feed with one SADD"
    takes_answer = True
    hints = (
        "SADD returns how many members it added: 1 when the member is new, 0 when it was already there.",
        "def first_time(event_id):\n    return r.sadd('seen:events', event_id) == 1",
    )
    solution_code = """
def first_time(event_id):
    return r.sadd("seen:events", event_id) == 1

answer = first_time
"""
    wrong_code = """
def first_time(event_id):
    return r.sismember("seen:events", event_id)

answer = first_time
"""
    wrong_message = "the first time it saw that id"

    def verify(self, r: Any, answer: Any) -> str:
        expect(callable(answer), "pass your function itself: q3.check(first_time)")
        ids = ["q3-check-a", "q3-check-b"]
        r.srem("seen:events", *ids)
        try:
            first = call_learner(answer, ids[0])
            expect(first is True or first == 1, f"first_time({ids[0]!r}) returned {first!r} the first time it saw that id; it should return True")
            again = call_learner(answer, ids[0])
            expect(again is False or again == 0, f"first_time({ids[0]!r}) returned {again!r} the second time; a duplicate should give False")
            other = call_learner(answer, ids[1])
            expect(other is True or other == 1, f"first_time({ids[1]!r}) returned {other!r} for a new id; it should return True")
            if r.exists("seen:events"):
                expect_type(r, "seen:events", "set")
            expect(r.sismember("seen:events", ids[0]), "the ids seen are not in the set seen:events: SADD them there")
        finally:
            r.srem("seen:events", *ids)
        return "one atomic SADD both records the id and tells whether it was new."


q1 = TagAnArticle()
q2 = RedisButNotAws()
q3 = FirstTimeSeen()

"""Exercises for notebook 04, sets and deduplication: `from labkit.exercises import sets as ex`.

Example::

    ex.use(r)
    ex.q2.prepare()
    r.sdiffstore("{blog}:result:redis-not-aws", ["{blog}:tag:redis", "{blog}:tag:aws"])
    ex.q2.check()
"""

from __future__ import annotations

import uuid
from textwrap import dedent
from typing import Any

from .core import NotAttempted, Problem, Wrong, as_text, call_learner, command_calls, expect, expect_callable, expect_type, use

__all__ = ["NOTEBOOK", "RESULT", "TAG", "q1", "q2", "q3", "q4", "use"]

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
ARTICLE_7_TAGS = ("redis", "caching", "aws")


def _members(r: Any, key: str) -> set[str]:
    return {as_text(member) for member in r.smembers(key)}


def _by_number(article: str) -> tuple[int, str]:
    return (len(article), article)


def _tag_sets(r: Any) -> list[str]:
    return [as_text(key) for key in r.scan_iter(match=TAG + "*", count=1000)]


class TagAnArticle(Problem):
    title = "Tag article 7 both ways"
    keys = ("article:7:tags",)
    hints = (
        "A tag index goes both ways: the article's set of tags, and for each tag the set of its articles.",
        "SADD article:7:tags redis caching aws, then SADD {blog}:tag:<name> 7 for each of the three tags.",
    )
    solution_code = dedent("""
        r.sadd("article:7:tags", "redis", "caching", "aws")
        for tag in ("redis", "caching", "aws"):
            r.sadd("{blog}:tag:" + tag, "7")
    """)
    wrong_answers = (
        Wrong('r.sadd("article:7:tags", "redis", "caching", "aws")', "does not contain article 7", why="one direction only: the article's tags"),
        Wrong(dedent("""
            for tag in ("redis", "caching", "aws"):
                r.sadd("{blog}:tag:" + tag, "7")
        """), "'article:7:tags' does not exist", why="one direction only: the tag sets"),
        Wrong(dedent("""
            r.rpush("article:7:tags", "redis", "caching", "aws")
            for tag in ("redis", "caching", "aws"):
                r.sadd("{blog}:tag:" + tag, "7")
        """), "holds a list", why="a list instead of a set"),
        Wrong(dedent("""
            r.sadd("article:7:tags", "redis", "caching", "python")
            for tag in ("redis", "caching", "python"):
                r.sadd("{blog}:tag:" + tag, "7")
        """), "should hold exactly aws, caching and redis", why="a wrong tag (near miss)"),
    )

    def cleanup(self, r: Any) -> None:
        r.delete("article:7:tags")
        for key in _tag_sets(r):
            if as_text(r.type(key)) == "set":
                r.srem(key, "7")

    def attempted(self, r: Any, answer: Any) -> bool:
        return bool(r.exists("article:7:tags")) or any(as_text(r.type(key)) == "set" and r.sismember(key, "7") for key in _tag_sets(r))

    def verify(self, r: Any, answer: Any) -> str:
        expect(r.exists("article:7:tags"), "'article:7:tags' does not exist: the index needs the article's own set of tags too, "
               "so that 'which tags does article 7 have?' is one SMEMBERS")
        expect_type(r, "article:7:tags", "set")
        tags = _members(r, "article:7:tags")
        expect(tags == set(ARTICLE_7_TAGS), f"article:7:tags holds {sorted(tags)}; it should hold exactly aws, caching and redis")
        for tag in ARTICLE_7_TAGS:
            key = TAG + tag
            if r.exists(key):
                expect_type(r, key, "set")
            expect(r.sismember(key, "7"), f"{key} does not contain article 7: SADD {key} 7, so that the tag finds the article")
        others = sorted(key for key in _tag_sets(r) if key.removeprefix(TAG) not in ARTICLE_7_TAGS and as_text(r.type(key)) == "set" and r.sismember(key, "7"))
        expect(not others, f"{', '.join(others)} also contain article 7, which is not tagged so")
        return "article 7 is found from its tags, and its tags from the article."


class RedisButNotAws(Problem):
    title = "Articles tagged redis but not aws, with one command"
    keys = (RESULT,)
    hints = (
        "'In the first set but not the second' is a set difference; the order of the keys matters.",
        "Each SET command that combines sets has a STORE form that writes the result to a key, on the server.",
        "r.sdiffstore('{blog}:result:redis-not-aws', ['{blog}:tag:redis', '{blog}:tag:aws'])",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        r.sdiffstore("{blog}:result:redis-not-aws", ["{blog}:tag:redis", "{blog}:tag:aws"])
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            r.sadd("{blog}:result:redis-not-aws", "1", "5", "8")
        """), "no SDIFFSTORE", why="the ids printed above, typed in"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.sadd("{blog}:result:redis-not-aws", *r.sdiff(["{blog}:tag:redis", "{blog}:tag:aws"]))
        """), "SDIFFSTORE does both", why="SDIFF to the client, then SADD: two commands"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.sdiffstore("{blog}:result:redis-not-aws", ["{blog}:tag:aws", "{blog}:tag:redis"])
        """), "not tagged redis", why="the keys in the wrong order"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.sinterstore("{blog}:result:redis-not-aws", ["{blog}:tag:redis", "{blog}:tag:aws"])
        """), "also tagged aws", why="an intersection instead of a difference"),
    )

    def setup(self, r: Any) -> None:
        """The tag index as the notebook built it, plus a few articles tagged since (ids and tags drawn per run)."""
        for tag, articles in TAG_INDEX.items():
            r.sadd(TAG + tag, *articles)
        ids = self.rng.sample(range(20, 100), self.rng.randint(4, 6))
        kinds = [("redis",), ("redis", "aws")] + [self.rng.choice([("redis",), ("aws",), ("redis", "aws"), ("redis", "python")]) for _ in ids[2:]]
        self.added = {str(article): tags for article, tags in zip(ids, kinds)}
        for article, tags in self.added.items():
            for tag in tags:
                r.sadd(TAG + tag, article)
        print(f"ex.q2.prepare(): {len(self.added)} new articles were tagged since the queries above (ids drawn for this run).")

    def cleanup(self, r: Any) -> None:
        r.delete(RESULT)
        for article, tags in getattr(self, "added", {}).items():
            for tag in tags:
                r.srem(TAG + tag, article)

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect_type(r, RESULT, "set")
        redis_key, aws_key = TAG + "redis", TAG + "aws"
        stored, tagged_redis, tagged_aws = _members(r, RESULT), _members(r, redis_key), _members(r, aws_key)
        expected = tagged_redis - tagged_aws
        both = sorted(stored & tagged_aws, key=_by_number)
        expect(not (calls.get("sinterstore") and both), f"{RESULT} holds article(s) also tagged aws: SINTERSTORE keeps what is in both sets")
        not_redis = sorted(stored - tagged_redis, key=_by_number)
        expect(not not_redis, f"{RESULT} holds article(s) {not_redis}, which are not tagged redis: the first key of SDIFF is the set you keep from")
        expect(not both, f"{RESULT} holds article(s) {both}, which are also tagged aws")
        if not calls.get("sdiffstore"):
            if calls.get("sdiff"):
                expect(False, "you read the difference with SDIFF and wrote it back with SADD: a round trip through the client and "
                              "two commands; SDIFFSTORE does both on the server, in one")
            expect(False, f"the server saw no SDIFFSTORE since ex.q2.prepare(): compute the difference on the server "
                          f"(ids typed in by hand also miss the {len(self.added)} articles tagged since)")
        expect(calls.get("sdiffstore") == 1, f"the server saw {calls['sdiffstore']} SDIFFSTORE commands; one is enough")
        missing = expected - stored
        expect(not missing, f"{RESULT} misses {len(missing)} article(s) tagged redis and not aws")
        return f"{len(stored)} articles are tagged redis but not aws, computed and stored by the server in one command."


class FirstTimeSeen(Problem):
    title = "Deduplicate a feed with one SADD"
    takes_answer = True
    hints = (
        "SADD returns how many members it added: 1 when the member is new, 0 when it was already there.",
        "There is no need to ask first (SISMEMBER): SADD's reply already says whether the id was new, and asking first "
        "leaves a gap in which another worker can take the same id.",
        "def first_time(event_id):\n    return r.sadd('seen:events', event_id) == 1",
    )
    solution_code = dedent("""
        def first_time(event_id):
            return r.sadd("seen:events", event_id) == 1
    """)
    wrong_answers = (
        Wrong(dedent("""
            def first_time(event_id):
                return r.sismember("seen:events", event_id) == 0
        """), "the second time", why="asks, never records"),
        Wrong(dedent("""
            def first_time(event_id):
                if r.sismember("seen:events", event_id):
                    return False
                r.sadd("seen:events", event_id)
                return True
        """), "check-then-act", why="SISMEMBER then SADD: two commands, racy"),
        Wrong(dedent("""
            def first_time(event_id):
                return r.sadd("seen:events", event_id) == 0
        """), "the first time it saw that id", why="the reply read the wrong way round"),
        Wrong(dedent("""
            def first_time(event_id):
                return r.sadd("seen:event", event_id) == 1
        """), "not in the set seen:events", why="another key (near miss)"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        function = expect_callable(answer, "first_time")
        token = uuid.uuid4().hex[:8]
        ids = [f"evt-check-{token}-a", f"evt-check-{token}-b"]
        before = command_calls(r)
        try:
            first = call_learner(function, ids[0])
            again = call_learner(function, ids[0])
            other = call_learner(function, ids[1])
            after = command_calls(r)
            in_set = r.exists("seen:events") and as_text(r.type("seen:events")) == "set" and r.sismember("seen:events", ids[0])
        finally:
            if r.exists("seen:events") and as_text(r.type("seen:events")) == "set":
                r.srem("seen:events", *ids)
        expect(first is True or first == 1, f"first_time({ids[0]!r}) returned {first!r} the first time it saw that id; it should return True")
        expect(again is False or again == 0, f"first_time({ids[0]!r}) returned {again!r} the second time; a repeat should give False")
        expect(other is True or other == 1, f"first_time({ids[1]!r}) returned {other!r} for a new id; it should return True")
        expect(in_set, "the ids seen are not in the set seen:events: SADD them there")
        calls = {command: count - before.get(command, 0) for command, count in after.items()}
        asked = sum(calls.get(command, 0) for command in ("sismember", "smismember", "exists", "smembers", "scard"))
        expect(not asked, "first_time asks the set before it writes (check-then-act): two commands, and two workers can both "
                          "hear 'new' in between; SADD's own reply says whether the id was new")
        expect(calls.get("sadd", 0) == 3, f"three calls of first_time sent {calls.get('sadd', 0)} SADD commands; send one per call")
        return "one atomic SADD both records the id and tells whether it was new."


class AtLeastOnce(Problem):
    title = "At-least-once: process, then mark the event done"
    takes_answer = True
    hints = (
        "Skip an id that is already in seen:done (SISMEMBER); otherwise call process(event_id) and only then SADD the id.",
        "If process raises, the exception must leave handle before the SADD, so that the id stays unmarked and a redelivery processes it.",
        "def handle(event_id, process):\n"
        "    if r.sismember('seen:done', event_id):\n"
        "        return\n"
        "    process(event_id)\n"
        "    r.sadd('seen:done', event_id)",
    )
    solution_code = dedent("""
        def handle(event_id, process):
            if r.sismember("seen:done", event_id):
                return
            process(event_id)
            r.sadd("seen:done", event_id)
    """)
    wrong_answers = (
        Wrong(dedent("""
            def handle(event_id, process):
                if r.sadd("seen:done", event_id):
                    process(event_id)
        """), "at-most-once", why="marks first: the pattern of the section above"),
        Wrong(dedent("""
            def handle(event_id, process):
                if r.sismember("seen:done", event_id):
                    return
                try:
                    process(event_id)
                finally:
                    r.sadd("seen:done", event_id)
        """), "marked done although process", why="marks even when processing failed"),
        Wrong(dedent("""
            def handle(event_id, process):
                process(event_id)
                r.sadd("seen:done", event_id)
        """), "processed it again", why="never skips an id already done"),
        Wrong(dedent("""
            def handle(event_id, process):
                if r.sismember("seen:done", event_id):
                    return
                process(event_id)
        """), "was not marked", why="never marks"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        function = expect_callable(answer, "handle")
        token = uuid.uuid4().hex[:8]
        done, crashing = f"evt-{token}-1", f"evt-{token}-2"
        processed: list[str] = []

        def process(event_id: str) -> None:
            processed.append(event_id)

        class Crash(Exception):
            """The worker dies in the middle of processing."""

        def crash_while_processing(event_id: str) -> None:
            processed.append(event_id)
            raise Crash(f"the worker died while processing {event_id}")

        def is_done(event_id: str) -> bool:
            return bool(r.exists("seen:done")) and as_text(r.type("seen:done")) == "set" and bool(r.sismember("seen:done", event_id))

        try:
            call_learner(function, done, process)
            expect(processed == [done], f"handle({done!r}, process) called process {len(processed)} time(s) for a new event; it should call it once")
            expect(is_done(done), f"{done!r} was not marked done in seen:done after it was processed: SADD it there once process returned")
            call_learner(function, done, process)
            expect(processed == [done], f"a redelivery of {done!r}, already done, processed it again: skip the ids in seen:done")
            try:
                function(crashing, crash_while_processing)
            except Crash:
                pass
            except NotImplementedError as error:
                raise NotAttempted("handle still raises NotImplementedError: write its body") from error
            except Exception as error:  # the learner's code: any other error is a finding
                expect(False, f"handle({crashing!r}, ...) raised {type(error).__name__}: {error}")
            else:
                expect(False, f"process raised for {crashing!r} (the worker crashed), but handle swallowed the error: "
                              "let it propagate, so that the event is not taken for done")
            if is_done(crashing):
                expect(processed.count(crashing) != 0, f"{crashing!r} was marked done before it was processed")
                expect(False, f"{crashing!r} was marked done although process crashed: its redelivery is skipped and the event "
                              "is lost (at-most-once); mark it only after process returned")
            call_learner(function, crashing, process)
            expect(processed.count(crashing) == 2, f"the redelivery of {crashing!r}, whose processing crashed, was not processed again")
            expect(is_done(crashing), f"{crashing!r} was not marked done after its redelivery was processed")
        finally:
            if r.exists("seen:done") and as_text(r.type("seen:done")) == "set":
                r.srem("seen:done", done, crashing)
        return "process, then mark: a crash in between means a repeat (so processing must be idempotent), never a loss."


q1 = TagAnArticle()
q2 = RedisButNotAws()
q3 = FirstTimeSeen()
q4 = AtLeastOnce()

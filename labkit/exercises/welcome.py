"""Exercises for `00_welcome`: first commands, one pipeline, and reading the persistence settings.

Example::

    from labkit.exercises import welcome as ex
    ex.use(r)
    ex.q1.prepare()
    ex.q1.check()

`ServerEvidence` (used by notebooks 00-03) reads a cluster client's command counters from every
primary: `INFO commandstats` through a `RedisCluster` client otherwise reaches one node only, and a
replica counts the writes it replays (an INCRBYFLOAT arrives there as a SET).
"""

from __future__ import annotations

import os
from textwrap import dedent
from typing import Any

import redis
from redis.cluster import RedisCluster

from .core import NotAttempted, Problem, Wrong, expect, expect_type, use

__all__ = ["NOTEBOOK", "ServerEvidence", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "00_welcome"


class _EveryPrimary:
    """What `command_calls` reads for a cluster client: INFO from every primary, not one random node."""

    def __init__(self, client: RedisCluster) -> None:
        self.client = client

    def info(self, section: str) -> Any:
        return self.client.info(section, target_nodes=RedisCluster.PRIMARIES)


class ServerEvidence(Problem):
    """A problem whose command evidence also holds on a cluster endpoint (`LABKIT_REDIS_URL`)."""

    def _evidence_target(self) -> Any:
        target = super()._evidence_target()
        return _EveryPrimary(target) if isinstance(target, RedisCluster) else target


def local_lab_server() -> bool:
    """True when the checks talk to the server labkit started, whose settings an exercise may change
    (and puts back); never on your own server or a managed one (`LABKIT_REDIS_URL`)."""
    return not os.environ.get("LABKIT_REDIS_URL", "").strip()


class FirstCommands(ServerEvidence):
    title = "First commands: SET a greeting, DEL an old key"
    keys = ("welcome:greeting", "welcome:old")
    hints = (
        "SET stores a string: r.set(key, value). DEL removes keys: r.delete(key).",
        "Two commands: r.set('welcome:greeting', 'hello, world') and r.delete('welcome:old').",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        r.set("welcome:greeting", "hello, world")
        r.delete("welcome:old")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            r.set("welcome:greeting", "hello, world")
        """), "'welcome:old' still exists", why="skips DEL"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.set("welcome:greeting", "Hello, World!")
            r.delete("welcome:old")
        """), "expected 'hello, world'", why="near miss: capitals and a '!'"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.set("welcome:greeting", "hello, world")
            r.pexpire("welcome:old", 1)
            time.sleep(0.05)
        """), "the server saw no DEL", why="final state reached another way (a 1 ms expiry), no DEL"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.rpush("welcome:greeting", "hello, world")
            r.delete("welcome:old")
        """), "holds a list", why="wrong type"),
    )

    def setup(self, r: Any) -> None:
        r.set("welcome:old", f"delete me ({self.rng.randint(100, 999)})")

    def attempted(self, r: Any, answer: Any) -> bool:
        if not r.exists("welcome:greeting") and r.exists("welcome:old"):
            raise NotAttempted("store the greeting in 'welcome:greeting' and delete 'welcome:old'")
        return True

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect_type(r, "welcome:greeting", "string")
        value = r.get("welcome:greeting")
        expect(value == "hello, world", f"'welcome:greeting' holds {value!r}; expected 'hello, world' (lower case, one comma, one space)")
        expect(not r.exists("welcome:old"), "'welcome:old' still exists: remove it with DEL (r.delete)")
        expect(calls.get("del", 0) + calls.get("unlink", 0) + calls.get("getdel", 0) >= 1,
               "'welcome:old' is gone, but the server saw no DEL: remove it with DEL (r.delete)")
        return "the greeting is stored and the old key is gone"


class SquaresInOnePipeline(ServerEvidence):
    title = "Twenty SETs in one transaction pipeline"
    keys = tuple(f"welcome:{{squares}}:{n}" for n in range(1, 21))
    takes_answer = True
    hints = (
        "pipe = r.pipeline(transaction=True) queues commands; pipe.execute() sends them all, wrapped in MULTI ... EXEC, "
        "and returns one reply per command.",
        "Loop n from 1 to 20: pipe.set(f'welcome:{squares}:{n}', n * n) (in an f-string, write the braces doubled: "
        "f'welcome:{{squares}}:{n}'); then answer = pipe.execute().",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        pipe = r.pipeline(transaction=True)
        for n in range(1, 21):
            pipe.set(f"welcome:{{squares}}:{n}", n * n)
        answer = pipe.execute()
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            for n in range(1, 21):
                r.set(f"welcome:{{squares}}:{n}", n * n)
            answer = [True] * 20
        """), "no MULTI/EXEC", why="twenty round trips, and a list typed by hand"),
        Wrong(dedent("""
            ex.q2.prepare()
            answer = []
            for n in range(1, 21):
                pipe = r.pipeline(transaction=True)
                pipe.set(f"welcome:{{squares}}:{n}", n * n)
                answer += pipe.execute()
        """), "20 transactions", why="one pipeline per key"),
        Wrong(dedent("""
            ex.q2.prepare()
            pipe = r.pipeline(transaction=True)
            for n in range(1, 21):
                pipe.set(f"welcome:{{squares}}:{n}", n)
            answer = pipe.execute()
        """), "'welcome:{squares}:2' holds '2'", why="stores n, not n squared"),
        Wrong(dedent("""
            ex.q2.prepare()
            pipe = r.pipeline(transaction=True)
            for n in range(1, 20):
                pipe.set(f"welcome:{{squares}}:{n}", n * n)
            answer = pipe.execute()
        """), "19 replies", why="off by one: range(1, 20)"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect(isinstance(answer, list),
               f"answer should be the list that pipe.execute() returned, one reply per command; got a {type(answer).__name__}")
        expect(calls.get("multi", 0) >= 1,
               f"the server saw {calls.get('set', 0)} SETs and no MULTI/EXEC: send them in one r.pipeline(transaction=True), "
               "so that the server can see they arrived as one block")
        expect(calls.get("multi", 0) == 1,
               f"the server saw {calls['multi']} transactions (MULTI ... EXEC); queue all twenty SETs in one pipeline, then execute() once")
        expect(len(answer) == 20, f"answer has {len(answer)} replies; twenty SETs in one pipeline give 20")
        # A cluster client's transaction hands back the raw 'OK' where a plain client gives True.
        expect(all(reply is True or reply in ("OK", b"OK") for reply in answer),
               "every reply of a SET is True; did every command in your pipeline SET a key?")
        for n in range(1, 21):
            key = f"welcome:{{squares}}:{n}"
            expect_type(r, key, "string")
            value = r.get(key)
            expect(value == str(n * n), f"{key!r} holds {value!r}; expected {n * n} ({n} squared)")
        expect(calls.get("set", 0) == 20, f"the server saw {calls.get('set', 0)} SETs; the pipeline needs exactly 20")
        return "20 keys, 20 replies, one round trip and one MULTI/EXEC block"


SAVE_SECONDS = (900, 1800, 3600, 7200)


class PersistenceSettings(ServerEvidence):
    title = "Read this server's persistence settings"
    takes_answer = True
    hints = (
        "r.config_get('save') returns a dict such as {'save': '...'}; the same for 'appendonly'.",
        "Merge the two dicts: answer = r.config_get('save') | r.config_get('appendonly').",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        answer = r.config_get("save") | r.config_get("appendonly")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            answer = {"save": "", "appendonly": "no"}   # as printed above
        """), "ask the server", why="the literal printed above, no CONFIG GET"),
        Wrong(dedent("""
            ex.q3.prepare()
            answer = {"save": "3600 1 300 100 60 10000", "appendonly": r.config_get("appendonly")["appendonly"]}   # documented default
        """), "'save' is", why="assumes the documented default for save"),
        Wrong(dedent("""
            ex.q3.prepare()
            answer = r.config_get("save")
        """), "no 'appendonly' entry", why="only one of the two settings"),
    )

    def __init__(self) -> None:
        super().__init__()
        self._original_save: str | None = None

    def setup(self, r: Any) -> None:
        """On labkit's own server, a snapshot schedule drawn for this run (the printed one is stale)."""
        if not local_lab_server():
            return
        try:
            current = r.config_get("save").get("save", "")
            if self._original_save is None:
                self._original_save = current
            r.config_set("save", f"{self.rng.choice(SAVE_SECONDS)} {self.rng.randint(1000, 99999)}")
        except redis.ResponseError:
            pass  # a server that refuses CONFIG: the check still needs your CONFIG GET

    def cleanup(self, r: Any) -> None:
        if self._original_save is not None:
            try:
                r.config_set("save", self._original_save)
            except redis.ResponseError:
                pass
            self._original_save = None

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect(isinstance(answer, dict), f"answer should be a dict like {{'save': ..., 'appendonly': ...}}; got a {type(answer).__name__}")
        missing = [name for name in ("save", "appendonly") if name not in answer]
        expect(not missing, f"answer has no {' and no '.join(map(repr, missing))} entry")
        expect(calls.get("config|get", 0) >= 1,
               "the server saw no CONFIG GET since ex.q3.prepare(): ask the server for its settings instead of typing them")
        for name in ("save", "appendonly"):
            actual = r.config_get(name).get(name)
            given = answer[name]
            expect(given == actual, f"{name!r} is {actual!r} on this server, not {given!r}: read it with CONFIG GET instead of assuming a default")
        where = "no RDB snapshots" if answer["save"] == "" else f"an RDB snapshot schedule ({answer['save']})"
        return f"this server has {where} and appendonly={answer['appendonly']}"


q1 = FirstCommands()
q2 = SquaresInOnePipeline()
q3 = PersistenceSettings()

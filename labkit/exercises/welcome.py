"""Exercises for `00_welcome`: first commands, a pipeline, and reading the persistence settings.

Example::

    from labkit.exercises import welcome as ex
    ex.use(r)
    ex.q1.check()
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from .core import Problem, expect, expect_type, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "00_welcome"


class FirstCommands(Problem):
    title = "First commands: SET a greeting, DEL an old key"
    keys = ("welcome:greeting",)
    hints = (
        "SET stores a string: r.set(key, value). DEL removes keys: r.delete(key).",
        "Two commands: r.set('welcome:greeting', 'hello, world') and r.delete('welcome:old').",
    )
    solution_code = dedent("""
        r.set("welcome:greeting", "hello, world")
        r.delete("welcome:old")
    """)
    wrong_code = dedent("""
        r.set("welcome:greeting", "hello, world")
    """)
    wrong_message = "'welcome:old' still exists"

    def prepare(self, r: Any) -> None:
        r.set("welcome:old", "delete me")

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "welcome:greeting", "string")
        value = r.get("welcome:greeting")
        expect(value == "hello, world", f"'welcome:greeting' holds {value!r}; expected 'hello, world' (lower case, one comma, one space)")
        expect(not r.exists("welcome:old"), "'welcome:old' still exists: remove it with DEL (r.delete)")
        return "the greeting is stored and the old key is gone"


class SquaresInOnePipeline(Problem):
    title = "Twenty SETs in one round trip"
    keys = tuple(f"welcome:square:{n}" for n in range(1, 21))
    takes_answer = True
    hints = (
        "pipe = r.pipeline(transaction=False) queues commands; pipe.execute() sends them all at once and returns one reply per command.",
        "Loop n from 1 to 20: pipe.set(f'welcome:square:{n}', n * n); then answer = pipe.execute().",
    )
    solution_code = dedent("""
        pipe = r.pipeline(transaction=False)
        for n in range(1, 21):
            pipe.set(f"welcome:square:{n}", n * n)
        answer = pipe.execute()
    """)
    wrong_code = dedent("""
        pipe = r.pipeline(transaction=False)
        for n in range(1, 21):
            pipe.set(f"welcome:square:{n}", n)
        answer = pipe.execute()
    """)
    wrong_message = "'welcome:square:2' holds '2'"

    def verify(self, r: Any, answer: Any) -> str:
        expect(isinstance(answer, list),
               f"answer should be the list that pipe.execute() returned, one reply per command; got a {type(answer).__name__}")
        expect(len(answer) == 20, f"answer has {len(answer)} replies; twenty SETs in one pipeline give 20")
        expect(all(reply is True for reply in answer), "every reply of a SET is True; did every command in your pipeline SET a key?")
        for n in range(1, 21):
            key = f"welcome:square:{n}"
            expect_type(r, key, "string")
            value = r.get(key)
            expect(value == str(n * n), f"{key!r} holds {value!r}; expected {n * n} ({n} squared)")
        return "20 keys, 20 replies, one round trip"


class PersistenceSettings(Problem):
    title = "Read this server's persistence settings"
    takes_answer = True
    hints = (
        "r.config_get('save') returns a dict such as {'save': '...'}; the same for 'appendonly'.",
        "Merge the two dicts: answer = r.config_get('save') | r.config_get('appendonly').",
    )
    solution_code = dedent("""
        answer = r.config_get("save") | r.config_get("appendonly")
    """)
    wrong_code = dedent("""
        answer = {"save": "3600 1 300 100 60 10000", "appendonly": "no"}   # the documented defaults
    """)
    wrong_message = "'save' is"

    def verify(self, r: Any, answer: Any) -> str:
        expect(isinstance(answer, dict), f"answer should be a dict like {{'save': ..., 'appendonly': ...}}; got a {type(answer).__name__}")
        missing = [name for name in ("save", "appendonly") if name not in answer]
        expect(not missing, f"answer has no {' and no '.join(map(repr, missing))} entry")
        for name in ("save", "appendonly"):
            actual = r.config_get(name).get(name)
            given = answer[name]
            expect(given == actual, f"{name!r} is {actual!r} on this server, not {given!r}: read it with CONFIG GET instead of assuming a default")
        where = "no RDB snapshots" if answer["save"] == "" else f"RDB snapshots ({answer['save']})"
        return f"this server keeps {where} and appendonly={answer['appendonly']}"


q1 = FirstCommands()
q2 = SquaresInOnePipeline()
q3 = PersistenceSettings()

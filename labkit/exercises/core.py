"""Exercises that check themselves against the live server, in the manner of Kaggle's learntools.

Learners::

    from labkit.exercises import strings as ex
    ex.use(r)              # the client the checks read from (default: labkit.connect())
    ex.q1.check()          # "Not attempted yet" / "Incorrect: <what is wrong>" / "Correct"
    ex.q1.hint()
    ex.q1.solution()

Authors declare one small class per problem::

    class PageViews(Problem):
        title = "Count page views"
        keys = ("page:home:views",)          # none of them exists -> not attempted
        hints = ("INCR creates the key at 0 and adds one.",)
        solution_code = "r.incr('page:home:views')\\nr.incr('page:home:views')"
        wrong_code = "r.set('page:home:views', 'two')"                # for the tests
        wrong_message = "should be 2"

        def verify(self, r, answer):
            value = expect_type(r, "page:home:views", "string")
            expect(r.get("page:home:views") == "2", "page:home:views should be 2 after two views")

    q1 = PageViews()
"""

from __future__ import annotations

import enum
import textwrap
from dataclasses import dataclass
from typing import Any

import redis

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()

_bound_client: Any = None
_bound_topology: Any = None


def use(target: Any) -> None:
    """Make the checks read from `target`: a client, or a labkit topology (checks then see both)."""
    global _bound_client, _bound_topology
    from ..topology import Topology

    if isinstance(target, Topology):
        _bound_topology, _bound_client = target, target.client()
    else:
        _bound_topology, _bound_client = None, target


def current_client() -> Any:
    global _bound_client
    if _bound_client is None:
        from ..connect import connect

        _bound_client = connect(quiet=True)
    return _bound_client


def current_topology() -> Any:
    """The topology given to `use()`, for checks that look at nodes, roles or AZs."""
    if _bound_topology is None:
        raise NotAttempted("this exercise checks your lab's topology: run ex.use(lab) first (lab is the topology you started)")
    return _bound_topology


class Outcome(str, enum.Enum):
    NOT_ATTEMPTED = "not attempted"
    INCORRECT = "incorrect"
    CORRECT = "correct"


_SYMBOLS = {Outcome.NOT_ATTEMPTED: "⏳ Not attempted yet", Outcome.INCORRECT: "❌ Incorrect", Outcome.CORRECT: "✅ Correct"}


@dataclass(frozen=True)
class Result:
    """The outcome of a check and the message that goes with it."""

    outcome: Outcome
    message: str = ""

    @property
    def correct(self) -> bool:
        return self.outcome is Outcome.CORRECT

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        return f"{_SYMBOLS[self.outcome]}: {self.message}" if self.message else _SYMBOLS[self.outcome]

    __repr__ = __str__


class Incorrect(Exception):
    """Raised inside `verify` with a message that names what is wrong."""


class NotAttempted(Exception):
    """Raised inside `verify` when there is nothing to check yet."""


def expect(condition: object, message: str) -> None:
    """Fail the check with `message` unless `condition` holds."""
    if not condition:
        raise Incorrect(message)


def expect_key(r: Any, key: str) -> None:
    expect(r.exists(key), f"the key {key!r} does not exist")


def expect_type(r: Any, key: str, kind: str) -> None:
    """The key must exist and hold `kind` (string, list, hash, set, zset, stream)."""
    expect_key(r, key)
    actual = r.type(key)
    actual = actual.decode() if isinstance(actual, bytes) else actual
    expect(actual == kind, f"{key!r} holds a {actual}, but this exercise needs a {kind}")


def expect_ttl(r: Any, key: str, low: float, high: float) -> None:
    """The key must have a time to live between `low` and `high` seconds."""
    expect_key(r, key)
    ttl = r.pttl(key)
    expect(ttl != -1, f"{key!r} has no TTL: set one with EX/EXPIRE")
    expect(low * 1000 <= ttl <= high * 1000, f"{key!r} has a TTL of {ttl / 1000:.1f} s; expected between {low:g} and {high:g} s")


def as_text(value: Any) -> str:
    """A server reply as text, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


def call_learner(function: Any, *args: Any) -> Any:
    """Call the learner's function; if it raises, fail the check with what was called and the error."""
    try:
        return function(*args)
    except Exception as error:  # the learner's code: any exception is a finding, not a crash
        call = f"{getattr(function, '__name__', 'your function')}({', '.join(map(repr, args))})"
        raise Incorrect(f"{call} raised {type(error).__name__}: {error}") from error


def expect_callable(answer: Any, name: str) -> Any:
    """The answer must be a function (passed itself, not called)."""
    expect(callable(answer), f"pass your function itself, e.g. q.check({name}) (without calling it); got {type(answer).__name__}")
    return answer


class Problem:
    """One exercise. Subclass it, fill in the class attributes, and write `verify`."""

    title: str = ""
    #: Keys the exercise creates; when none exists (and no answer was passed) it is "not attempted".
    keys: tuple[str, ...] = ()
    #: True when the learner passes a value: `q.check(answer)`.
    takes_answer: bool = False
    #: What the tests start for it: "server" (any client), "replication" (a ReplicationGroup of 2
    #: replicas) or "cluster" (a 3x2 Cluster). Checks reach the topology with `self.lab`.
    needs: str = "server"
    hints: tuple[str, ...] = ()
    #: Code that solves it, with `r` the client (and `answer = ...` when `takes_answer`).
    solution_code: str = ""
    #: For the tests: code that makes a plausible mistake, and a part of the message it must get.
    wrong_code: str = ""
    wrong_message: str = ""

    def __init__(self) -> None:
        self._hints_shown = 0
        self._topology: Any = None

    def prepare(self, r: Any) -> None:
        """Data the exercise starts from (the notebook's earlier cells make it too); `self.lab` is the topology."""

    def attempted(self, r: Any, answer: Any) -> bool:
        if self.takes_answer:
            return answer is not MISSING and answer is not None and answer is not Ellipsis
        return any(r.exists(key) for key in self.keys) if self.keys else True

    def verify(self, r: Any, answer: Any) -> str | None:
        """Raise Incorrect (via `expect`) when wrong; optionally return a congratulation."""
        raise NotImplementedError

    # -- what learners call ---------------------------------------------------------------
    @property
    def lab(self) -> Any:
        """The learner's topology (from `check(topology=...)` or `use(lab)`)."""
        return self._topology if self._topology is not None else current_topology()

    def check(self, answer: Any = MISSING, *, client: Any = None, topology: Any = None) -> Result:
        """Check the live server (and `answer`, if this exercise takes one). Never raises."""
        self._topology = topology
        try:
            if client is None and topology is not None:
                client = topology.client()
            r = client if client is not None else current_client()
            if not self.attempted(r, answer):
                hint = "pass your answer: q.check(answer)" if self.takes_answer else f"create {', '.join(map(repr, self.keys))}"
                return Result(Outcome.NOT_ATTEMPTED, f"{self.title}: {hint}." if self.title else f"{hint}.")
            message = self.verify(r, answer)
            return Result(Outcome.CORRECT, message or self.title)
        except NotAttempted as reason:
            return Result(Outcome.NOT_ATTEMPTED, str(reason))
        except Incorrect as reason:
            return Result(Outcome.INCORRECT, str(reason))
        except redis.ResponseError as error:
            return Result(Outcome.INCORRECT, f"the server refused a command while checking: {error}")
        except redis.RedisError as error:
            return Result(Outcome.INCORRECT, f"could not read the server to check ({type(error).__name__}: {error}); is it running?")
        except Exception as error:  # odd answers (wrong types, exception objects) must not crash the check
            return Result(Outcome.INCORRECT, f"your answer could not be checked ({type(error).__name__}: {error})")

    def hint(self, number: int | None = None) -> None:
        """Print the next hint (or hint `number`, from 1)."""
        if not self.hints:
            print("No hint for this one: reread the section above, then try q.solution().")
            return
        if number is None:
            self._hints_shown = min(self._hints_shown + 1, len(self.hints))
            number = self._hints_shown
        number = max(1, min(number, len(self.hints)))
        more = f" (hint {number} of {len(self.hints)})" if len(self.hints) > 1 else ""
        print(f"💡 Hint{more}: {self.hints[number - 1]}")

    def solution(self) -> None:
        """Print a solution (reading it is fine; typing it yourself teaches more)."""
        print("Solution:\n" + textwrap.indent(textwrap.dedent(self.solution_code).strip(), "    "))

    def __repr__(self) -> str:
        return f"<exercise {self.title!r}: call .check(), .hint() or .solution()>"

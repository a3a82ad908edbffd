"""Exercises that check themselves against the live server, in the manner of Kaggle's learntools.

Learners::

    from labkit.exercises import strings as ex
    ex.use(r)              # the client (or topology) the checks read from (default: labkit.connect())
    ex.q1.prepare()        # first line of an exercise cell, where the exercise has data of its own
    ex.q1.check()          # "Not attempted yet" / "Incorrect: <what is wrong>" / "Correct"
    ex.q1.hint()
    ex.q1.solution()       # code that runs as pasted into the exercise cell

Authors declare one small class per problem; `solution_code` and each wrong answer are whole
exercise cells, using only names the notebook defines::

    class PageViews(Problem):
        title = "Count page views with INCR"
        keys = ("page:home:views",)          # none of them exists -> not attempted
        hints = ("INCR creates the key at 0 and adds one.",)
        solution_code = "ex.q1.prepare()\\nr.incr('page:home:views')\\nr.incr('page:home:views')"
        wrong_answers = (
            Wrong("ex.q1.prepare()\\nr.set('page:home:views', 2)", "INCR", why="final state without INCR"),
            Wrong("ex.q1.prepare()\\nr.incr('page:home:views')", "should be 2", why="one view short"),
        )

        def verify(self, r, answer):
            expect(self.commands_since_prepare().get("incr", 0) == 2, "count each view with one INCR")
            expect(r.get("page:home:views") == "2", "page:home:views should be 2 after two views")

    q1 = PageViews()
"""

from __future__ import annotations

import enum
import os
import random
import sys
import textwrap
from dataclasses import dataclass
from typing import Any

import redis

from .progress import record_outcome

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


def _shown(argument: Any) -> str:
    """An argument as a learner wrote it: a client as `r`, a notebook's database as `db` (their reprs run long)."""
    if hasattr(argument, "execute_command"):
        return "r"
    if hasattr(argument, "get_product"):
        return "db"
    return repr(argument)


def call_learner(function: Any, *args: Any) -> Any:
    """Call the learner's function; if it raises, fail the check with what was called and the error."""
    try:
        return function(*args)
    except NotImplementedError as error:
        raise NotAttempted(f"{getattr(function, '__name__', 'your function')} still raises NotImplementedError: write its body") from error
    except Exception as error:  # the learner's code: any exception is a finding, not a crash
        call = f"{getattr(function, '__name__', 'your function')}({', '.join(map(_shown, args))})"
        raise Incorrect(f"{call} raised {type(error).__name__}: {error}") from error


def expect_callable(answer: Any, name: str) -> Any:
    """The answer must be a function (passed itself, not called)."""
    expect(callable(answer), f"pass your function itself, e.g. q.check({name}) (without calling it); got {type(answer).__name__}")
    return answer


@dataclass(frozen=True)
class Wrong:
    """A plausible mistake, declared for the tests: `code` replaces the learner's cell, and the
    check must then say Incorrect with `message` somewhere in its text.

    Example::

        wrong_answers = (
            Wrong("answer = 2", "copied", why="the literal printed above"),
            Wrong("r.set('k', 1)", "has no TTL", why="skips EX"),
        )
    """

    code: str
    message: str
    #: What kind of mistake it stands for: "the literal printed above", "skips NX", "off by one", ...
    why: str = ""


def _command_calls(info: Any) -> dict[str, int]:
    """`INFO commandstats` (one node's dict, or a cluster client's dict of node -> dict) as command -> calls."""
    calls: dict[str, int] = {}
    items = info.values() if info and all(isinstance(value, dict) and not str(key).startswith("cmdstat_") for key, value in info.items()) else [info]
    for node_info in items:
        for key, value in node_info.items():
            if str(key).startswith("cmdstat_") and isinstance(value, dict):
                command = str(key)[len("cmdstat_"):].lower()
                calls[command] = calls.get(command, 0) + int(value.get("calls", 0))
    return calls


def command_calls(target: Any, *, replicas: bool = False) -> dict[str, int]:
    """Calls per command (lower case; subcommands as `config|set`), read from `INFO commandstats`:
    of a client's server, or summed over a labkit topology's primaries (and its replicas too with
    `replicas=True`; a replica also counts every write it replays from its primary).

    Example::

        before = command_calls(r); r.incr("n"); after = command_calls(r)
        after["incrby"] - before.get("incrby", 0)     # 1: redis-py's incr() sends INCRBY
    """
    nodes = getattr(target, "nodes", None)  # a labkit topology's list of nodes; clients have none
    if isinstance(target, redis.RedisCluster):
        # A cluster client sends INFO to one node unless told otherwise: read every primary.
        nodes_to_read = redis.RedisCluster.ALL_NODES if replicas else redis.RedisCluster.PRIMARIES
        return _command_calls(target.info("commandstats", target_nodes=nodes_to_read))
    if not isinstance(nodes, (list, tuple)):
        return _command_calls(target.info("commandstats"))
    total: dict[str, int] = {}
    for node in nodes:
        if not node.is_running():
            continue
        try:
            with node.client(socket_timeout=1.0) as client:
                if not replicas and client.info("replication").get("role") not in ("master", "primary"):
                    continue
                for command, count in _command_calls(client.info("commandstats")).items():
                    total[command] = total.get(command, 0) + count
        except redis.RedisError:
            continue  # a paused or dying node answers nothing; the others still count
    return total


class Problem:
    """One exercise. Subclass it, fill in the class attributes, and write `verify`.

    The learner's cell may start with `ex.qN.prepare()` (when the problem has a `setup`): it draws
    fresh data for this run (`self.rng`) and notes the server's command counters, so that a check
    can ask *how* the learner got there (`self.commands_since_prepare()`), not only where.
    """

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
    #: For the tests: plausible mistakes (the literal copied from an earlier output, the shortcut that
    #: skips the required command, a near miss), each judged Incorrect with its message.
    wrong_answers: tuple[Wrong, ...] = ()

    def __init__(self) -> None:
        self._hints_shown = 0
        self._topology: Any = None
        self._baseline: dict[str, int] | None = None
        self._at_check: dict[str, int] | None = None
        self._client: Any = None
        self.rng = random.Random()

    # -- hooks for authors ----------------------------------------------------------------
    def setup(self, r: Any) -> None:
        """Data the exercise starts from, drawn with `self.rng` (fresh each run); `self.lab` is the topology."""

    def cleanup(self, r: Any) -> None:
        """Undo what an attempt left behind (default: delete `keys`), so that another attempt starts clean."""
        if self.keys:
            r.delete(*self.keys)  # a RedisCluster client splits keys of different slots itself

    # -- evidence of how ------------------------------------------------------------------
    def commands_since_prepare(self, *, until_now: bool = False) -> dict[str, int]:
        """Calls per command since `prepare()` (INFO commandstats deltas over the lab's primaries, or the client).

        Counted when the check began, so that the check's own reads are not taken for the learner's;
        `until_now=True` counts up to this moment instead (after the check ran the learner's function).
        """
        if self._baseline is None:
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare()')}, then your code")
        now = self._at_check if self._at_check is not None and not until_now else command_calls(self._evidence_target())
        return {command: count - self._baseline.get(command, 0) for command, count in now.items() if count - self._baseline.get(command, 0) > 0}

    def _evidence_target(self) -> Any:
        """Where the counters are read: the topology (every node), else the client the check was given, else the bound one."""
        topology = self._topology if self._topology is not None else _bound_topology
        if topology is not None:
            return topology
        return self._client if self._client is not None else current_client()

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

    def prepare(self, *, client: Any = None, topology: Any = None, seed: int | None = None) -> None:
        """Start (or restart) this exercise: fresh data for this run, and the command counters noted.

        Example::

            ex.q2.prepare()      # the first line of the exercise cell
        """
        if topology is not None:
            self._topology = topology
        self._client = client
        r = client if client is not None else (self._topology.client() if self._topology is not None else current_client())
        self.rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(8), "big"))
        self.cleanup(r)
        self.setup(r)
        self._baseline = command_calls(self._evidence_target())

    def reset(self, *, client: Any = None) -> None:
        """Clear what an attempt left behind (the tests call it between attempts; so may a learner)."""
        r = client if client is not None else (self._topology.client() if self._topology is not None else current_client())
        self.cleanup(r)
        self._baseline = None

    def check(self, answer: Any = MISSING, *, client: Any = None, topology: Any = None) -> Result:
        """Check the live server (and `answer`, if this exercise takes one). Never raises."""
        result = self._judge(answer, client, topology)
        record_outcome(type(self).__module__, self._name(), self.title, result.outcome.value)
        return result

    def _judge(self, answer: Any, client: Any, topology: Any) -> Result:
        if topology is not None:
            self._topology = topology
        self._at_check = None
        if client is not None:
            self._client = client
        try:
            if self._baseline is not None:
                self._at_check = command_calls(self._evidence_target())
            if client is None and self._topology is not None:
                client = self._topology.client()
            r = client if client is not None else current_client()
            if not self.attempted(r, answer):
                if self.takes_answer:
                    hint = "pass your answer: q.check(answer)"
                elif self.keys:
                    hint = f"create {', '.join(map(repr, self.keys))}"
                else:
                    hint = "write your code in the exercise cell, run it, then run this check"
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

    def _name(self) -> str:
        """The name the notebook uses for this problem (`q1`), found in its module."""
        module = sys.modules.get(type(self).__module__)
        for name, value in vars(module).items() if module else ():
            if value is self:
                return name
        return type(self).__name__

    def _call(self, method: str) -> str:
        return f"ex.{self._name()}.{method}"

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

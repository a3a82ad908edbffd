"""Exercises for notebook 12_failover_and_high_availability: NOREPLICAS, predicting a failover, FAILOVER by hand.

Each exercise asks for the engine's own commands (CONFIG SET min-replicas-*, INFO replication and
LLEN for a prediction, FAILOVER and REPLICAOF) on a live replication group with Multi-AZ on; labkit
only sets the scene (partitions, data) and, in exercise 2, kills the primary to verify a prediction::

    from labkit.exercises import high_availability as ex
    ex.use(group)
    ex.q1.prepare()
    ex.q1.check(answer)
"""

from __future__ import annotations

import time
from textwrap import dedent
from typing import Any

import redis

from .core import Incorrect, NotAttempted, Problem, Wrong, expect, use
from .replication import _delta, _info, _live, _node_calls, restore_group

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "12_failover_and_high_availability"


def _push(client: Any, key: str, start: int, count: int) -> None:
    """`count` acknowledged writes: one RPUSH per entry."""
    with client.pipeline(transaction=False) as pipe:
        for number in range(start, start + count):
            pipe.rpush(key, f"{key}-{number}")
        pipe.execute()


# -- 1 --------------------------------------------------------------------------------------------
class RefuseUnreplicatedWrites(Problem):
    title = "Refuse writes unless every replica keeps up: CONFIG SET min-replicas-*, then see NOREPLICAS"
    takes_answer = True
    needs = "replication"
    KEY = "payment:1001"
    hints = (
        "min-replicas-to-write N: the primary refuses writes (NOREPLICAS) unless at least N replicas acknowledged "
        "within the last min-replicas-max-lag seconds.",
        "'Every replica' in a group of two replicas is N = 2; one is cut off now, so a write must be refused. "
        "Set both settings on the primary with CONFIG SET: group.client().config_set(name, value).",
        "The lag bound is ex.q1.max_lag seconds (drawn per run, printed by prepare). Then try the write inside "
        "try/except redis.ResponseError and keep the error: answer = error.",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        primary = group.client()
        primary.config_set("min-replicas-to-write", 2)
        primary.config_set("min-replicas-max-lag", ex.q1.max_lag)
        try:
            answer = primary.set("payment:1001", "paid")
        except redis.ResponseError as error:
            answer = error
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            answer = "NOREPLICAS Not enough good replicas to write."
        """), "no CONFIG SET", why="the error text, without changing the setting"),
        Wrong(dedent("""
            ex.q1.prepare()
            group.set_durability(min_replicas_to_write=2, min_replicas_max_lag=ex.q1.max_lag)
            try:
                answer = group.client().set("payment:1001", "paid")
            except redis.ResponseError as error:
                answer = error
        """), "set_durability", why="labkit's helper instead of the engine's command"),
        Wrong(dedent("""
            ex.q1.prepare()
            primary = group.client()
            primary.config_set("min-replicas-to-write", 1)
            primary.config_set("min-replicas-max-lag", ex.q1.max_lag)
            try:
                answer = primary.set("payment:1001", "paid")
            except redis.ResponseError as error:
                answer = error
        """), "min-replicas-to-write is 1", why="one replica: still met while the other keeps up"),
        Wrong(dedent("""
            ex.q1.prepare()
            primary = group.client()
            primary.config_set("min-replicas-to-write", 2)
            try:
                answer = primary.set("payment:1001", "paid")
            except redis.ResponseError as error:
                answer = error
        """), "min-replicas-max-lag is", why="leaves the lag bound at its old value"),
    )

    def __init__(self) -> None:
        super().__init__()
        self._settings: tuple[int, int] | None = None
        self._since = 0.0
        self.max_lag: int | None = None

    def cleanup(self, r: Any) -> None:
        lab = self.lab
        if self._settings is None:
            self._settings = (lab.min_replicas_to_write, lab.min_replicas_max_lag)
        if (lab.min_replicas_to_write, lab.min_replicas_max_lag) != self._settings:  # group.set_durability() was called
            lab.set_durability(*self._settings)
        restore_group(lab)  # min-replicas-* back on every node first, so the deletes below are accepted
        lab.client().delete(self.KEY, "ex:q1:check")

    def setup(self, r: Any) -> None:
        """Cut one replica (drawn) off the primary; the other keeps up."""
        lab = self.lab
        self.cut = self.rng.choice(lab.replicas()).name
        lab.partition(self.cut)
        self.max_lag = self.rng.choice([lag for lag in range(3, 9) if lag != lab.min_replicas_max_lag])
        self._since = time.time()
        print(f"policy: a replica keeps up if it acknowledged within the last {self.max_lag} s (ex.q1.max_lag)")

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        helper = [event for event in lab.fault_log if event.action == "durability" and event.time >= self._since]
        expect(not helper, "group.set_durability() is labkit's helper: set min-replicas-to-write and min-replicas-max-lag yourself, "
               "with CONFIG SET on the primary")
        calls = self.commands_since_prepare()
        expect(calls.get("config|set", 0) > 0, "the server saw no CONFIG SET since ex.q1.prepare(): the setting is still off, "
               "so a NOREPLICAS you typed proves nothing; change it with CONFIG SET on the primary")
        primary = lab.client()
        found = primary.config_get("min-replicas-*")
        to_write, max_lag = int(found["min-replicas-to-write"]), int(found["min-replicas-max-lag"])
        replicas = len(lab.replicas())
        expect(to_write > 0, "min-replicas-to-write is 0 (off) on the primary: set it there")
        expect(to_write != 1, f"min-replicas-to-write is 1: replica {self.cut!r} is cut off, but the other replica still keeps up, so 1 is met "
               f"and the write goes through; 'every replica' is {replicas}")
        expect(to_write == replicas, f"min-replicas-to-write is {to_write}, but the group has {replicas} replicas: even with all "
               "of them keeping up every write would be refused")
        expect(max_lag == self.max_lag, f"min-replicas-max-lag is {max_lag} s; the policy says a replica keeps up if it "
               f"acknowledged within the last {self.max_lag} s (ex.q1.max_lag)")
        expect(not primary.exists(self.KEY), f"{self.KEY} was written: the primary accepted it")
        expect("NOREPLICAS" in str(answer), f"answer should be the error your write raised (NOREPLICAS ...); got {answer!r}")
        try:
            primary.set("ex:q1:check", "1")
        except redis.ResponseError as error:
            expect("NOREPLICAS" in str(error), f"a write on the primary now fails, but not with NOREPLICAS: {error}")
        else:
            primary.delete("ex:q1:check")
            raise Incorrect("a write on the primary is accepted again: something changed the setting back")
        return (f"the primary refuses writes: replica {self.cut!r} is cut off, so only 1 of {replicas} replicas acknowledged within {self.max_lag} s. "
                "ex.q2.prepare() puts the setting back.")


# -- 2 --------------------------------------------------------------------------------------------
class PredictTheFailover(Problem):
    title = "Predict the promotion and the acknowledged writes lost, then let the check kill the primary"
    takes_answer = True
    needs = "replication"
    KEY = "orders"
    hints = (
        "Both replicas are cut off now, one earlier than the other. Multi-AZ promotes the replica with the highest "
        "replication offset: read slave_repl_offset from each replica's INFO replication.",
        "Every order is one RPUSH to the list 'orders' that the primary acknowledged. LLEN on each node says how many it has.",
        "lost = LLEN on the primary minus LLEN on the replica that will be promoted; prediction = (its name, lost).",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        offsets = {node.name: group.client(node).info("replication")["slave_repl_offset"] for node in group.replicas()}
        promoted = max(offsets, key=offsets.get)
        lost = group.client().llen("orders") - group.client(promoted).llen("orders")
        prediction = (promoted, lost)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            prediction = ("replica-2", 0)
        """), "were lost", why="the outcome printed in the first experiment above"),
        Wrong(dedent("""
            ex.q2.prepare()
            offsets = {node.name: group.client(node).info("replication")["slave_repl_offset"] for node in group.replicas()}
            promoted = min(offsets, key=offsets.get)
            lost = group.client().llen("orders") - group.client(promoted).llen("orders")
            prediction = (promoted, lost)
        """), "highest replication offset", why="the replica that lags most"),
        Wrong(dedent("""
            ex.q2.prepare()
            lengths = {node.name: group.client(node).llen("orders") for node in group.replicas()}
            promoted = max(lengths, key=lengths.get)
            prediction = (promoted, lengths[promoted] - min(lengths.values()))
        """), "were lost", why="counts the gap between the replicas, not what the primary acknowledged"),
    )

    def __init__(self) -> None:
        super().__init__()
        self._primary: str | None = None

    def cleanup(self, r: Any) -> None:
        restore_group(self.lab)
        self.lab.client().delete(self.KEY)
        self._primary = None

    def setup(self, r: Any) -> None:
        """Orders both replicas have, then one replica (drawn) is cut off, more orders, the other cut off, more orders."""
        lab = self.lab
        primary = lab.client()
        first, second = self.rng.sample(lab.replicas(), 2)
        both, one = self.rng.randint(20, 60), self.rng.randint(10, 50)
        none = self.rng.choice([count for count in range(5, 41) if count != one])  # the gap between the replicas differs
        _push(primary, self.KEY, 0, both)
        primary.wait(2, 2000)
        lab.partition(first)
        _push(primary, self.KEY, both, one)
        primary.wait(1, 2000)
        lab.partition(second)
        _push(primary, self.KEY, both + one, none)
        self._acknowledged, self._primary = both + one + none, lab.primary().name

    def verify(self, r: Any, answer: Any) -> str:
        if self._primary is None:
            raise NotAttempted("run the exercise cell from its first line, ex.q2.prepare(), then your prediction")
        expect(isinstance(answer, (tuple, list)) and len(answer) == 2,
               f"pass a pair: prediction = (name of the replica to be promoted, acknowledged orders lost); got {answer!r}")
        name, lost = answer
        name = getattr(name, "name", name)
        expect(isinstance(name, str), f"the first item should be a replica's name (a str such as 'replica-1'); got {name!r}")
        expect(isinstance(lost, int) and not isinstance(lost, bool), f"the second item should be a whole number of orders; got {lost!r}")
        lab = self.lab
        old = lab.node(self._primary)
        if lab.primary() is old:  # the experiment: the primary's host dies, Multi-AZ promotes a replica
            lab.kill(old)
            new = lab.wait_for_failover(timeout=15, since=old)
        else:  # the learner killed it already
            new = lab.primary()
        with new.client(socket_timeout=2.0) as client:
            kept = client.llen(self.KEY)
        actual = self._acknowledged - kept
        self._primary = None  # one experiment per prepare()
        if not old.is_running():
            lab.restart(old)  # back as a replica of the new primary
        problems = []
        if name != new.name:
            problems.append(f"you predicted {name!r}, but {new.name!r} was promoted: Multi-AZ promotes the replica with the "
                            "highest replication offset (the least lag)")
        if lost != actual:
            problems.append(f"you predicted {lost} acknowledged orders lost, but {actual} were lost: the orders the primary "
                            "acknowledged (LLEN on the primary) minus those the promoted replica had")
        expect(not problems, "; and ".join(problems) + f". (The primary was killed to find out; {old.name!r} is back as a replica.)")
        return (f"as you predicted: {new.name!r} was promoted and {actual} orders the primary had acknowledged are gone; "
                f"{old.name!r} is back as a replica")


# -- 3 --------------------------------------------------------------------------------------------
class HandOverWithFailover(Problem):
    title = "Hand the primary role to a chosen replica with FAILOVER, then repoint the other replica"
    needs = "replication"
    KEY = "ledger"
    hints = (
        "FAILOVER TO host port TIMEOUT ms, sent to the primary, pauses its writes, waits until that replica has every write, "
        "then swaps the roles. It returns OK at once; INFO replication's master_failover_state is 'no-failover' when it is done.",
        "The other replica keeps replicating from the old primary (a chain); REPLICAOF host port points it at the new one.",
        "target = group.node(ex.q3.target); group.client().execute_command('FAILOVER', 'TO', '127.0.0.1', target.port, "
        "'TIMEOUT', 5000); wait for no-failover; then REPLICAOF on the other replica.",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        target = group.node(ex.q3.target)
        primary = group.client()
        primary.execute_command("FAILOVER", "TO", "127.0.0.1", target.port, "TIMEOUT", 5000)
        while primary.info("replication")["master_failover_state"] != "no-failover":
            time.sleep(0.05)
        for node in group.replicas():
            if node is not target:
                group.client(node).replicaof("127.0.0.1", target.port)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            group.failover(to=ex.q3.target)
        """), "group.failover()", why="labkit's helper instead of the engine's command"),
        Wrong(dedent("""
            ex.q3.prepare()
            target = group.node(ex.q3.target)
            group.client(target).replicaof("no", "one")
            for node in group.replicas():
                if node is not target:
                    group.client(node).replicaof("127.0.0.1", target.port)
        """), "two primaries", why="REPLICAOF NO ONE promotes without demoting the old primary"),
        Wrong(dedent("""
            ex.q3.prepare()
            other = next(node for node in group.replicas() if node.name != ex.q3.target)
            primary = group.client()
            primary.execute_command("FAILOVER", "TO", "127.0.0.1", other.port, "TIMEOUT", 5000)
            while primary.info("replication")["master_failover_state"] != "no-failover":
                time.sleep(0.05)
            group.client(ex.q3.target).replicaof("127.0.0.1", other.port)
        """), "the task asked for", why="hands over to the other replica"),
        Wrong(dedent("""
            ex.q3.prepare()
            target = group.node(ex.q3.target)
            primary = group.client()
            primary.execute_command("FAILOVER", "TO", "127.0.0.1", target.port, "TIMEOUT", 5000)
            while primary.info("replication")["master_failover_state"] != "no-failover":
                time.sleep(0.05)
        """), "chained", why="leaves the other replica behind the old primary"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.target: str | None = None
        self._old: str | None = None
        self._since = 0.0
        self._before: dict[str, dict[str, int]] = {}

    def cleanup(self, r: Any) -> None:
        restore_group(self.lab)
        self.lab.client().delete(self.KEY)
        self._old = None

    def setup(self, r: Any) -> None:
        """A replica to hand over to (drawn), and a ledger every node has."""
        lab = self.lab
        self.target = self.rng.choice(lab.replicas()).name
        self._old = lab.primary().name
        self._entries = self.rng.randint(30, 120)
        primary = lab.client()
        _push(primary, self.KEY, 0, self._entries)
        primary.wait(len(lab.replicas()), 2000)
        self._since = time.time()
        self._before = _node_calls(lab)  # per node: the old primary becomes a replica, so count every node
        print(f"hand the primary role from {self._old!r} to {self.target!r} (ex.q3.target)")

    def verify(self, r: Any, answer: Any) -> str:
        if self._old is None or self.target is None:
            raise NotAttempted("run the exercise cell from its first line, ex.q3.prepare(), then your code")
        lab = self.lab
        old, target = lab.node(self._old), lab.node(self.target)
        after = _node_calls(lab)
        sent = sum(_delta(after.get(name, {}), before).get("failover", 0) for name, before in self._before.items())
        others = [node for node in lab.nodes if node is not old and node is not target]
        deadline = time.monotonic() + 6.0  # a FAILOVER still in flight finishes (or times out) first
        while _info(old).get("master_failover_state", "no-failover") != "no-failover" and time.monotonic() < deadline:
            time.sleep(0.05)
        roles = {node.name: _info(node) for node in _live(lab.nodes)}
        masters = [name for name, info in roles.items() if info.get("role") == "master"]
        if not sent:
            if masters == [old.name] and all(int(roles[node.name].get("master_port", 0)) == old.port for node in [target, *others]):
                raise NotAttempted("the old primary is still the primary: hand its role to ex.q3.target with FAILOVER")
            expect(len(masters) <= 1, f"two primaries now ({' and '.join(map(repr, masters))}): REPLICAOF NO ONE promoted a replica without "
                   f"demoting {old.name!r}, so both accept writes (split brain); FAILOVER demotes the old primary first")
            labkit_did = [event for event in lab.fault_log if event.action == "failover" and event.time >= self._since]
            expect(not labkit_did, "group.failover() is labkit's stand-in: hand over with the engine's own FAILOVER command, "
                   "sent to the primary")
            raise Incorrect("the server saw no FAILOVER since ex.q3.prepare(): send FAILOVER TO host port to the primary")
        if roles[target.name].get("role") != "master":
            promoted = [name for name in masters if name != old.name]
            expect(not promoted, f"{promoted[0] if promoted else ''!r} is now the primary, but the task asked for {target.name!r}")
            raise Incorrect(f"{old.name!r} is still the primary: the FAILOVER did not complete (a TIMEOUT rolls it back); "
                            "INFO replication's master_failover_state shows where it is")
        expect(roles[old.name].get("role") == "slave" and int(roles[old.name].get("master_port", 0)) == target.port,
               f"{old.name!r} does not follow {target.name!r}")
        deadline = time.monotonic() + 3.0
        for node in others:
            while int(_info(node).get("master_port", 0)) == target.port and _info(node).get("master_link_status") != "up" \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            info = _info(node)
            expect(int(info.get("master_port", 0)) == target.port,
                   f"{node.name!r} still replicates from {old.name!r}, now a replica itself (chained): FAILOVER leaves the other "
                   f"replicas where they were; point it at {target.name!r} with REPLICAOF")
            expect(info.get("master_link_status") == "up", f"{node.name!r} follows {target.name!r}, but its link is not up yet")
        with target.client(socket_timeout=2.0) as client:
            kept = client.llen(self.KEY)
        expect(kept == self._entries, f"{target.name!r} has {kept} of the {self._entries} ledger entries the old primary acknowledged")
        restore_group(lab)  # labkit's record and the endpoints follow the roles you set
        return (f"{target.name!r} is the primary with all {kept} ledger entries; {old.name!r} and the other replica follow it, "
                "and the primary endpoint points at it")


q1 = RefuseUnreplicatedWrites()
q2 = PredictTheFailover()
q3 = HandOverWithFailover()

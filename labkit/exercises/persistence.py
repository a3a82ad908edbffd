"""Exercises for notebook 19_persistence_and_durability: AOF through a crash, a snapshot's loss
predicted, a persistence-less primary made safe, a backup taken from a replica and verified.

Each exercise asks for the engine's own commands (CONFIG SET appendonly / appendfsync, BGSAVE and
INFO persistence); labkit only sets the scene and plays the crash: the node is killed with SIGKILL
and started again with the persistence settings it was running with (what a configuration file
rewritten with CONFIG REWRITE, or an ElastiCache parameter group, would give it)::

    from labkit.exercises import persistence as ex
    ex.use(server)
    ex.q1.prepare()
    ex.q1.check(answer)
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from textwrap import dedent
from typing import Any

import redis

from ..errors import ConfigurationError
from .core import NotAttempted, Problem, Wrong, as_text, command_calls, expect, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "19_persistence_and_durability"

#: Commands that read what came back after a crash (any of them counts as looking).
COUNTING_COMMANDS = ("scan", "dbsize", "keys", "exists", "get", "mget")

#: The settings a crashed node keeps when it starts again (labkit's own defaults turn them off).
KEPT_SETTINGS = ("appendonly", "appendfsync", "save")


def _settings(client: Any) -> dict[str, str]:
    """The node's persistence settings now (CONFIG GET)."""
    return {name: as_text(client.config_get(name).get(name, "")) for name in KEPT_SETTINGS}


def _crash_and_restart(lab: Any, node: Any, timeout: float = 20.0) -> dict[str, Any]:
    """SIGKILL `node`, then start it again with the persistence settings it was running with.

    labkit starts every node with persistence off (`--save "" --appendonly no`); a CONFIG SET lives
    only in the running process, so the restart is given the running values explicitly.
    Returns the settings the node was killed with, whether an AOF rewrite was still under way
    (`rewriting`: then the new AOF was not in the manifest yet), and the bytes of commands logged
    since the last rewrite (`logged_bytes`: the incremental file, 0 with AOF off).
    """
    with node.client(socket_timeout=2.0) as client:
        running = _settings(client)
        info = client.info("persistence")
    rewriting = bool(int(info.get("aof_rewrite_in_progress", 0)) or int(info.get("aof_rewrite_scheduled", 0)))
    logged = int(info.get("aof_current_size", 0)) - int(info.get("aof_base_size", 0)) if int(info.get("aof_enabled", 0)) else 0
    lab.kill(node)
    original = node.config
    kept = tuple((name, value) for name, value in original.settings if name not in running) + tuple(running.items())
    node.config = dataclasses.replace(original, settings=kept)
    try:
        lab.restart(node, timeout=timeout)
    finally:
        node.config = original  # later restarts start from labkit's defaults again
    return {**running, "rewriting": rewriting, "logged_bytes": logged}


def _count(client: Any, pattern: str) -> int:
    return sum(1 for _ in client.scan_iter(pattern, count=1000))


def _delete(client: Any, pattern: str) -> None:
    keys = list(client.scan_iter(pattern, count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start:start + 500])


def _persistence_off(client: Any, node: Any = None) -> None:
    """Back to labkit's defaults; with `node`, also delete the files an attempt left (dump.rdb, the AOF
    directory), so that a later crash cannot bring back an earlier attempt's keys."""
    client.config_set("appendonly", "no")
    client.config_set("appendfsync", "everysec")
    client.config_set("save", "")
    if node is not None:
        while int(client.info("persistence").get("rdb_bgsave_in_progress", 0)):
            time.sleep(0.02)
        (node.datadir / "dump.rdb").unlink(missing_ok=True)
        shutil.rmtree(node.datadir / as_text(client.config_get("appenddirname").get("appenddirname", "appendonlydir")),
                      ignore_errors=True)


def _node_of(problem: Problem) -> Any:
    """The bound standalone's node, or None when no topology is bound (cleanup then leaves files alone)."""
    try:
        return problem.lab.nodes[0]
    except (NotAttempted, AttributeError, IndexError):
        return None


def _wait_for_link(replica: Any, timeout: float = 15.0) -> bool:
    """Until the replica's link is up and no sync is loading; False after `timeout`."""
    deadline = time.monotonic() + timeout
    with replica.client(socket_timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                info = client.info("replication")
                if info.get("master_link_status") == "up" and not int(info.get("master_sync_in_progress", 0)):
                    return True
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                pass
            time.sleep(0.02)
    return False


# -- 1 --------------------------------------------------------------------------------------------
class AofThroughACrash(Problem):
    title = "Turn on AOF with CONFIG SET, then prove the orders survive kill -9"
    takes_answer = True
    POLICIES = ("always", "no")
    hints = (
        "CONFIG SET appendonly yes turns AOF on in the running server; CONFIG SET appendfsync <policy> chooses when the "
        "server calls fsync (use the policy in ex.q1.policy).",
        "Turning AOF on starts a rewrite that writes the first base file; until INFO persistence shows "
        "aof_rewrite_in_progress:0 and aof_rewrite_scheduled:0, the new AOF is not in the manifest and a crash would lose it.",
        "Then write the orders (order:1 ... order:<ex.q1.orders>) with SET, run ex.q1.crash(), and count the order:* keys "
        "that came back, walking them with SCAN (r.scan_iter).",
        "answer = sum(1 for _ in r.scan_iter('order:*', count=500))",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        r.config_set("appendonly", "yes")
        r.config_set("appendfsync", ex.q1.policy)
        while r.info("persistence")["aof_rewrite_in_progress"] or r.info("persistence")["aof_rewrite_scheduled"]:
            time.sleep(0.05)
        for n in range(1, ex.q1.orders + 1):
            r.set(f"order:{n}", n)
        ex.q1.crash()
        answer = sum(1 for _ in r.scan_iter("order:*", count=500))
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            for n in range(1, ex.q1.orders + 1):
                r.set(f"order:{n}", n)
            ex.q1.crash()
            answer = ex.q1.orders
        """), "AOF was off", why="skips CONFIG SET appendonly: the count written, not the count that came back"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.config_set("appendonly", "yes")
            while r.info("persistence")["aof_rewrite_in_progress"] or r.info("persistence")["aof_rewrite_scheduled"]:
                time.sleep(0.05)
            for n in range(1, ex.q1.orders + 1):
                r.set(f"order:{n}", n)
            ex.q1.crash()
            answer = sum(1 for _ in r.scan_iter("order:*", count=500))
        """), "appendfsync was everysec", why="a near miss: AOF on, but the fsync policy left at its default"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.config_set("appendonly", "yes")
            r.config_set("appendfsync", ex.q1.policy)
            while r.info("persistence")["aof_rewrite_in_progress"] or r.info("persistence")["aof_rewrite_scheduled"]:
                time.sleep(0.05)
            for n in range(1, ex.q1.orders + 1):
                r.set(f"order:{n}", n)
            answer = r.dbsize()
        """), "ex.q1.crash()", why="no crash: counted before anything was proven"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.config_set("appendonly", "yes")
            r.config_set("appendfsync", ex.q1.policy)
            while r.info("persistence")["aof_rewrite_in_progress"] or r.info("persistence")["aof_rewrite_scheduled"]:
                time.sleep(0.05)
            for n in range(1, ex.q1.orders + 1):
                r.set(f"order:{n}", n)
            ex.q1.crash()
            answer = 300
        """), "no read of the orders", why="the literal printed in the notebook above"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.config_set("appendonly", "yes")
            r.config_set("appendfsync", ex.q1.policy)
            while r.info("persistence")["aof_rewrite_in_progress"] or r.info("persistence")["aof_rewrite_scheduled"]:
                time.sleep(0.05)
            for n in range(1, ex.q1.orders + 1):
                r.set(f"order:{n}", n)
            before = sum(1 for _ in r.scan_iter("order:*", count=500))
            ex.q1.crash()
            answer = before
        """), "no read of the orders", why="counted before the crash, not what came back"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.config_set("appendonly", "yes")
            r.config_set("appendfsync", ex.q1.policy)
            while r.info("persistence")["aof_rewrite_in_progress"] or r.info("persistence")["aof_rewrite_scheduled"]:
                time.sleep(0.05)
            for n in range(1, ex.q1.orders + 1):
                r.set(f"order:{n}", n)
            ex.q1.crash()
            answer = ex.q1.orders
        """), "no read of the orders", why="the count written passed as the count that came back, nothing read"),
        Wrong(dedent("""
            ex.q1.prepare()
            for n in range(1, ex.q1.orders + 1):
                r.set(f"order:{n}", n)
            r.config_set("appendonly", "yes")
            r.config_set("appendfsync", ex.q1.policy)
            while r.info("persistence")["aof_rewrite_in_progress"] or r.info("persistence")["aof_rewrite_scheduled"]:
                time.sleep(0.05)
            ex.q1.crash()
            answer = sum(1 for _ in r.scan_iter("order:*", count=500))
        """), "not in the log", why="the final state reached another way: AOF on after the writes, so its first rewrite snapshots them"),
    )

    def setup(self, r: Any) -> None:
        self.policy = self.rng.choice(self.POLICIES)
        self.orders = self.rng.randint(120, 280)
        self.crashed_with: dict[str, Any] | None = None
        self.evidence: dict[str, int] = {}
        self.after_crash: dict[str, int] = {}
        print(f"Use appendfsync {self.policy}, and write {self.orders} orders: order:1 ... order:{self.orders}.")

    def crash(self) -> None:
        """Kill the server with SIGKILL, and start it again with the persistence settings it was running with."""
        if self._baseline is None:
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare()')}")
        self.evidence = self.commands_since_prepare(until_now=True)
        self.crashed_with = _crash_and_restart(self.lab, self.lab.nodes[0])
        self.after_crash = command_calls(self._evidence_target())  # the restarted server counts from zero
        print(f"killed (SIGKILL) with appendonly {self.crashed_with['appendonly']}, appendfsync {self.crashed_with['appendfsync']}; "
              "started again with the same settings")

    def cleanup(self, r: Any) -> None:
        _persistence_off(r, _node_of(self))
        _delete(r, "order:*")
        self.crashed_with = None

    def verify(self, r: Any, answer: Any) -> str:
        crashed = self.crashed_with
        expect(crashed is not None, "the server was never killed: run ex.q1.crash() after writing the orders, "
                                    "then count what came back")
        present = _count(r, "order:*")
        expect(crashed["appendonly"] == "yes",
               f"AOF was off when the server was killed, so it came back with {present} of the {self.orders} orders: "
               "turn it on with CONFIG SET appendonly yes before writing")
        expect(self.evidence.get("config|set", 0) >= 1, "the server saw no CONFIG SET before the crash: turn AOF on with CONFIG SET appendonly yes")
        expect(not crashed["rewriting"],
               f"the server was killed while AOF was still being switched on (its first rewrite was running, so the new AOF was "
               f"not in the manifest yet); it came back with {present} of the {self.orders} orders. After CONFIG SET appendonly yes, "
               "wait until INFO persistence shows aof_rewrite_in_progress:0 and aof_rewrite_scheduled:0")
        expect(crashed["appendfsync"] == self.policy,
               f"appendfsync was {crashed['appendfsync']} when the server was killed; the task asks for {self.policy} "
               "(CONFIG SET appendfsync ...)")
        expect(int(r.info("persistence").get("aof_enabled", 0)) == 1, "the restarted server has AOF off: was it turned off again?")
        # A SET of an order is more than 30 bytes in the log; orders written before AOF was on are only in its base file.
        expect(crashed["logged_bytes"] >= 10 * self.orders,
               f"the orders were not in the log: only {crashed['logged_bytes']} bytes of commands were logged since AOF's first "
               "rewrite, so they came back from the snapshot that rewrite took. Turn AOF on (and wait for its first rewrite) "
               f"before writing the orders, so that each write is logged under appendfsync {self.policy}")
        expect(present == self.orders, f"{present} of the {self.orders} orders came back: write all of them (order:1 ... "
                                       f"order:{self.orders}) with SET before ex.q1.crash()")
        at_check = self._at_check or {}
        reads = sum(at_check.get(command, 0) - self.after_crash.get(command, 0) for command in COUNTING_COMMANDS)
        expect(reads > 0, "the server saw no read of the orders after the restart: count the order:* keys that came back "
                          "(SCAN) after ex.q1.crash(), rather than the number you wrote")
        try:
            count = int(answer)
        except (TypeError, ValueError):
            count = None
        expect(count == present, f"{answer!r} is not the number of order:* keys the server holds after the restart: "
                                 "count them with SCAN after ex.q1.crash()")
        return (f"all {present} acknowledged orders survived kill -9 with appendfsync {self.policy}: the server replayed its AOF "
                "(after a process crash the OS still had every write; fsync matters when the machine itself goes down)")


# -- 2 --------------------------------------------------------------------------------------------
class PredictSnapshotLoss(Problem):
    title = "BGSAVE, then predict how many writes a restart loses, and see it verified"
    takes_answer = True
    hints = (
        "BGSAVE starts a snapshot in a forked child and returns at once; INFO persistence shows "
        "rdb_bgsave_in_progress:1 until it is written.",
        "Wait until rdb_bgsave_in_progress is 0, then run ex.q2.more_traffic() (writes made after the snapshot).",
        "INFO persistence's rdb_changes_since_last_save counts the writes since the last snapshot: those are what a "
        "restart from the snapshot loses. answer = r.info('persistence')['rdb_changes_since_last_save']",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        r.bgsave()
        while r.info("persistence")["rdb_bgsave_in_progress"]:
            time.sleep(0.05)
        ex.q2.more_traffic()
        answer = r.info("persistence")["rdb_changes_since_last_save"]
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            r.bgsave()
            while r.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.05)
            ex.q2.more_traffic()
            answer = 300
        """), "not what the server counts", why="the literal printed in the notebook above"),
        Wrong(dedent("""
            ex.q2.prepare()
            ex.q2.more_traffic()
            answer = r.info("persistence")["rdb_changes_since_last_save"]
        """), "no BGSAVE", why="skips the snapshot"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.save()
            ex.q2.more_traffic()
            answer = r.info("persistence")["rdb_changes_since_last_save"]
        """), "SAVE blocks", why="the blocking SAVE instead of BGSAVE"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.bgsave()
            while r.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.05)
            answer = r.info("persistence")["rdb_changes_since_last_save"]
            ex.q2.more_traffic()
        """), "after ex.q2.more_traffic()", why="a near miss: read before the later writes"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.bgsave()
            while r.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.05)
            ex.q2.more_traffic()
            answer = r.dbsize()
        """), "not what the server counts", why="the keys in memory, not the writes since the snapshot"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.bgsave()
            while r.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.05)
            ex.q2.more_traffic()
            r.bgsave()
            while r.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.05)
            answer = r.info("persistence")["rdb_changes_since_last_save"]
        """), "another snapshot", why="the final state reached another way: a second snapshot leaves nothing to lose"),
    )

    def setup(self, r: Any) -> None:
        r.config_set("rdb-key-save-delay", 0)
        self.carts = self.rng.randint(200, 500)
        self._late = self.rng.randint(40, 160)  # drawn, not printed: underscored
        self.traffic_after_snapshot: bool | None = None
        self.saves_at_traffic: int | None = None
        self.verified: tuple[int, str] | None = None
        with r.pipeline(transaction=False) as pipe:
            for number in range(1, self.carts + 1):
                pipe.set(f"cart:{number}", f"{self.rng.randint(1, 9)} items")
            pipe.execute()
        self.saves_at_prepare = int(r.info("persistence").get("rdb_saves", 0))

    def more_traffic(self) -> None:
        """Writes made after your snapshot (how many is drawn per run, and not printed)."""
        if self._baseline is None:
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare()')}")
        r = self.lab.client()
        info = r.info("persistence")
        self.traffic_after_snapshot = (int(info.get("rdb_saves", 0)) > self.saves_at_prepare
                                       and not int(info.get("rdb_bgsave_in_progress", 0)))
        self.saves_at_traffic = int(info.get("rdb_saves", 0))
        with r.pipeline(transaction=False) as pipe:
            for number in range(1, self._late + 1):
                pipe.set(f"cart:late:{number}", "1 item")
            pipe.execute()

    def cleanup(self, r: Any) -> None:
        _persistence_off(r, _node_of(self))
        _delete(r, "cart:*")
        self.traffic_after_snapshot = None
        self.verified = None

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        if self.verified is not None and str(answer) == str(self.verified[0]):
            return self.verified[1]  # checked again after the verifying restart
        expect(not calls.get("save"), "you used SAVE: SAVE blocks the server until the whole snapshot is on disk (every client "
                                      "waits); take it in the background with BGSAVE")
        expect(calls.get("bgsave", 0) >= 1, "the server saw no BGSAVE since prepare(): take a snapshot with BGSAVE first")
        expect(self.traffic_after_snapshot is not None, "run ex.q2.more_traffic() once the snapshot is written, then predict")
        expect(self.traffic_after_snapshot, "ex.q2.more_traffic() ran before the snapshot was written: wait until "
                                            "rdb_bgsave_in_progress is 0, then run it")
        info = r.info("persistence")
        saves_since = int(info.get("rdb_saves", 0)) - (self.saves_at_traffic or 0) + int(info.get("rdb_bgsave_in_progress", 0))
        expect(saves_since == 0, "the server took another snapshot after ex.q2.more_traffic() (a second BGSAVE, or a save "
                                 "scheduled with CONFIG SET save), so nothing is left to lose: the question is what a restart "
                                 "from the snapshot taken before the traffic would lose. Run the cell again without it")
        changes = int(r.info("persistence")["rdb_changes_since_last_save"])
        try:
            prediction = int(answer)
        except (TypeError, ValueError):
            prediction = None
        expect(prediction == changes, f"{answer!r} is not what the server counts as changes since the last snapshot: read "
                                      "rdb_changes_since_last_save from INFO persistence after ex.q2.more_traffic()")
        # Verify the prediction: kill -9 and restart (persistence off, so the node loads its dump.rdb).
        lab = self.lab
        node = lab.nodes[0]
        lab.kill(node)
        lab.restart(node)
        after = lab.client()
        lost = self._late - _count(after, "cart:late:*")
        kept = _count(after, "cart:*") - (self._late - lost)
        expect(kept == self.carts, f"the restart brought back {kept} of the {self.carts} carts written before the snapshot")
        expect(lost == prediction, f"the restart lost {lost} writes, not the {prediction} predicted")
        message = f"you predicted {prediction} lost writes, and the restart from the snapshot lost exactly {lost}: everything since BGSAVE"
        self.verified = (prediction, message)
        return message


# -- 3 --------------------------------------------------------------------------------------------
class SafePrimary(Problem):
    title = "Make a persistence-less primary safe, so that its replica keeps the data through a crash"
    takes_answer = True
    needs = "replication"
    hints = (
        "The primary restarts empty because nothing is on its disk; the replica then copies that empty dataset. "
        "The fix belongs on the primary: group.client(group.primary()) talks to it.",
        "CONFIG SET appendonly yes on the primary; wait until INFO persistence shows aof_rewrite_in_progress:0 and "
        "aof_rewrite_scheduled:0 (the first base file is written); then ex.q3.crash_primary().",
        "answer = group.client(group.replicas()[0]).dbsize()",
    )
    solution_code = dedent("""
        ex.q3.prepare(group)
        primary = group.client(group.primary())
        primary.config_set("appendonly", "yes")
        while primary.info("persistence")["aof_rewrite_in_progress"] or primary.info("persistence")["aof_rewrite_scheduled"]:
            time.sleep(0.05)
        ex.q3.crash_primary()
        answer = group.client(group.replicas()[0]).dbsize()
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare(group)
            ex.q3.crash_primary()
            answer = group.client(group.replicas()[0]).dbsize()
        """), "the replica was wiped", why="changes nothing: the hazard itself"),
        Wrong(dedent("""
            ex.q3.prepare(group)
            replica = group.client(group.replicas()[0])
            replica.config_set("appendonly", "yes")
            while replica.info("persistence")["aof_rewrite_in_progress"] or replica.info("persistence")["aof_rewrite_scheduled"]:
                time.sleep(0.05)
            ex.q3.crash_primary()
            answer = group.client(group.replicas()[0]).dbsize()
        """), "on the replica", why="a near miss: AOF on the replica, which resynchronises anyway"),
        Wrong(dedent("""
            ex.q3.prepare(group)
            primary = group.client(group.primary())
            primary.bgsave()
            while primary.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.05)
            ex.q3.crash_primary()
            answer = group.client(group.replicas()[0]).dbsize()
        """), "after your snapshot", why="a one-off snapshot: the writes after it are lost"),
        Wrong(dedent("""
            ex.q3.prepare(group)
            primary = group.client(group.primary())
            primary.config_set("appendonly", "yes")
            while primary.info("persistence")["aof_rewrite_in_progress"] or primary.info("persistence")["aof_rewrite_scheduled"]:
                time.sleep(0.05)
            ex.q3.crash_primary()
            answer = 500
        """), "pass the number of keys the replica holds", why="the literal printed in the notebook above"),
        Wrong(dedent("""
            ex.q3.prepare(group)
            primary = group.client(group.primary())
            primary.config_set("appendonly", "yes")
            while primary.info("persistence")["aof_rewrite_in_progress"] or primary.info("persistence")["aof_rewrite_scheduled"]:
                time.sleep(0.05)
            ex.q3.crash_primary()
            answer = primary.dbsize()
        """), "the replica saw no read", why="a near miss: counted on the primary, not on the replica the task asks about"),
    )

    def prepare(self, group: Any = None, **options: Any) -> None:
        """Write this run's ledger to `group` (automatic failover off), then note the command counters.

        Example::

            ex.q3.prepare(group)     # the first line of the exercise cell
        """
        from ..topology import ReplicationGroup

        if not isinstance(group, ReplicationGroup):
            raise TypeError("pass the replication group of this section: ex.q3.prepare(group)")
        if group.automatic_failover or not group.replicas():
            raise ConfigurationError("this exercise needs a replication group with a replica and automatic failover off: "
                                     "labkit.ReplicationGroup(replicas=1, automatic_failover=False)")
        super().prepare(topology=group, **options)

    def _nodes(self) -> tuple[Any, Any]:
        group = self.lab
        return group.primary(), group.replicas()[0]

    def setup(self, r: Any) -> None:
        self._entries = self.rng.randint(600, 900)  # not printed: the learner counts them on the replica
        self._late = self.rng.randint(20, 80)
        self.crash_report: dict[str, Any] | None = None
        with r.pipeline(transaction=False) as pipe:
            for number in range(1, self._entries + 1):
                pipe.set(f"ledger:{number}", self.rng.randint(1, 10_000))
            pipe.execute()
        r.execute_command("WAIT", 1, 5000)

    def crash_primary(self) -> None:
        """A few more writes, then the primary is killed (SIGKILL) and started again with the persistence
        settings it was running with; returns when its replica has resynchronised."""
        if self._baseline is None:
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare(group)')}")
        group = self.lab
        primary, replica = self._nodes()
        with primary.client(socket_timeout=5.0) as client:
            with client.pipeline(transaction=False) as pipe:
                for number in range(1, self._late + 1):
                    pipe.set(f"ledger:late:{number}", number)
                pipe.execute()
            client.execute_command("WAIT", 1, 5000)  # the replica has every write before the crash
        with replica.client(socket_timeout=2.0) as client:
            replica_settings = _settings(client)
        primary_settings = _crash_and_restart(group, primary)
        synced = _wait_for_link(replica)
        with replica.client(socket_timeout=2.0) as client:
            replica_calls = command_calls(client)  # the learner then counts the keys there
        self.crash_report = {"primary": primary_settings, "replica": replica_settings, "synced": synced,
                             "replica_calls": replica_calls}
        print(f"the primary was killed (SIGKILL) and came back with appendonly {primary_settings['appendonly']}; "
              f"its replica {'resynchronised' if synced else 'has not resynchronised yet'}")

    def cleanup(self, r: Any) -> None:
        self.crash_report = None
        if self._topology is None:
            return
        for node in self.lab.nodes:
            if node.is_running():
                with node.client(socket_timeout=2.0) as client:
                    _persistence_off(client, node)
        _delete(r, "ledger:*")
        r.execute_command("WAIT", 1, 5000)

    def verify(self, r: Any, answer: Any) -> str:
        report = self.crash_report
        expect(report is not None, "the primary was never crashed: run ex.q3.crash_primary() after your change, then count "
                                   "the keys on the replica")
        expect(report["synced"], "the replica did not finish resynchronising after the crash; run the cell again")
        _, replica = self._nodes()
        with replica.client(socket_timeout=2.0) as client:
            calls = command_calls(client)  # before this check's own SCAN
            held = _count(client, "ledger:*")
            after_own_scan = command_calls(client)
        before = report["replica_calls"]
        # Sticky, and counted from after this check's own SCAN next time: checking twice must not count the check's reads.
        report["replica_read"] = report.get("replica_read", False) or any(
            calls.get(command, 0) > before.get(command, 0) for command in COUNTING_COMMANDS)
        report["replica_calls"] = after_own_scan
        expected = self._entries + self._late
        if held == 0:
            expect(not (report["replica"]["appendonly"] == "yes" and report["primary"]["appendonly"] != "yes"),
                   "you turned AOF on on the replica, and the replica was wiped anyway: a replica copies whatever its primary "
                   "holds, and the primary came back empty. Persistence must be on the primary")
            expect(not report["primary"]["rewriting"], "the primary was killed while its first AOF rewrite was still running, so its AOF "
                                            "was not complete: wait until aof_rewrite_in_progress and aof_rewrite_scheduled are 0")
            expect(False, "the replica was wiped: the primary restarted with persistence off, empty, and the replica "
                          "resynchronised to that empty dataset. Turn on AOF on the primary (CONFIG SET appendonly yes)")
        expect(held == expected,
               f"the replica holds {held} of {expected} keys: the writes made after your snapshot were lost with the primary "
               "(a BGSAVE keeps only what existed when it ran; AOF logs every write)")
        expect(report["primary"]["appendonly"] == "yes", "the primary had AOF off when it crashed: turn it on with CONFIG SET appendonly yes")
        try:
            count = int(answer)
        except (TypeError, ValueError):
            count = None
        expect(count == held, f"{answer!r}: pass the number of keys the replica holds after the crash (DBSIZE on the replica)")
        expect(report["replica_read"], "the replica saw no read after the crash: the question is what the replica holds, so "
                                       "count its keys there (DBSIZE on group.client(group.replicas()[0])), not on the primary")
        return (f"the replica kept all {held} keys: the primary replayed its AOF on restart, so the replica resynchronised "
                "to a full dataset instead of an empty one")


# -- 4 --------------------------------------------------------------------------------------------
class BackupFromAReplica(Problem):
    title = "Back up from the replica with BGSAVE, restore it, and verify the copy key by key"
    takes_answer = True
    needs = "replication"
    #: Microseconds per key the replica's saves are slowed down by, so that a save lasts like a big one.
    SAVE_DELAY_US = 2000
    hints = (
        "ElastiCache takes backups from a replica, so that the fork and its copy-on-write memory spare the primary: "
        "run BGSAVE on restored.client(restored.replicas()[0]), not on restored.client().",
        "BGSAVE returns at once; wait until the replica's INFO persistence shows rdb_bgsave_in_progress:0 (the backup is "
        "written), then ex.q4.reprice(), then copy = ex.q4.restore().",
        "Compare every price:* key of the group with the copy: live = restored.client(); "
        "answer = sum(1 for key in live.scan_iter('price:*', count=500) if live.get(key) != copy.get(key))",
    )
    solution_code = dedent("""
        ex.q4.prepare(restored)
        replica = restored.client(restored.replicas()[0])
        replica.bgsave()
        while replica.info("persistence")["rdb_bgsave_in_progress"]:
            time.sleep(0.05)
        ex.q4.reprice()
        copy = ex.q4.restore()
        live = restored.client()
        answer = sum(1 for key in live.scan_iter("price:*", count=500) if live.get(key) != copy.get(key))
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q4.prepare(restored)
            primary = restored.client()
            primary.bgsave()
            while primary.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.05)
            ex.q4.reprice()
            copy = ex.q4.restore()
            live = restored.client()
            answer = sum(1 for key in live.scan_iter("price:*", count=500) if live.get(key) != copy.get(key))
        """), "on the primary", why="the backup taken on the primary"),
        Wrong(dedent("""
            ex.q4.prepare(restored)
            replica = restored.client(restored.replicas()[0])
            replica.bgsave()
            ex.q4.reprice()
            copy = ex.q4.restore()
            live = restored.client()
            answer = sum(1 for key in live.scan_iter("price:*", count=500) if live.get(key) != copy.get(key))
        """), "still being written", why="skips the wait for the save to finish"),
        Wrong(dedent("""
            ex.q4.prepare(restored)
            replica = restored.client(restored.replicas()[0])
            replica.bgsave()
            while replica.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.05)
            ex.q4.reprice()
            copy = ex.q4.restore()
            answer = replica.info("persistence")["rdb_changes_since_last_save"]
        """), "no read on the copy", why="a counter instead of verifying the copy"),
        Wrong(dedent("""
            ex.q4.prepare(restored)
            replica = restored.client(restored.replicas()[0])
            replica.bgsave()
            while replica.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.05)
            copy = ex.q4.restore()
            live = restored.client()
            answer = sum(1 for key in live.scan_iter("price:*", count=500) if live.get(key) != copy.get(key))
            ex.q4.reprice()
        """), "ex.q4.reprice()", why="a near miss: compared before the later price changes"),
        Wrong(dedent("""
            ex.q4.prepare(restored)
            replica = restored.client(restored.replicas()[0])
            replica.bgsave()
            while replica.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.05)
            ex.q4.reprice()
            copy = ex.q4.restore()
            answer = 0
        """), "no read on the copy", why="the literal printed in the notebook above"),
    )

    def prepare(self, group: Any = None, **options: Any) -> None:
        """Write this run's price list to `group` (a replication group with a replica), then note the counters.

        Example::

            ex.q4.prepare(restored)     # the first line of the exercise cell
        """
        from ..topology import ReplicationGroup

        if not isinstance(group, ReplicationGroup):
            raise TypeError("pass the replication group restored in this section: ex.q4.prepare(restored)")
        if not group.replicas():
            raise ConfigurationError("this exercise needs a replication group with a replica: labkit.ReplicationGroup(replicas=1)")
        super().prepare(topology=group, **options)

    def _replica(self) -> Any:
        return self.lab.replicas()[0]

    def _node_calls(self) -> dict[str, dict[str, int]]:
        """INFO commandstats of the primary and of the replica, apart (a backup's place is the point)."""
        calls = {}
        for role, node in (("primary", self.lab.primary()), ("replica", self._replica())):
            with node.client(socket_timeout=2.0) as client:
                calls[role] = command_calls(client)
        return calls

    def setup(self, r: Any) -> None:
        self.prices = self.rng.randint(200, 400)
        self._changed = self.rng.randint(5, 40)  # drawn, not printed: underscored
        self.repriced: dict[str, Any] | None = None
        self.copy_lab: Any = None
        self.copy_reads_before = 0
        with r.pipeline(transaction=False) as pipe:
            for sku in range(1, self.prices + 1):
                pipe.set(f"price:{sku}", f"{self.rng.randint(100, 9999) / 100:.2f}")
            pipe.execute()
        r.execute_command("WAIT", len(self.lab.replicas()), 5000)
        with self._replica().client(socket_timeout=2.0) as replica:
            # Like a replica holding gigabytes: the save takes a while, so that waiting for it matters.
            replica.config_set("rdb-key-save-delay", self.SAVE_DELAY_US)
        self.calls_at_prepare = self._node_calls()

    def reprice(self) -> None:
        """Price changes made on the primary after your backup (how many is drawn per run, and not printed)."""
        if self._baseline is None:
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare(restored)')}")
        calls = self._node_calls()
        with self._replica().client(socket_timeout=2.0) as replica:
            saving = bool(int(replica.info("persistence").get("rdb_bgsave_in_progress", 0)))
        self.repriced = {
            role: {command: count - self.calls_at_prepare[role].get(command, 0) for command, count in calls[role].items()}
            for role in calls
        }
        self.repriced["saving"] = saving
        r = self.lab.client()
        skus = self.rng.sample(range(1, self.prices + 1), self._changed)
        with r.pipeline(transaction=False) as pipe:
            for sku in skus:
                pipe.set(f"price:{sku}", f"{self.rng.randint(10_000, 99_999) / 100:.2f}")  # always a new price
            pipe.execute()
        r.execute_command("WAIT", len(self.lab.replicas()), 5000)

    def restore(self) -> Any:
        """Start a new server from the replica's RDB file (as a restore starts a new cluster); returns a client of it."""
        from ..topology import Standalone

        if self._baseline is None:
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare(restored)')}")
        replica = self._replica()
        with replica.client(socket_timeout=2.0) as client:
            written = Path(as_text(client.config_get("dir")["dir"])) / as_text(client.config_get("dbfilename")["dbfilename"])
        self._stop_copy()
        copy = Standalone().start()
        self.copy_lab = copy
        node = copy.nodes[0]
        with copy.restarting(node):
            if written.exists():
                shutil.copyfile(written, node.datadir / "dump.rdb")
        client = copy.client()
        self.copy_reads_before = _reads(client)
        print(f"a new server started from {replica.name}'s RDB file: {client.dbsize()} keys loaded"
              if written.exists() else f"{replica.name} has no RDB file, so the new server starts empty")
        return client

    def _stop_copy(self) -> None:
        if self.copy_lab is not None:
            self.copy_lab.stop()
            self.copy_lab = None

    def cleanup(self, r: Any) -> None:
        self.repriced = None
        if getattr(self, "copy_lab", None) is not None:
            self._stop_copy()
        if self._topology is None:
            return
        for node in self.lab.nodes:
            if node.is_running():
                with node.client(socket_timeout=2.0) as client:
                    client.config_set("rdb-key-save-delay", 0)
                    _persistence_off(client, node)  # waits for a save under way, then deletes dump.rdb
        _delete(r, "price:*")
        r.execute_command("WAIT", len(self.lab.replicas()), 5000)

    def verify(self, r: Any, answer: Any) -> str:
        repriced = self.repriced
        expect(repriced is not None, "run ex.q4.reprice() once your backup is written, then ex.q4.restore()")
        on_replica, on_primary = repriced["replica"], repriced["primary"]
        expect(not on_replica.get("save") and not on_primary.get("save"),
               "you used SAVE: it blocks the server until the whole file is written; take the backup with BGSAVE")
        expect(on_replica.get("bgsave", 0) >= 1 or not on_primary.get("bgsave"),
               "you took the backup on the primary: ElastiCache takes backups from a replica, so that the fork and its "
               "copy-on-write memory spare the primary; run BGSAVE on restored.client(restored.replicas()[0])")
        expect(on_replica.get("bgsave", 0) >= 1, "the replica saw no BGSAVE since prepare(): take the backup there with BGSAVE")
        expect(not repriced["saving"], "ex.q4.reprice() ran while the backup was still being written: wait until the replica's "
                                       "INFO persistence shows rdb_bgsave_in_progress:0 before using the backup")
        expect(self.copy_lab is not None, "restore the backup with copy = ex.q4.restore() after ex.q4.reprice(), then compare")
        copy = self.copy_lab.client()
        expect(_reads(copy) - self.copy_reads_before >= self.prices,
               f"there was no read on the copy of the {self.prices} price:* keys: verify the backup key by key, reading "
               "each key on the copy (GET) and comparing it with the group")
        live_keys = sorted(as_text(key) for key in r.scan_iter("price:*", count=500))
        differ = sum(1 for key, old in zip(live_keys, copy.mget(live_keys)) if r.get(key) != old)
        try:
            count = int(answer)
        except (TypeError, ValueError):
            count = None
        expect(count == differ, f"{answer!r} is not the number of prices that differ between the group and the restored copy: "
                                "compare every price:* key after ex.q4.reprice()")
        return (f"{differ} of {len(live_keys)} prices changed after the backup, so the copy, restored from the replica's "
                "snapshot, has their old values: a backup is a point in time, and restoring it loses what came after")


def _reads(client: Any) -> int:
    """Keys looked up on a server so far (INFO stats: hits + misses; an MGET counts each key)."""
    stats = client.info("stats")
    return int(stats.get("keyspace_hits", 0)) + int(stats.get("keyspace_misses", 0))


q1 = AofThroughACrash()
q2 = PredictSnapshotLoss()
q3 = SafePrimary()
q4 = BackupFromAReplica()

"""Exercises for notebook 15_cluster_failover_and_az_failure: a manual failover with the engine's own
command, a prediction of what an AZ outage costs (then the outage itself), and a placement repaired
with CLUSTER FAILOVER.

Each exercise starts from the cluster's original layout (labkit fails back and restarts what an
earlier attempt left down), then draws its own situation, so that no answer can be read off an
earlier output::

    from labkit.exercises import az_failure as ex
    ex.use(cluster)
    ex.q1.prepare()        # names the replica to promote: ex.q1.replica
    ex.q1.check()
"""

from __future__ import annotations

import time
from textwrap import dedent
from typing import Any

import redis

from ..faults import wait_until
from ..node import NodeStatus, Role
from ..topology.cluster import parse_cluster_nodes
from .core import NotAttempted, Problem, Wrong, expect, use

__all__ = ["NOTEBOOK", "calls_per_node", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "15_cluster_failover_and_az_failure"

_LABKIT_FAILOVER = ("labkit's cluster.failover() did the failover (it sends CLUSTER FAILOVER for you, as the cells above do); "
                    "this exercise is about the engine's own command: cluster.client(node).execute_command('CLUSTER', 'FAILOVER')")


def calls_per_node(lab: Any, command: str) -> dict[str, int]:
    """How many times each running node has run `command` (INFO commandstats; `cluster|failover`, `acl|setuser`, ...)."""
    counts: dict[str, int] = {}
    for node in lab.nodes:
        if node.status is not NodeStatus.UP or not node.is_running():
            continue
        try:
            with node.client(socket_timeout=1.0) as client:
                stats = client.info("commandstats").get(f"cmdstat_{command}", {})
        except redis.RedisError:
            continue
        counts[node.name] = int(stats.get("calls", 0)) if isinstance(stats, dict) else 0
    return counts


def _role(node: Any) -> list:
    """ROLE from the node itself: ['master', offset, replicas] or ['slave', host, port, state, offset]."""
    with node.client(socket_timeout=1.0) as client:
        return client.execute_command("ROLE")


#: Promotions the exercises made themselves with CLUSTER FAILOVER TAKEOVER (no vote was asked for).
_OWN_PROMOTIONS: set[Any] = set()


def _move_primary(lab: Any, shard: int, to: Any) -> None:
    """Make `to` the primary of `shard` without an election (TAKEOVER), so no primary records a vote.

    Redis OSS refuses to vote about the same primary twice within 2 x cluster-node-timeout, so the
    exercises' own moves must not spend the votes the learner's CLUSTER FAILOVER will need."""
    before = len(lab.fault_log)
    lab.failover(shard, mode="takeover", to=to)
    _OWN_PROMOTIONS.update(event for event in lab.fault_log[before:] if event.action == "promoted")
    _settle(lab)


def _after_recent_votes(lab: Any) -> None:
    """Wait until 2 x cluster-node-timeout has passed since the last elected promotion (see _move_primary)."""
    elected = [event.time for event in lab.fault_log if event.action == "promoted" and event not in _OWN_PROMOTIONS]
    if elected:
        delay = max(elected) + 2 * lab.node_timeout_ms / 1000 + 0.3 - time.time()
        if delay > 0:
            time.sleep(delay)


def _converged(lab: Any) -> bool:
    """Every live node sees the same roles in CLUSTER NODES (who is primary, whom each replica follows)."""
    views = []
    for node in lab.nodes:
        if node.status is not NodeStatus.UP or not node.is_running():
            continue
        with node.client(socket_timeout=1.0) as client:
            view = parse_cluster_nodes(client.execute_command("CLUSTER", "NODES"))
        views.append({port: (entry["master"], entry["master_id"]) for port, entry in view.items() if not entry["failed"]})
    return bool(views) and all(view == views[0] for view in views)


def _settle(lab: Any) -> None:
    """Wait until the nodes agree on the roles. Right after a failover, Redis OSS 7.0 ignores a manual
    failover requested by a replica its new primary does not know yet."""
    wait_until(lambda: _converged(lab), 5.0, 0.02)
    lab.sync_roles()


def _restore_layout(lab: Any) -> None:
    """Every node up, each replica back in its own shard, and each shard led by the node that was
    placed as its primary (shard-N-primary)."""
    for node in lab.nodes:
        if node.status is not NodeStatus.PAUSED and not node.is_running():
            lab.restart(node)
    _settle(lab)
    for node in lab.nodes:  # the engine's replica migration may have moved a replica to an orphaned primary
        home = int(node.name.split("-")[1])
        if node.shard != home and node.role is Role.REPLICA:
            with node.client() as client:
                client.execute_command("CLUSTER", "REPLICATE", lab.node_id(lab.primary(home)))
            wait_until(lambda: lab.sync_roles() and node.shard == home, 5.0, 0.02)
    for shard in lab.shards:
        original = lab.node(f"shard-{shard}-primary")
        if original.shard == shard and lab.primary(shard) is not original:
            _move_primary(lab, shard, original)
    _settle(lab)
    wait_until(lambda: not lab.sync_roles().placement_problems(), 5.0, 0.02)


class _ClusterProblem(Problem):
    """Shared state: the time the exercise was prepared and CLUSTER FAILOVER counts per node then."""

    needs = "cluster"

    def cleanup(self, r: Any) -> None:
        self._since: float | None = None
        self._failover_calls: dict[str, int] | None = None
        _restore_layout(self.lab)

    def _note_start(self) -> None:
        _settle(self.lab)
        _after_recent_votes(self.lab)
        self._failover_calls = calls_per_node(self.lab, "cluster|failover")
        self._since = time.time()

    def _events(self, *actions: str) -> list[Any]:
        since = getattr(self, "_since", None)
        return [event for event in self.lab.fault_log if since is not None and event.time >= since and event.action in actions]

    def _failovers_sent(self) -> dict[str, int]:
        """CLUSTER FAILOVER calls per node since prepare() (nodes that ran none are left out)."""
        if getattr(self, "_failover_calls", None) is None:
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare()')}, then your code")
        now = calls_per_node(self.lab, "cluster|failover")
        return {name: count - self._failover_calls.get(name, 0) for name, count in now.items() if count > self._failover_calls.get(name, 0)}

    def _expect_engine_command(self) -> None:
        """No labkit failover helper, no kill: the learner's own CLUSTER FAILOVER."""
        expect(not self._events("failover"), _LABKIT_FAILOVER)
        killed = self._events("kill", "fail_az", "stop")
        expect(not killed, f"you killed nodes ({', '.join(event.target for event in killed)}): that makes the engine fail over "
                           "automatically after the node timeout; a manual failover is CLUSTER FAILOVER sent to a replica")


class ManualFailover(_ClusterProblem):
    title = "Promote a chosen replica with CLUSTER FAILOVER"
    hints = (
        "The replica to promote is cluster.node(ex.q1.replica); cluster.client(that node) talks to it alone.",
        "Send it CLUSTER FAILOVER with execute_command('CLUSTER', 'FAILOVER'). It answers OK at once and takes over a moment later.",
        "Then read ROLE on the promoted node and on its old primary: 'master' on one, 'slave' on the other. "
        "(Trying again at once? Redis OSS grants its votes about a primary at most once per 2 x cluster-node-timeout.)",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        replica = cluster.node(ex.q1.replica)
        old_primary = cluster.primary(replica.shard)
        print(cluster.client(replica).execute_command("CLUSTER", "FAILOVER"))
        for _ in range(300):                              # OK came back at once; the switch follows
            if cluster.client(replica).execute_command("ROLE")[0] == "master":
                break
            time.sleep(0.01)
        print(replica.name, cluster.client(replica).execute_command("ROLE")[0])
        print(old_primary.name, cluster.client(old_primary).execute_command("ROLE")[:3])
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            cluster.failover(cluster.node(ex.q1.replica).shard, to=ex.q1.replica)
        """), "labkit's cluster.failover()", why="the labkit helper instead of the engine's command"),
        Wrong(dedent("""
            ex.q1.prepare()
            try:
                cluster.client(cluster.primary(cluster.node(ex.q1.replica).shard)).execute_command("CLUSTER", "FAILOVER")
            except redis.ResponseError as error:
                print("refused:", type(error).__name__)
        """), "went to the primary", why="CLUSTER FAILOVER sent to the primary"),
        Wrong(dedent("""
            ex.q1.prepare()
            shard = cluster.node(ex.q1.replica).shard
            other = next(node for node in cluster.replicas(shard) if node.name != ex.q1.replica)
            cluster.client(other).execute_command("CLUSTER", "FAILOVER")
            time.sleep(0.5)
        """), "but this exercise asked for", why="the other replica of the same shard"),
    )

    def setup(self, r: Any) -> None:
        lab = self.lab
        self.shard = self.rng.choice(lab.shards)
        target = self.rng.choice(lab.replicas(self.shard))
        self.replica = target.name
        self.old_primary = lab.primary(self.shard).name
        self._note_start()
        print(f"Promote {target.name}, a replica of shard {self.shard} in {target.az} (its name is in ex.q1.replica).")

    def attempted(self, r: Any, answer: Any) -> bool:
        if getattr(self, "_failover_calls", None) is None:
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare()')}, then send CLUSTER FAILOVER to ex.q1.replica")
        if self._failovers_sent() or self._events("failover", "kill", "fail_az", "stop"):
            return True
        raise NotAttempted(f"no CLUSTER FAILOVER since {self._call('prepare()')}: send it to the replica named in ex.q1.replica")

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        self._expect_engine_command()
        target, old = lab.node(self.replica), lab.node(self.old_primary)
        sent = self._failovers_sent()
        wait_until(lambda: _role(target)[0] == "master", 3.0, 0.02)
        if _role(target)[0] != "master":
            to_primary = [name for name in sent if lab.node(name).shard == self.shard and name == old.name]
            expect(not to_primary, f"your CLUSTER FAILOVER went to the primary, {old.name}, which refuses it (only a replica "
                                   f"can take over): send it to {target.name}")
            wait_until(lambda: lab.sync_roles().primary(self.shard) is not old, 3.0, 0.02)
            now = lab.primary(self.shard)
            expect(now is old, f"the primary of shard {self.shard} is now {now.name} (in {now.az}), but this exercise asked for "
                               f"{target.name}: send CLUSTER FAILOVER to the replica named in ex.q1.replica")
            expect(False, f"{target.name} is still a replica ({', '.join(sent) or 'no node'} ran CLUSTER FAILOVER). If it was sent to "
                          f"{target.name}, the primaries may have refused their votes: Redis OSS votes about the same primary at most "
                          "once per 2 x cluster-node-timeout; wait 2 s and send it again")
        expect(sent.get(target.name, 0) >= 1, f"{target.name} is primary, but no CLUSTER FAILOVER reached it: send the command to it yourself")
        expect(wait_until(lambda: _role(old)[0] == "slave" and int(_role(old)[2]) == target.port, 3.0, 0.02),
               f"{old.name} (the old primary) does not replicate from {target.name} yet: ROLE on it says {_role(old)[:3]}")
        lab.sync_roles()
        others = [node.name for node in lab.replicas(self.shard) if node is not old]
        return (f"{target.name} ({target.az}) leads shard {self.shard}; {old.name} replicates from it"
                + (f", and so does {', '.join(others)}" if others else "") + ". A graceful CLUSTER FAILOVER loses no acknowledged write.")


def _wrong_predictions(lab: Any, az: str) -> list[set[int]]:
    """Predictions the exercise's wrong answers make: the printed {0}, the original layout, every shard with a node there."""
    original = {index for index, name in enumerate(lab.azs) if name == az and index in lab.shards}
    any_node = {node.shard for node in lab.nodes if node.az == az and node.shard is not None}
    return [{0}, original, any_node]


class PredictAzOutage(_ClusterProblem):
    title = "Predict which shards lose writes when an AZ fails, then fail it"
    takes_answer = True
    hints = (
        "A shard loses writes when its primary is in the failed AZ; a replica there costs it nothing.",
        "The layout drifted: prepare() moved primaries. Read it now: print(cluster.state()), or cluster.primary(shard).az for each shard.",
        "prediction = {shard for shard in cluster.shards if cluster.primary(shard).az == ex.q2.az}",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        print(cluster.state())        # the live layout: the role and the AZ of every node
        prediction = {shard for shard in cluster.shards if cluster.primary(shard).az == ex.q2.az}
        print(f"I predict that failing {ex.q2.az} stops writes on shards {sorted(prediction)}")
    """)
    wrong_answers = (
        Wrong("ex.q2.prepare()\nprediction = set(report.shards_that_lost_writes)", "read the live layout",
              why="the outcome printed for az-a in the section above"),
        Wrong("ex.q2.prepare()\nprediction = {cluster.azs.index(ex.q2.az)}", "read the live layout",
              why="assumes the original placement (shard i's primary in the i-th AZ)"),
        Wrong("ex.q2.prepare()\nprediction = {node.shard for node in cluster.nodes if node.az == ex.q2.az}", "a replica there",
              why="counts replicas too"),
        Wrong("ex.q2.prepare()\nfailed = cluster.fail_az(ex.q2.az)\nprediction = set(failed.shards_that_lost_writes)",
              "failed it before predicting", why="fails the AZ first and copies the result"),
    )

    def cleanup(self, r: Any) -> None:
        super().cleanup(r)
        self.az = None

    def setup(self, r: Any) -> None:
        """Move one or two primaries (graceful failovers), then draw an AZ whose outage no wrong answer predicts."""
        lab = self.lab
        for _ in range(20):
            for _ in range(self.rng.choice((1, 2))):
                shard = self.rng.choice(lab.shards)
                _move_primary(lab, shard, self.rng.choice(lab.replicas(shard)))
            candidates = [az for az in lab.azs if self._truth(az) not in _wrong_predictions(lab, az)]
            if candidates:
                break
        with_primaries = [az for az in candidates if self._truth(az)]
        if with_primaries and self.rng.random() < 0.8:  # mostly an outage that costs writes; now and then one that costs none
            candidates = with_primaries
        self.az = self.rng.choice(candidates)
        self._note_start()
        print(f"{self.az} will fail (ex.q2.az). Some primaries have moved: predict from the live layout.")

    def _truth(self, az: str) -> set[int]:
        lab = self.lab.sync_roles()
        return {shard for shard in lab.shards if lab.primary(shard).az == az}

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        if getattr(self, "az", None) is None:
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare()')}: it draws the AZ that will fail")
        expect(isinstance(answer, (set, frozenset, list, tuple)) and all(isinstance(shard, int) and not isinstance(shard, bool) for shard in answer),
               f"pass a set of shard numbers, e.g. {{0, 2}} (got {answer!r})")
        prediction = set(answer)
        down = [node.name for node in lab.nodes if node.az == self.az and not node.is_running()]
        expect(not down, f"{', '.join(down)} in {self.az} are down already: you failed it before predicting. "
                         "Predict from the layout; the check fails the AZ for you")
        expect(not self._events("fail_az", "kill"), "nodes were killed after prepare(): predict from the layout without touching the cluster")
        truth = self._truth(self.az)
        if prediction != truth:
            reasons = []
            for shard in sorted(prediction - truth):
                there = [node.name for node in lab.nodes if node.shard == shard and node.az == self.az]
                reasons.append(f"shard {shard} has only a replica there ({', '.join(there)}): a replica there costs no writes"
                               if there else f"shard {shard} has no node in {self.az}")
            for shard in sorted(truth - prediction):
                primary = lab.primary(shard)
                reasons.append(f"shard {shard}'s primary, {primary.name}, is in {self.az} now")
            expect(False, f"you predicted {sorted(prediction)}; {'; '.join(reasons)}. prepare() moved primaries: read the live layout "
                          "(cluster.state()), not the original placement")
        report = lab.fail_az(self.az)
        try:
            measured = set(report.shards_that_lost_writes)
            expect(measured == prediction, f"fail_az({self.az!r}) stopped writes on shards {sorted(measured)}, not {sorted(prediction)}")
        finally:
            lab.restore_az(self.az)
        restored = f"{self.az} is restored, its nodes back as replicas."
        if not prediction:
            return f"as predicted: {self.az} held no primary, so failing it stopped no shard's writes (only replicas were lost). {restored}"
        outages = ", ".join(f"shard {shard} for {seconds:.1f} s" for shard, seconds in report.write_outage_s.items() if seconds is not None)
        return (f"as predicted: failing {self.az} stopped writes on shards {sorted(prediction)} ({outages}); "
                f"the other shards never stopped. {restored}")


class RepairPlacement(_ClusterProblem):
    title = "Repair the placement with CLUSTER FAILOVER"
    hints = (
        "print(cluster.placement_problems()) and print(cluster.state()): one AZ has two primaries, another has none.",
        "Promote a replica that sits in the AZ without a primary and belongs to a shard whose primary shares its AZ.",
        "cluster.client(that_replica).execute_command('CLUSTER', 'FAILOVER'), then look at cluster.placement_problems() again.",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        primary_azs = [cluster.primary(shard).az for shard in cluster.shards]
        empty_az = next(az for az in cluster.azs if az not in primary_azs)
        crowded = [shard for shard in cluster.shards if primary_azs.count(cluster.primary(shard).az) > 1]
        replica = next(node for shard in crowded for node in cluster.replicas(shard) if node.az == empty_az)
        print("promote", replica.name, "in", replica.az, ":", cluster.client(replica).execute_command("CLUSTER", "FAILOVER"))
        for _ in range(300):
            if cluster.client(replica).execute_command("ROLE")[0] == "master":
                break
            time.sleep(0.01)
        time.sleep(0.3)                                   # labkit's record follows the engine every 0.1 s
        print(cluster.placement_problems())
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            for shard in cluster.shards:
                original = cluster.node(f"shard-{shard}-primary")
                if cluster.primary(shard) is not original:
                    cluster.failover(shard, to=original)
        """), "labkit's cluster.failover()", why="copies the fail-back cell above (labkit's helper)"),
        Wrong(dedent("""
            ex.q3.prepare()
            primary_azs = [cluster.primary(shard).az for shard in cluster.shards]
            empty_az = next(az for az in cluster.azs if az not in primary_azs)
            shard = next(shard for shard in cluster.shards if primary_azs.count(cluster.primary(shard).az) > 1)
            replica = next(node for node in cluster.replicas(shard) if node.az != empty_az)
            cluster.client(replica).execute_command("CLUSTER", "FAILOVER")
            time.sleep(0.5)
        """), "primaries are not spread", why="promotes a replica in an AZ that already has a primary"),
        Wrong(dedent("""
            ex.q3.prepare()
            primary_azs = [cluster.primary(shard).az for shard in cluster.shards]
            shard = next(shard for shard in cluster.shards if primary_azs.count(cluster.primary(shard).az) > 1)
            try:
                cluster.client(cluster.primary(shard)).execute_command("CLUSTER", "FAILOVER")
            except redis.ResponseError as error:
                print("refused:", type(error).__name__)
        """), "to a primary", why="sends CLUSTER FAILOVER to a primary"),
    )

    def setup(self, r: Any) -> None:
        """Fail one shard over to one of its replicas: two primaries share an AZ, another AZ has none."""
        lab = self.lab
        shard = self.rng.choice(lab.shards)
        _move_primary(lab, shard, self.rng.choice(lab.replicas(shard)))
        lab.sync_roles()
        self._primaries = {node.name for node in lab.nodes if node.role is Role.PRIMARY}
        self._note_start()
        print("placement_problems():", lab.placement_problems())

    def attempted(self, r: Any, answer: Any) -> bool:
        if getattr(self, "_failover_calls", None) is None:
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare()')}, then repair the placement")
        if self._failovers_sent() or self._events("failover", "kill", "fail_az", "stop"):
            return True
        raise NotAttempted(f"no CLUSTER FAILOVER since {self._call('prepare()')}: the placement still breaks the rules")

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        self._expect_engine_command()
        sent = self._failovers_sent()
        to_replicas = [name for name in sent if name not in self._primaries]
        expect(to_replicas, f"you sent CLUSTER FAILOVER to a primary ({', '.join(sent)}), which refuses it: "
                            "send it to the replica that should take over")
        wait_until(lambda: not lab.sync_roles().placement_problems(), 3.0, 0.05)
        down = [node.name for node in lab.nodes if node.status is not NodeStatus.UP]
        expect(not down, f"{', '.join(down)} is down; every node should still be up")
        problems = lab.placement_problems()
        expect(not problems, "placement_problems() still finds: " + "; ".join(problems)
               + ". Promote a replica in the AZ that has no primary")
        return "one primary per AZ again: " + ", ".join(f"shard {shard} in {lab.primary(shard).az}" for shard in lab.shards)


q1 = ManualFailover()
q2 = PredictAzOutage()
q3 = RepairPlacement()

"""Exercises for notebook 22_global_datastore: cross-Region lag from INFO replication, a write refused in
the secondary Region (READONLY), and a promotion by hand (REPLICAOF NO ONE) with the writes it lost.

Each exercise asks for the engine's own commands on the secondary and primary Regions' nodes; labkit
only sets the scene (cuts the link, writes drawn data) and reads the evidence (INFO commandstats and
errorstats per node)::

    from labkit.exercises import global_datastore as ex
    ex.use(gds)
    ex.q1.prepare()
    ex.q1.check(answer)
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

import redis

from .._polling import wait_until
from ..global_datastore import GlobalDatastore
from ..node import Node
from ..errors import ConfigurationError
from . import core
from .core import Incorrect, NotAttempted, Problem, Wrong, command_calls, current_client, expect

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "22_global_datastore"


def use(datastore: GlobalDatastore) -> None:
    """Make the checks read from your Global Datastore: `ex.use(gds)`."""
    if not isinstance(datastore, GlobalDatastore):
        raise ConfigurationError(f"these exercises check a labkit.GlobalDatastore: pass yours, ex.use(gds) (got {datastore!r}).")
    core.use(datastore)


def _datastore() -> GlobalDatastore:
    target = current_client()
    if not isinstance(target, GlobalDatastore):
        raise NotAttempted("these exercises check your Global Datastore: run ex.use(gds) first")
    return target


def _info(node: Node, section: str = "replication") -> dict:
    with node.client(socket_timeout=2.0) as client:
        return client.info(section)


def _readonly_errors(nodes: list[Node]) -> int:
    """READONLY replies the nodes gave so far, from INFO errorstats."""
    total = 0
    for node in nodes:
        stats = _info(node, "errorstats").get("errorstat_READONLY", {})
        total += int(stats.get("count", 0)) if isinstance(stats, dict) else 0
    return total


def _calls(nodes: list[Node]) -> dict[str, dict[str, int]]:
    found = {}
    for node in nodes:
        with node.client(socket_timeout=2.0) as client:
            found[node.name] = command_calls(client)
    return found


def _cut_and_wait(gds: GlobalDatastore, region: str) -> None:
    """Cut the region's link and wait until its primary sees the link down."""
    gds.cut_link(region)
    primary = gds.region(region).primary()
    wait_until(lambda: _info(primary).get("master_link_status") != "up", 5.0)


# -- 1 --------------------------------------------------------------------------------------------
class CrossRegionLag(Problem):
    title = "How far behind is the secondary Region? Bytes of replication stream, from INFO replication"
    takes_answer = True
    hints = (
        "A primary counts the replication stream it has produced in master_repl_offset (INFO replication). "
        "A replica counts what it has received in slave_repl_offset.",
        "The secondary Region's primary is a replica of the primary Region's primary (through the link): "
        "read master_repl_offset with gds.primary_region.client() and slave_repl_offset with gds.secondary_regions[0].client().",
        "answer = primary offset - secondary offset (a whole number of bytes).",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        primary_offset = gds.primary_region.client().info("replication")["master_repl_offset"]
        secondary_offset = gds.secondary_regions[0].client().info("replication")["slave_repl_offset"]
        answer = primary_offset - secondary_offset
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            answer = 0
        """), "bytes behind", why="the lag printed while the link was up"),
        Wrong(dedent("""
            ex.q1.prepare()
            primary_offset = gds.primary_region.client().info("replication")["master_repl_offset"]
            secondary_offset = gds.secondary_regions[0].client().info("replication")["slave_repl_offset"]
            answer = secondary_offset - primary_offset
        """), "negative", why="subtracts the other way round"),
        Wrong(dedent("""
            ex.q1.prepare()
            answer = gds.primary_region.client().dbsize() - gds.secondary_regions[0].client().dbsize()
        """), "counts keys", why="keys missing, not bytes of stream"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.region: str | None = None
        self._writes = 0

    def cleanup(self, r: Any) -> None:
        gds = _datastore()
        gds.repair()
        gds.primary_region.client().delete(*[f"ex:q1:item:{number}" for number in range(100)])
        gds.wait_for_sync()

    def setup(self, r: Any) -> None:
        """Cut the first secondary Region's link, then a drawn number of writes of drawn sizes."""
        gds = _datastore()
        self.region = gds.secondary_names[0]
        _cut_and_wait(gds, self.region)
        self._writes = self.rng.randint(20, 80)
        with gds.primary_region.client().pipeline(transaction=False) as pipe:
            for number in range(self._writes):
                pipe.set(f"ex:q1:item:{number}", "x" * self.rng.randint(10, 200))
            pipe.execute()
        print(f"the link to {self.region} is cut, and {self._writes} writes went to {gds.primary_name} since")

    def verify(self, r: Any, answer: Any) -> str:
        if self.region is None:
            raise NotAttempted("run the exercise cell from its first line, ex.q1.prepare(), then your code")
        expect(isinstance(answer, int) and not isinstance(answer, bool), f"answer should be a whole number of bytes; got {answer!r}")
        gds = _datastore()
        primary_offset = int(_info(gds.primary_region.primary())["master_repl_offset"])
        secondary_offset = int(_info(gds.region(self.region).primary())["slave_repl_offset"])
        actual = primary_offset - secondary_offset
        expect(answer >= 0, f"{answer} is negative: the secondary Region is behind, so subtract its offset from the primary's")
        expect(not (answer == self._writes and answer != actual),
               f"{answer} counts keys (or writes): the lag is measured in bytes of replication stream, from the offsets")
        expect(answer == actual, f"{answer} bytes, but {self.region} is {actual} bytes behind: master_repl_offset of the primary "
               "Region's primary minus slave_repl_offset of the secondary Region's primary")
        return (f"{self.region} is {actual} bytes behind {gds.primary_name}: what it would have to receive to catch up. "
                "The next exercise's prepare() restores the link.")


# -- 2 --------------------------------------------------------------------------------------------
class RefusedInTheSecondary(Problem):
    title = "A write in the secondary Region is refused (READONLY): send it to the primary Region, read it back locally"
    takes_answer = True
    KEY = "banner:eu"
    hints = (
        "Send the SET to the secondary Region's primary (gds.secondary_regions[0].client()) inside try/except "
        "redis.ReadOnlyError and keep the error: answer = error.",
        "Writes go to the primary Region (gds.primary_region.client()); they cross the link to the secondary Region.",
        "After the write, poll the secondary Region with GET until the value arrives (a few link delays).",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        local = gds.secondary_regions[0].client()
        try:
            local.set("banner:eu", ex.q2.value)
        except redis.ReadOnlyError as error:
            answer = error
        gds.primary_region.client().set("banner:eu", ex.q2.value)
        while local.get("banner:eu") != ex.q2.value:
            time.sleep(0.01)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            answer = "READONLY You can't write against a read only replica."
            gds.primary_region.client().set("banner:eu", ex.q2.value)
        """), "no write was refused", why="the error text, without trying the write"),
        Wrong(dedent("""
            ex.q2.prepare()
            local = gds.secondary_regions[0].client()
            local.replicaof("no", "one")
            local.set("banner:eu", ex.q2.value)
            answer = "written locally"
        """), "accepts writes", why="makes the secondary Region writable to get the write in"),
        Wrong(dedent("""
            ex.q2.prepare()
            try:
                gds.secondary_regions[0].client().set("banner:eu", ex.q2.value)
            except redis.ReadOnlyError as error:
                answer = error
        """), "not in", why="stops at the error: the write never reaches the primary Region"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.value: str | None = None
        self.region: str | None = None
        self._errors_before = 0

    def cleanup(self, r: Any) -> None:
        gds = _datastore()
        gds.repair()
        gds.primary_region.client().delete(self.KEY)
        gds.wait_for_sync()

    def setup(self, r: Any) -> None:
        """A banner text drawn for this run; READONLY replies counted from now on."""
        gds = _datastore()
        self.region = gds.secondary_names[0]
        self.value = f"welcome-{self.rng.randrange(16**6):06x}"
        self._errors_before = _readonly_errors(gds.region(self.region).nodes)
        print(f"the banner text for this run: {self.value!r} (ex.q2.value)")

    def verify(self, r: Any, answer: Any) -> str:
        if self.value is None or self.region is None:
            raise NotAttempted("run the exercise cell from its first line, ex.q2.prepare(), then your code")
        gds = _datastore()
        group = gds.region(self.region)
        writable = [node.name for node in group.nodes if _info(node).get("role") == "master"]
        expect(not writable, f"the secondary Region accepts writes now ({', '.join(writable)} ran REPLICAOF NO ONE?): a secondary "
               "Region must stay read-only, or it no longer follows the primary Region. Send the write to the primary Region.")
        refused = _readonly_errors(group.nodes) - self._errors_before
        expect(refused > 0, f"no write was refused in {self.region} since ex.q2.prepare(): try the SET there first and keep the error")
        expect(isinstance(answer, redis.ReadOnlyError) or "read only" in str(answer).lower(),
               f"answer should be the error the secondary Region's write raised (a ReadOnlyError); got {answer!r}")
        with group.primary().client(socket_timeout=2.0) as client:
            found = client.get(self.KEY)
        expect(found == self.value, f"{self.KEY} is not in {self.region} ({found!r}): write it in the primary Region and wait "
               "until it crosses the link")
        return (f"{self.region} refused the write ({refused} READONLY) and got it from {gds.primary_name} across the link: "
                "writes go to the primary Region, reads can stay local")


# -- 3 --------------------------------------------------------------------------------------------
class PromoteByHand(Problem):
    title = "The primary Region is lost: promote the secondary Region with REPLICAOF NO ONE and count the orders lost"
    takes_answer = True
    KEY = "orders"
    hints = (
        "REPLICAOF NO ONE, sent to the secondary Region's primary (gds.region(ex.q3.region).client()), stops its "
        "replication and makes it accept writes; its replica keeps following it.",
        "Every order is one RPUSH to the list 'orders' that the old primary Region acknowledged: ex.q3.acknowledged of them. "
        "LLEN on the promoted primary says how many crossed the link before it went down.",
        "answer = ex.q3.acknowledged - LLEN of 'orders' on the promoted primary.",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        promoted = gds.region(ex.q3.region).client()
        promoted.replicaof("no", "one")
        answer = ex.q3.acknowledged - promoted.llen("orders")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            gds.promote(ex.q3.region)
            answer = ex.q3.acknowledged - gds.region(ex.q3.region).client().llen("orders")
        """), "labkit's helper", why="labkit's promote() instead of the engine's command"),
        Wrong(dedent("""
            ex.q3.prepare()
            answer = 0
        """), "still refuses writes", why="neither promotes nor counts: the number hoped for"),
        Wrong(dedent("""
            ex.q3.prepare()
            region = gds.region(ex.q3.region)
            region.client(region.replicas()[0]).replicaof("no", "one")
            answer = ex.q3.acknowledged - region.client(region.replicas()[0]).llen("orders")
        """), "Region's primary", why="promotes the Region's replica, leaving its primary following the lost Region"),
        Wrong(dedent("""
            ex.q3.prepare()
            promoted = gds.region(ex.q3.region).client()
            promoted.replicaof("no", "one")
            answer = promoted.llen("orders")
        """), "kept", why="counts the orders that survived, not those lost"),
        Wrong(dedent("""
            ex.q3.prepare()
            answer = ex.q3.acknowledged - gds.region(ex.q3.region).client().llen("orders")
        """), "still refuses writes", why="counts right but skips the promotion the task asks for"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.region: str | None = None
        self.acknowledged = 0
        self._old: str | None = None
        self._promotions = 0
        self._before: dict[str, dict[str, int]] = {}

    def cleanup(self, r: Any) -> None:
        gds = _datastore()
        gds.repair()
        gds.primary_region.client().delete(self.KEY)
        gds.wait_for_sync()
        self._old = None

    def setup(self, r: Any) -> None:
        """Orders that crossed the link, then the link goes down and more orders are acknowledged."""
        gds = _datastore()
        self.region, self._old = gds.secondary_names[0], gds.primary_name
        primary = gds.primary_region.client()
        crossed, stranded = self.rng.randint(30, 90), self.rng.randint(5, 40)
        primary.rpush(self.KEY, *[f"order-{number}" for number in range(crossed)])
        gds.wait_for_sync()
        _cut_and_wait(gds, self.region)
        for number in range(crossed, crossed + stranded):
            primary.rpush(self.KEY, f"order-{number}")  # one acknowledged write each
        self.acknowledged = crossed + stranded
        self._promotions = len(gds.promotions)
        self._before = _calls(gds.region(self.region).nodes)
        print(f"{self._old} acknowledged {self.acknowledged} orders (ex.q3.acknowledged), then the link went down and "
              f"{self._old} was lost: promote {self.region} (ex.q3.region)")

    def verify(self, r: Any, answer: Any) -> str:
        if self._old is None or self.region is None:
            raise NotAttempted("run the exercise cell from its first line, ex.q3.prepare(), then your code")
        gds = _datastore()
        expect(len(gds.promotions) == self._promotions, "gds.promote() is labkit's helper: promote the Region yourself with "
               "REPLICAOF NO ONE on its primary")
        group = gds.region(self.region)
        primary = group.primary()
        after = _calls(group.nodes)
        sent = sum(after.get(name, {}).get("replicaof", 0) + after.get(name, {}).get("slaveof", 0)
                   - before.get("replicaof", 0) - before.get("slaveof", 0) for name, before in self._before.items())
        if _info(primary).get("role") != "master":
            promoted = [node.name for node in group.replicas() if _info(node).get("role") == "master"]
            expect(not promoted, f"{promoted[0] if promoted else ''} accepts writes, but {primary.name}, the Region's primary, still "
                   "follows the lost Region: send REPLICAOF NO ONE to the Region's primary (gds.region(ex.q3.region).client())")
            raise Incorrect(f"{self.region} still refuses writes: promote it with REPLICAOF NO ONE on its primary"
                            + ("" if sent else " (the server saw no REPLICAOF since ex.q3.prepare())"))
        expect(isinstance(answer, int) and not isinstance(answer, bool), f"answer should be a whole number of orders; got {answer!r}")
        with primary.client(socket_timeout=2.0) as client:
            kept = client.llen(self.KEY)
        lost = self.acknowledged - kept
        expect(not (answer == kept and kept != lost), f"{answer} is the number of orders kept by {self.region}; the question is how "
               f"many of the {self.acknowledged} acknowledged orders were lost")
        expect(answer == lost, f"you said {answer} acknowledged orders were lost, but {lost} were: ex.q3.acknowledged minus LLEN "
               "on the promoted primary")
        old = self._old
        self._old = None  # one promotion per prepare()
        gds.promote(self.region)  # labkit's record follows what you did; the old primary Region then rejoins
        gds.rejoin(old)
        return (f"{self.region} accepts writes; {lost} of {self.acknowledged} acknowledged orders never crossed the link (the RPO). "
                f"{old} has rejoined as a secondary Region, without them.")


q1 = CrossRegionLag()
q2 = RefusedInTheSecondary()
q3 = PromoteByHand()

"""Exercises for notebook 11_replication_and_read_scaling: offsets, reads from replicas, WAIT, REPLICAOF.

Each exercise asks for the engine's own commands (INFO replication, HGETALL/GET on the right node,
WAIT, REPLICAOF) on a live replication group; labkit only sets the scene (a partition, data)::

    from labkit.exercises import replication as ex
    ex.use(group)            # the ReplicationGroup you started
    ex.q1.prepare()          # first line of the exercise cell
    ex.q1.check(answer)
"""

from __future__ import annotations

import time
from textwrap import dedent
from typing import Any

import redis

from ..errors import TopologyStateError
from ..node import Node, NodeStatus
from .core import Incorrect, NotAttempted, Problem, Wrong, command_calls, expect, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "q4", "use", "restore_group"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "11_replication_and_read_scaling"

HOST = "127.0.0.1"


# -- putting a group back in order (shared with high_availability) -------------------------------
def _info(node: Node, section: str = "replication") -> dict:
    with node.client(socket_timeout=2.0) as client:
        return client.info(section)


def _live(nodes: list[Node]) -> list[Node]:
    return [node for node in nodes if node.status is NodeStatus.UP and node.is_running()]


def restore_group(group: Any, timeout: float = 10.0) -> None:
    """Undo what an exercise attempt may have left, with the group's public methods and plain commands:
    paused nodes resumed, dead ones restarted, a half-done FAILOVER aborted, min-replicas-* back to the
    group's settings, exactly one primary that every replica follows directly, partitions healed, the
    endpoints on the primary, and every replica linked and streaming."""
    for node in group.nodes:
        if node.status is NodeStatus.PAUSED:
            group.resume(node)
    for node in group.nodes:
        if node.status is not NodeStatus.UP or not node.is_running():
            group.restart(node)
    for node in _live(group.nodes):
        with node.client(socket_timeout=2.0) as client:
            if client.info("replication").get("master_failover_state", "no-failover") != "no-failover":
                try:
                    client.execute_command("FAILOVER", "ABORT")
                except redis.ResponseError:
                    pass  # it finished meanwhile
            client.config_set("min-replicas-to-write", group.min_replicas_to_write)
            client.config_set("min-replicas-max-lag", group.min_replicas_max_lag)
    # One primary: labkit's choice if the servers agree, else the one the servers say.
    recorded = group.primary()
    masters = [node for node in _live(group.nodes) if _info(node).get("role") == "master"]
    keep = recorded if recorded in masters or not masters else masters[0]
    with keep.client(socket_timeout=2.0) as client:
        if client.info("replication").get("role") != "master":
            client.replicaof("no", "one")
    for node in masters:
        if node is not keep:  # a second primary (split brain): it follows `keep` again
            with node.client(socket_timeout=2.0) as client:
                client.replicaof(HOST, keep.port)
    group.refresh()
    for node in group.replicas():
        try:
            group.heal(node)  # a partitioned replica: back to the primary
        except TopologyStateError:
            if int(_info(node).get("master_port", 0)) != keep.port:  # chained, or following an old primary
                with node.client(socket_timeout=2.0) as client:
                    client.replicaof(HOST, keep.port)
    primary = group.primary()
    if group.primary_endpoint.target != [(HOST, primary.port)]:
        group.primary_endpoint.point_to([(HOST, primary.port)])
    readers = [(HOST, node.port) for node in group.reader_nodes()]
    if group.reader_endpoint.target != readers:
        group.reader_endpoint.point_to(readers)
    deadline = time.monotonic() + timeout
    replicas = _live(group.replicas())
    while True:
        linked = [node for node in replicas
                  if (info := _info(node)).get("master_link_status") == "up" and int(info.get("master_port", 0)) == primary.port]
        if len(linked) == len(replicas) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if replicas:
        with primary.client(socket_timeout=timeout + 1) as client:
            client.publish("__labkit__:sync", "")  # replicated, creates no key
            client.execute_command("WAIT", len(replicas), int(timeout * 1000))


def _node_calls(group: Any) -> dict[str, dict[str, int]]:
    """Command calls per node (INFO commandstats), by node name."""
    found = {}
    for node in _live(group.nodes):
        with node.client(socket_timeout=2.0) as client:
            found[node.name] = command_calls(client)
    return found


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {command: count - before.get(command, 0) for command, count in after.items() if count - before.get(command, 0) > 0}


# -- 1 --------------------------------------------------------------------------------------------
class LaggingReplica(Problem):
    title = "Find the lagging replica and how far behind it is, from INFO replication"
    takes_answer = True
    needs = "replication"
    hints = (
        "On the primary, INFO replication has master_repl_offset: the bytes of replication stream it has produced. "
        "On a replica, slave_repl_offset: the bytes it has applied.",
        "Bytes behind = the primary's master_repl_offset minus the replica's slave_repl_offset. "
        "primary.info('replication') and replica_clients[name].info('replication') read them.",
        "The replica with the most bytes behind lags. answer = (its name, its bytes behind).",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        primary_offset = primary.info("replication")["master_repl_offset"]
        behind = {name: primary_offset - client.info("replication")["slave_repl_offset"]
                  for name, client in replica_clients.items()}
        lagging = max(behind, key=behind.get)
        answer = (lagging, behind[lagging])
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            answer = ("replica-1", 131072)
        """), "is not how far", why="a name and a number copied from the pause experiment above"),
        Wrong(dedent("""
            ex.q1.prepare()
            primary_offset = primary.info("replication")["master_repl_offset"]
            behind = {name: primary_offset - client.info("replication")["slave_repl_offset"]
                      for name, client in replica_clients.items()}
            lagging = min(behind, key=behind.get)
            answer = (lagging, behind[lagging])
        """), "is up to date", why="picks the replica that is least behind"),
        Wrong(dedent("""
            ex.q1.prepare()
            offsets = {name: client.info("replication")["slave_repl_offset"] for name, client in replica_clients.items()}
            lagging = min(offsets, key=offsets.get)
            answer = (lagging, offsets[lagging])
        """), "the replica's own offset", why="passes the replica's offset, not the difference"),
    )

    def cleanup(self, r: Any) -> None:
        restore_group(self.lab)
        self.lab.client().delete("lag:events")

    def setup(self, r: Any) -> None:
        """Cut one replica (drawn) off its primary, then push a drawn amount of data it will not get."""
        lab = self.lab
        cut = self.rng.choice(lab.replicas())
        lab.partition(cut)
        primary = lab.client()
        entries, size = self.rng.randint(40, 160), self.rng.randint(20, 120)
        with primary.pipeline(transaction=False) as pipe:
            for number in range(entries):
                pipe.rpush("lag:events", f"{number}:" + "x" * size)
            pipe.execute()
        primary.wait(len(lab.replicas()) - 1, 2000)
        self.lagging = cut.name
        self.replica_offset = int(_info(cut)["slave_repl_offset"])
        self.lowest = int(primary.info("replication")["master_repl_offset"]) - self.replica_offset

    def verify(self, r: Any, answer: Any) -> str:
        if getattr(self, "lagging", None) is None:
            raise NotAttempted("run the exercise cell from its first line, ex.q1.prepare(), then your code")
        expect(isinstance(answer, (tuple, list)) and len(answer) == 2,
               f"pass a pair: answer = (replica name, bytes behind); got {answer!r}")
        name, behind = answer
        name = getattr(name, "name", name)
        expect(isinstance(name, str), f"the first item should be the replica's name (a str such as 'replica-1'); got {name!r}")
        expect(isinstance(behind, int) and not isinstance(behind, bool),
               f"the second item should be a whole number of bytes; got {behind!r}")
        replicas = {node.name for node in self.lab.replicas()}
        expect(name in replicas, f"{name!r} is not a replica of this group; its replicas are {sorted(replicas)}")
        highest = int(self.lab.client().info("replication")["master_repl_offset"]) - self.replica_offset
        problems = []
        if name != self.lagging:
            problems.append(f"{name} is up to date (its link works); another replica has fallen behind: "
                            "compare every replica's slave_repl_offset with the primary's master_repl_offset")
        if behind == self.replica_offset:
            problems.append(f"{behind} is the replica's own offset: bytes behind is the primary's master_repl_offset "
                            "minus the replica's slave_repl_offset")
        elif not self.lowest <= behind <= highest:
            problems.append(f"{behind} bytes is not how far the lagging replica is behind: subtract its slave_repl_offset "
                            "from the primary's master_repl_offset, both read now")
        expect(not problems, "; and ".join(problems))
        return (f"{self.lagging} is {behind:,} bytes behind: its link is down, so its offset stopped while the primary's grew. "
                "ex.q2.prepare() reconnects it.")


# -- 2 --------------------------------------------------------------------------------------------
PAGE_READS = ("hgetall", "hget", "hmget")
STOCK_READS = ("get", "mget")


class ReadsWhereTheyBelong(Problem):
    title = "Product pages from the replicas, stock levels from the primary"
    takes_answer = True
    needs = "replication"
    hints = (
        "catalog:ids (a set) lists the products. Each has a page, the hash product:<id>, and a stock level, the string stock:<id>.",
        "A page may be a little old: read it from a replica, and spread the pages over both (replica_clients has a client "
        "per replica). A stock level must be fresh: read it from the primary (the client `primary`).",
        "ids = primary.smembers('catalog:ids'); pages with replica_clients[...].hgetall(f'product:{id}') in turn; "
        "answer = sum(int(primary.get(f'stock:{id}')) for id in ids)",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        ids = primary.smembers("catalog:ids")
        replicas = list(replica_clients.values())
        pages = [replicas[n % len(replicas)].hgetall(f"product:{i}") for n, i in enumerate(ids)]
        answer = sum(int(primary.get(f"stock:{i}")) for i in ids)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            ids = primary.smembers("catalog:ids")
            pages = [primary.hgetall(f"product:{i}") for i in ids]
            answer = sum(int(primary.get(f"stock:{i}")) for i in ids)
        """), "pages were read from the primary", why="everything from the primary"),
        Wrong(dedent("""
            ex.q2.prepare()
            ids = primary.smembers("catalog:ids")
            replicas = list(replica_clients.values())
            pages = [replicas[n % len(replicas)].hgetall(f"product:{i}") for n, i in enumerate(ids)]
            answer = sum(int(replicas[n % len(replicas)].get(f"stock:{i}")) for n, i in enumerate(ids))
        """), "stock levels were read from a replica", why="stock levels from the replicas too"),
        Wrong(dedent("""
            ex.q2.prepare()
            ids = primary.smembers("catalog:ids")
            pages = [replica_clients["replica-1"].hgetall(f"product:{i}") for i in ids]
            answer = sum(int(primary.get(f"stock:{i}")) for i in ids)
        """), "spread", why="every page from one replica"),
    )

    def __init__(self) -> None:
        super().__init__()
        self._ids: list[int] = []
        self._before: dict[str, dict[str, int]] | None = None

    def cleanup(self, r: Any) -> None:
        restore_group(self.lab)
        keys = ["catalog:ids"] + [f"product:{i}" for i in self._ids] + [f"stock:{i}" for i in self._ids]
        self.lab.client().delete(*keys)
        self._ids, self._before = [], None

    def setup(self, r: Any) -> None:
        """A catalog drawn per run; then one replica (drawn) is cut off and the stock levels change on the primary."""
        lab = self.lab
        primary = lab.client()
        self._ids = self.rng.sample(range(100, 1000), self.rng.randint(8, 16))
        with primary.pipeline(transaction=False) as pipe:
            for number in self._ids:
                pipe.hset(f"product:{number}", mapping={"name": f"product {number}", "price": f"{self.rng.randint(3, 90)}.99"})
                pipe.set(f"stock:{number}", self.rng.randint(10, 60))
            pipe.sadd("catalog:ids", *self._ids)
            pipe.execute()
        primary.wait(len(lab.replicas()), 2000)
        self.stale = self.rng.choice(lab.replicas()).name
        lab.partition(self.stale)
        with primary.pipeline(transaction=False) as pipe:  # sales: only the primary and the linked replica see them
            for number in self._ids:
                pipe.decrby(f"stock:{number}", self.rng.randint(1, 9))
            pipe.execute()
        primary.wait(len(lab.replicas()) - 1, 2000)
        self.total = sum(int(primary.get(f"stock:{number}")) for number in self._ids)
        self._before = _node_calls(lab)

    def verify(self, r: Any, answer: Any) -> str:
        if self._before is None:
            raise NotAttempted("run the exercise cell from its first line, ex.q2.prepare(), then your code")
        after = _node_calls(self.lab)
        calls = {name: _delta(after.get(name, {}), before) for name, before in self._before.items()}
        primary = self.lab.primary().name
        replicas = [node.name for node in self.lab.replicas()]
        pages = {name: sum(calls[name].get(command, 0) for command in PAGE_READS) for name in calls}
        stock = {name: sum(calls[name].get(command, 0) for command in STOCK_READS) for name in calls}
        expect(pages[primary] == 0, f"{pages[primary]} product pages were read from the primary: pages may be a little old, "
               "so read them from the replicas and leave the primary to the writes")
        on_replicas = {name: stock[name] for name in replicas if stock[name]}
        expect(not on_replicas, f"stock levels were read from a replica ({', '.join(f'{n}: {c}' for n, c in on_replicas.items())} GET): "
               f"{self.stale} lost its link a moment ago and still shows the old stock; read what must be fresh from the primary")
        count = len(self._ids)
        served = sum(pages[name] for name in replicas)
        expect(served >= count, f"the replicas served {served} page reads; read all {count} product pages (HGETALL product:<id>)")
        for name in replicas:
            expect(pages[name] >= max(1, count // 4), f"{name} served {pages[name]} of {served} page reads: spread the pages over every replica")
        expect(stock[primary] > 0, "the primary served no GET: read the stock levels (stock:<id>) from it")
        expect(isinstance(answer, int) and not isinstance(answer, bool), f"answer should be the total stock (an int); got {answer!r}")
        expect(answer == self.total, f"the total stock is not {answer}: add up stock:<id> for every id in catalog:ids, read from the primary")
        return "pages per replica: " + ", ".join(f"{name} {pages[name]}" for name in replicas) + f"; stock from the primary: {self.total} in all"


# -- 3 --------------------------------------------------------------------------------------------
class WaitForReplicas(Problem):
    title = "Learn with WAIT how many replicas have a write"
    takes_answer = True
    needs = "replication"
    hints = (
        "WAIT numreplicas timeout_ms blocks until that many replicas acknowledged every earlier write of this connection, "
        "or until the timeout, and returns how many did.",
        "Write with the client you WAIT on: primary.set('order:1001', 'paid'), then answer = primary.wait(2, 300).",
        "Give it a timeout: a replica that is cut off never acknowledges, and a timeout of 0 would wait forever.",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        primary.set("order:1001", "paid")
        answer = primary.wait(2, 300)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            primary.set("order:1001", "paid")
            answer = 2
        """), "no WAIT", why="the number printed in the WAIT section above"),
        Wrong(dedent("""
            ex.q3.prepare()
            answer = primary.wait(2, 300)
        """), "write it on the primary", why="WAIT without the write"),
        Wrong(dedent("""
            ex.q3.prepare()
            primary.set("order:1001", "paid")
            answer = primary.wait(2, 300) == 2
        """), "the number WAIT returned", why="a yes/no instead of WAIT's count"),
    )

    def cleanup(self, r: Any) -> None:
        restore_group(self.lab)
        self.lab.client().delete("order:1001")

    def setup(self, r: Any) -> None:
        """Cut a drawn number of replicas (0, 1 or 2) off the primary; the learner does not know how many."""
        replicas = self.lab.replicas()
        for node in self.rng.sample(replicas, self.rng.randint(0, len(replicas))):
            self.lab.partition(node)

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect(calls.get("wait", 0) > 0, "the server saw no WAIT since ex.q3.prepare(): ask the primary with WAIT, do not assume")
        primary = self.lab.client()
        expect(primary.get("order:1001") == "paid", "order:1001 is not 'paid': write it on the primary (SET), then WAIT on the same client")
        expect(isinstance(answer, int) and not isinstance(answer, bool), f"pass the number WAIT returned (an int); got {answer!r}")
        have = 0
        for node in _live(self.lab.replicas()):
            with node.client(socket_timeout=1.0) as client:
                have += client.get("order:1001") == "paid"
        expect(answer <= have, f"WAIT said {answer}, but only {have} replica(s) have order:1001: WAIT after the write, on the same connection")
        expect(answer == have, f"WAIT said {answer}, but {have} replicas have order:1001: ask for every replica (numreplicas 2) and give it time")
        cut = len(self.lab.replicas()) - have
        return (f"WAIT returned {answer}: {answer} replica(s) confirmed order:1001, {cut} did not (cut off). "
                "The write stays on the primary either way; WAIT only tells you how durable it is.")


# -- 4 --------------------------------------------------------------------------------------------
class AttachReplica(Problem):
    title = "Attach a spare server to the group's primary with REPLICAOF"
    needs = "replication"
    hints = (
        "REPLICAOF host port, sent to the server that should become a replica, makes it copy the primary and then follow its stream.",
        "The primary listens on 127.0.0.1, port group.primary().port; send the command through spare.client().",
        "spare.client().replicaof('127.0.0.1', group.primary().port)",
    )
    solution_code = dedent("""
        spare = ex.q4.prepare()
        spare.client().replicaof("127.0.0.1", group.primary().port)
    """)
    wrong_answers = (
        Wrong(dedent("""
            spare = ex.q4.prepare()
            spare.client().set("spare:token", primary.get("spare:token"))
        """), "still a primary", why="copies the data by hand"),
        Wrong(dedent("""
            spare = ex.q4.prepare()
            spare.client().replicaof("127.0.0.1", group.replicas()[0].port)
        """), "not from the primary", why="replicates from a replica (chained)"),
        Wrong(dedent("""
            spare = ex.q4.prepare()
            spare.client().replicaof("no", "one")
        """), "REPLICAOF NO ONE", why="the form that promotes instead"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.spare: Any = None
        self._spare_before: dict[str, int] | None = None

    def prepare(self, **options: Any) -> Any:  # noqa: D401 - returns the spare, unlike Problem.prepare
        """Start (once) a spare standalone server, clear it, and return it: `spare = ex.q4.prepare()`."""
        super().prepare(**options)
        return self.spare

    def _spare_node(self) -> Node | None:
        if self.spare is None or not self.spare.nodes or not self.spare.nodes[0].is_running():
            return None
        return self.spare.nodes[0]

    def cleanup(self, r: Any) -> None:
        restore_group(self.lab)
        node = self._spare_node()
        if node is not None:
            with node.client(socket_timeout=2.0) as client:
                client.replicaof("no", "one")
                client.flushall()
        self.lab.client().delete("spare:token")
        self._spare_before = None

    def setup(self, r: Any) -> None:
        """A token drawn per run on the primary; a spare server (az-b) with no data."""
        from ..topology import Standalone

        if self._spare_node() is None:
            self.spare = Standalone(az="az-b").start()
        self.token = f"{self.rng.getrandbits(48):012x}"
        primary = self.lab.client()
        primary.set("spare:token", self.token)
        primary.wait(len(self.lab.replicas()), 2000)
        with self._spare_node().client(socket_timeout=2.0) as client:
            self._spare_before = command_calls(client)

    def verify(self, r: Any, answer: Any) -> str:
        node = self._spare_node()
        if node is None or self._spare_before is None:
            raise NotAttempted("run the exercise cell from its first line, spare = ex.q4.prepare(), then your code")
        with node.client(socket_timeout=2.0) as client:
            calls = _delta(command_calls(client), self._spare_before)
            asked = calls.get("replicaof", 0) + calls.get("slaveof", 0)
            info = client.info("replication")
            if info.get("role") == "master":
                if not asked and not client.dbsize():
                    raise NotAttempted("the spare is still an empty standalone server: attach it to the group's primary with REPLICAOF")
                expect(not asked, "the spare is still a primary after your REPLICAOF: REPLICAOF NO ONE is the form that promotes; "
                       "give the primary's host and port")
                raise Incorrect("the spare holds what you copied but is still a primary (role master): nothing keeps it in step "
                                "with the group; make it a replica with REPLICAOF host port")
            primary = self.lab.primary()
            ports = {member.port: member.name for member in self.lab.nodes}
            master_port = int(info.get("master_port", 0))
            expect(master_port == primary.port,
                   f"the spare replicates from {ports.get(master_port, f'port {master_port}')}, not from the primary ({primary.name}, "
                   f"port {primary.port}): a chain of replicas adds a hop of lag; attach it to the primary")
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and not (client.info("replication").get("master_link_status") == "up"
                                                       and client.get("spare:token") == self.token):
                time.sleep(0.05)
            expect(client.info("replication").get("master_link_status") == "up", "the spare's link to the primary is not up after 5 s")
            expect(client.get("spare:token") == self.token, "the spare does not have spare:token yet: its first sync has not finished")
            keys = client.dbsize()
        with primary.client(socket_timeout=2.0) as client:
            seen = [entry for entry in (client.info("replication").get(f"slave{index}") for index in range(6))
                    if isinstance(entry, dict) and int(entry.get("port", 0)) == node.port]
        expect(seen, "the primary does not list the spare among its replicas (INFO replication) yet")
        return f"the spare copied all {keys} keys and now follows the primary, which lists it among its replicas"


q1 = LaggingReplica()
q2 = ReadsWhereTheyBelong()
q3 = WaitForReplicas()
q4 = AttachReplica()

"""Exercises for notebook 14_scaling_out_in_and_up: move one slot with the engine's own commands,
predict what a scale-out takes from each shard (then verify it), and copy late writes to the bigger
cluster with DUMP/RESTORE before the cut-over.

They check the new cluster, so bind it first::

    from labkit.exercises import scaling as ex
    ex.use(bigger)
    ex.q1.prepare()          # a slot of this run, with a few keys, to move by hand
    ex.q1.check()
"""

from __future__ import annotations

import time
from textwrap import dedent
from typing import Any

import redis

from ..faults import wait_until
from ..node import NodeStatus, Role
from .core import Incorrect, NotAttempted, Problem, Wrong, expect, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "14_scaling_out_in_and_up"

SLOT_COUNT = 16384
#: labkit's own scaling steps, as they appear in a topology's fault_log.
LABKIT_SLOT_MOVES = ("move_slots", "rebalance", "add_shard", "remove_shard")
ASM_DONE = ("success", "failed", "cancelled")


# -- reading and repairing the slot map with the engine's commands ------------------------------------
def _primaries(lab: Any) -> list:
    return [node for node in lab.nodes if node.role is Role.PRIMARY and node.status is NodeStatus.UP]


def _owner_port(client: redis.Redis, slot: int) -> int | None:
    """The port of the primary that serves `slot`, as the node behind `client` sees it (CLUSTER SLOTS)."""
    for first, last, primary, *_replicas in client.execute_command("CLUSTER", "SLOTS"):
        if int(first) <= slot <= int(last):
            return int(primary[1])
    return None


def _open_marks(client: redis.Redis, slot: int) -> list[str]:
    """This node's MIGRATING/IMPORTING marks for `slot` (its own line of CLUSTER NODES)."""
    reply = client.execute_command("CLUSTER", "NODES")
    text = reply.decode() if isinstance(reply, bytes) else reply
    if not isinstance(text, str):  # a client that parses CLUSTER NODES: ask again without decoding
        return []
    for line in text.splitlines():
        if "myself" in line.split()[2]:
            marks = []
            for token in line.split()[8:]:
                if token.startswith(f"[{slot}->-"):
                    marks.append("MIGRATING")
                elif token.startswith(f"[{slot}-<-"):
                    marks.append("IMPORTING")
            return marks
    return []


def has_atomic_slot_migration(lab: Any) -> bool:
    """Whether the engine has CLUSTER MIGRATESLOTS (Valkey 9): the cluster asks a primary."""
    return lab.supports_atomic_slot_migration()


def _asm_active(client: redis.Redis) -> bool:
    jobs = client.execute_command("CLUSTER", "GETSLOTMIGRATIONS") or []
    return any(isinstance(job, dict) and job.get("state") not in ASM_DONE for job in jobs)


def _setslot(lab: Any, client: redis.Redis, *arguments: Any) -> None:
    """CLUSTER SETSLOT, letting Valkey (>= 8) wait longer for its replicas, retried on NOREPLICAS."""
    wait = ("TIMEOUT", 10_000) if lab.engine is not None and lab.engine.name == "valkey" else ()
    for attempt in range(3):
        try:
            client.execute_command("CLUSTER", "SETSLOT", *arguments, *wait)
            return
        except redis.ResponseError as error:
            if not str(error).startswith("NOREPLICAS") or attempt == 2:
                raise
            time.sleep(0.1 * (attempt + 1))


def _slot_settled(lab: Any, slot: int, port: int, asm: bool) -> bool:
    """Every primary says `port` serves `slot`, and none has the slot marked or an atomic migration running."""
    for node in _primaries(lab):
        with node.client(socket_timeout=2.0) as client:
            if _owner_port(client, slot) != port or _open_marks(client, slot):
                return False
            if asm and _asm_active(client):
                return False
    return True


def _put_slot_back(lab: Any, slot: int, home: Any) -> None:
    """Whatever an attempt left (a half-done move, keys on two nodes, the slot elsewhere): cancel,
    gather the slot's keys on its owner, clear every mark, and give the slot back to `home`."""
    from ..scaling import move_slots

    asm = has_atomic_slot_migration(lab)
    primaries = _primaries(lab)
    clients = {node.port: node.client(socket_timeout=15.0) for node in primaries}
    try:
        if asm:
            for client in clients.values():
                try:
                    client.execute_command("CLUSTER", "CANCELSLOTMIGRATIONS")
                except redis.ResponseError:
                    pass
            wait_until(lambda: not any(_asm_active(client) for client in clients.values()), 15.0, 0.05)
        # The owner, once the primaries agree on it (gossip spreads a hand-over within milliseconds).
        wait_until(lambda: len({_owner_port(client, slot) for client in clients.values()}) == 1, 5.0, 0.05)
        owner = _owner_port(clients[home.port], slot)
        if owner not in clients:
            owner = home.port
        owner_id = lab.node_id(lab.node(owner))
        _setslot(lab, clients[owner], slot, "STABLE")
        for port, client in clients.items():
            if port == owner:
                continue
            if int(client.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)) > 0:
                # Keys stranded on a node that does not own the slot: send them home, as an importer would.
                _setslot(lab, client, slot, "STABLE")
                _setslot(lab, client, slot, "IMPORTING", owner_id)
                while keys := client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
                    pipe = client.pipeline(transaction=False)
                    pipe.execute_command("ASKING")
                    pipe.execute_command("MIGRATE", "127.0.0.1", owner, "", 0, 5000, "REPLACE", "KEYS", *keys)
                    pipe.execute()
            _setslot(lab, client, slot, "STABLE")
    finally:
        for client in clients.values():
            client.close()
    if owner != home.port:
        move_slots(lab, [(slot, lab.node(owner), home)])
    wait_until(lambda: _slot_settled(lab, slot, home.port, asm), 15.0, 0.05)


def _marks_text(marks: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {', '.join(found)}" for name, found in marks.items())


# -- q1 ---------------------------------------------------------------------------------------------
class MoveOneSlot(Problem):
    title = "Move one slot to another shard with the engine's own commands"
    needs = "cluster"
    hints = (
        "Find the slot's owner (CLUSTER SHARDS, or bigger.state().slot_owners()[slot]) and the target, "
        "bigger.primary(ex.q1.to_shard); bigger.node_id(node) gives a node's cluster id, bigger.client(node) a plain client.",
        "Where has_migrateslots is True (Valkey 9): send the owner CLUSTER MIGRATESLOTS SLOTSRANGE <slot> <slot> NODE "
        "<target-id>, then poll CLUSTER GETSLOTMIGRATIONS until its state is 'success'.",
        "Otherwise, the classic way: on the target CLUSTER SETSLOT <slot> IMPORTING <source-id>; on the source "
        "CLUSTER SETSLOT <slot> MIGRATING <target-id>; while CLUSTER GETKEYSINSLOT <slot> 100 returns keys, "
        "MIGRATE 127.0.0.1 <target-port> \"\" 0 5000 KEYS <keys...>; then CLUSTER SETSLOT <slot> NODE <target-id> "
        "on the target and on the source.",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        slot = ex.q1.slot
        source = bigger.primary(bigger.state().slot_owners()[slot])
        target = bigger.primary(ex.q1.to_shard)
        src, dst = bigger.client(source), bigger.client(target)
        source_id, target_id = bigger.node_id(source), bigger.node_id(target)
        if has_migrateslots:                                  # Valkey 9: the server moves the slot
            src.execute_command("CLUSTER", "MIGRATESLOTS", "SLOTSRANGE", slot, slot, "NODE", target_id)
            while any(job["state"] not in ("success", "failed", "cancelled")
                      for job in src.execute_command("CLUSTER", "GETSLOTMIGRATIONS")):
                time.sleep(0.05)
        else:                                                 # the classic way, keys in batches
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
                src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
            dst.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        print("keys of the slot on the target:", dst.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot))
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            slot = ex.q1.slot
            source = bigger.primary(bigger.state().slot_owners()[slot])
            target = bigger.primary(ex.q1.to_shard)
            src, dst = bigger.client(source), bigger.client(target)
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", bigger.node_id(source))
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", bigger.node_id(target))
            while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
                src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
        """), "SETSLOT", why="keys migrated, but the slot never handed over (still MIGRATING/IMPORTING)"),
        Wrong(dedent("""
            ex.q1.prepare()
            slot = ex.q1.slot
            source = bigger.primary(bigger.state().slot_owners()[slot])
            target = bigger.primary(next(s for s in bigger.shards if s not in (source.shard, ex.q1.to_shard)))
            src, dst = bigger.client(source), bigger.client(target)
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", bigger.node_id(source))
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", bigger.node_id(target))
            while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
                src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
            dst.execute_command("CLUSTER", "SETSLOT", slot, "NODE", bigger.node_id(target))
            src.execute_command("CLUSTER", "SETSLOT", slot, "NODE", bigger.node_id(target))
        """), "not shard", why="a clean move, to the wrong shard"),
        Wrong(dedent("""
            ex.q1.prepare()
            with bigger.slot_migrating(ex.q1.slot, ex.q1.to_shard):
                pass
        """), "labkit", why="labkit's helper moved it: no command typed by the learner"),
    )

    slot: int | None = None
    to_shard: int | None = None

    def setup(self, r: Any) -> None:
        """A slot of this run with a few keys, on a drawn shard; the shard to move it to."""
        lab = self.lab
        rng = self.rng
        primaries = {node.shard: node for node in _primaries(lab)}
        with next(iter(primaries.values())).client(socket_timeout=2.0) as admin:
            while True:
                tag = f"{{crate:{rng.randint(10000, 99999)}}}"
                slot = int(admin.execute_command("CLUSTER", "KEYSLOT", tag))
                owner = _owner_port(admin, slot)
                with lab.node(owner).client(socket_timeout=2.0) as client:
                    if int(client.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)) == 0:
                        break
        home = lab.node(owner)
        self.slot, self._home = slot, home
        self.to_shard = rng.choice(sorted(shard for shard in primaries if shard != home.shard))
        self._values = {f"{tag}:item:{number}": f"item-{rng.randint(100, 999)}" for number in range(rng.randint(3, 8))}
        client = lab.client()
        try:
            client.mset(self._values)
        finally:
            client.close()
        self._log_mark = len(lab.fault_log)
        self._moved_to: int | None = None
        print(f"slot {slot} holds {len(self._values)} keys; move it to shard {self.to_shard}")

    def cleanup(self, r: Any) -> None:
        if self.slot is None:
            return
        lab = self.lab
        _put_slot_back(lab, self.slot, self._home)
        client = lab.client()
        try:
            client.delete(*self._values)
        finally:
            client.close()

    def _labkit_moved(self) -> bool:
        return any(event.action in LABKIT_SLOT_MOVES for event in self.lab.fault_log[self._log_mark:])

    def attempted(self, r: Any, answer: Any) -> bool:
        calls = self.commands_since_prepare()
        if calls.get("cluster|setslot") or calls.get("migrate") or calls.get("cluster|migrateslots") or self._labkit_moved():
            return True
        with self._home.client(socket_timeout=2.0) as client:
            return _owner_port(client, self.slot) != self._home.port

    def verify(self, r: Any, answer: Any) -> str:
        lab, slot = self.lab, self.slot
        calls = self.commands_since_prepare()
        expect(not self._labkit_moved(),
               "labkit's helper moved the slot (slot_migrating / rebalance): move it yourself, with CLUSTER SETSLOT and "
               "MIGRATE (or CLUSTER MIGRATESLOTS where the engine has it)")
        target = lab.primary(self.to_shard)
        asm = has_atomic_slot_migration(lab)
        # A hand-over reaches the other primaries by gossip within milliseconds; give it a moment.
        wait_until(lambda: _slot_settled(lab, slot, target.port, asm), 3.0, 0.05)
        marks = {}
        owners = {}
        for node in _primaries(lab):
            with node.client(socket_timeout=2.0) as client:
                owners[node.name] = _owner_port(client, slot)
                found = _open_marks(client, slot)
                if asm and _asm_active(client):
                    found.append("an atomic migration in progress")
                if found:
                    marks[node.name] = found
        owner_port = owners.get(target.name)
        owner = lab.node(owner_port) if owner_port is not None else None
        if owner is not None and owner.port != target.port:
            if owner.port == self._home.port:
                detail = f" ({_marks_text(marks)})" if marks else ""
                raise Incorrect(f"slot {slot} still belongs to shard {owner.shard}{detail}: finish the move with CLUSTER SETSLOT "
                                f"{slot} NODE <target-id> on the target, then on the source")
            raise Incorrect(f"slot {slot} is served by shard {owner.shard} now, not shard {self.to_shard} as asked")
        expect(len(set(owners.values())) == 1,
               f"the primaries disagree about slot {slot} ({owners}): send CLUSTER SETSLOT {slot} NODE <target-id> to the source too")
        expect(not marks, f"slot {slot} is still marked on {_marks_text(marks)}: "
                          f"clear it with CLUSTER SETSLOT {slot} NODE <target-id> on that node")
        with target.client(socket_timeout=2.0) as client:
            values = {key: client.get(key) for key in self._values}
        lost = [key for key, value in values.items() if value != self._values[key]]
        expect(not lost, f"{len(lost)} of the slot's {len(self._values)} keys are not on shard {self.to_shard} "
                         f"(e.g. {lost[0] if lost else ''!r}): MIGRATE them before the hand-over")
        legacy = calls.get("cluster|setslot", 0) > 0 and calls.get("migrate", 0) > 0
        expect(legacy or calls.get("cluster|migrateslots", 0) > 0,
               "the server saw no CLUSTER SETSLOT with MIGRATE, nor CLUSTER MIGRATESLOTS: move the slot with the engine's commands")
        how = "CLUSTER MIGRATESLOTS" if calls.get("cluster|migrateslots") else "SETSLOT IMPORTING/MIGRATING, MIGRATE and SETSLOT NODE"
        return f"slot {slot} and its {len(self._values)} keys now live on shard {self.to_shard} ({how}), and every primary agrees"


# -- q2 ---------------------------------------------------------------------------------------------
class PredictScaleOut(Problem):
    title = "Predict how many slots each shard gives to a new shard, then add it and compare"
    needs = "cluster"
    takes_answer = True
    hints = (
        "Read how many slots each shard owns now: CLUSTER SHARDS on any node (add up each shard's ranges), "
        "or bigger.slot_counts().",
        "After the scale-out every one of the 4 shards owns an equal share, 16384 / 4; rebalancing takes from each old "
        "shard only what it owns above that share, and nothing more.",
        "answer = {shard: slots_now[shard] - 16384 // 4 for shard in bigger.shards}; then bigger.add_shard() to verify.",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        slots_now = {}
        for shard in bigger.client(bigger.primary(0)).execute_command("CLUSTER", "SHARDS"):
            port = next(node["port"] for node in shard["nodes"] if node["role"] == "master")
            ranges = shard["slots"]
            slots_now[bigger.node(port).shard] = sum(ranges[i + 1] - ranges[i] + 1 for i in range(0, len(ranges), 2))
        share = 16384 // (len(bigger.shards) + 1)
        answer = {shard: count - share for shard, count in slots_now.items()}
        print("predicted:", answer)
        new_shard = bigger.add_shard()                  # the experiment: a shard joins and takes its share
        print("slots per shard now:", bigger.slot_counts())
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            answer = 4096
        """), "4,096", why="the total printed above, not per shard"),
        Wrong(dedent("""
            ex.q2.prepare()
            answer = {shard: 4096 // 3 for shard in bigger.shards}
        """), "surplus", why="an equal third from each shard, ignoring the uneven map"),
        Wrong(dedent("""
            ex.q2.prepare()
            counts = bigger.slot_counts()
            answer = {shard: count - 16384 // 3 for shard, count in counts.items()}
        """), "16384 / 4", why="the share of 3 shards, not of 4"),
        Wrong(dedent("""
            ex.q2.prepare()
            counts = bigger.slot_counts()
            answer = {shard: count - 16384 // 4 for shard, count in counts.items()}
        """), "verify", why="the right prediction, never tested"),
    )

    def setup(self, r: Any) -> None:
        """An uneven slot map of this run (as after a hasty manual reshard), with the shards the cluster had."""
        from ..scaling import move_slots, plan_moves, slot_owners

        lab = self.lab
        if not hasattr(self, "_base_shards"):
            self._base_shards = list(lab.shards)
        rng = self.rng
        base = len(self._base_shards)
        while True:
            counts = [SLOT_COUNT // base + rng.choice((-1, 1)) * rng.randint(150, 900) for _ in range(base - 1)]
            counts.append(SLOT_COUNT - sum(counts))
            share = SLOT_COUNT // (base + 1)
            if all(count >= share + 150 for count in counts) and len(set(counts)) == base and all(abs(count - SLOT_COUNT / base) > 100 for count in counts):
                break
        primaries = {node.shard: node for node in _primaries(lab)}
        targets = {primaries[shard]: count for shard, count in zip(self._base_shards, counts)}
        move_slots(lab, plan_moves(slot_owners(lab), targets))
        wanted = dict(zip(self._base_shards, counts))
        if not wait_until(lambda: lab.slot_counts() == wanted, 15.0, 0.05):
            raise RuntimeError(f"the slot map did not settle on {wanted}: run ex.q2.prepare() again")
        self._before = wanted
        print("the slot map is uneven now (as after a hasty manual reshard): read it from the server")

    def cleanup(self, r: Any) -> None:
        lab = self.lab
        for shard in list(lab.shards):
            if hasattr(self, "_base_shards") and shard not in self._base_shards:
                lab.remove_shard(shard)

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        before = getattr(self, "_before", None)
        if before is None:
            raise NotAttempted("run the exercise cell from its first line, ex.q2.prepare(), then your prediction")
        shards = sorted(before)
        share = SLOT_COUNT // (len(shards) + 1)
        expect(not (isinstance(answer, int) and answer == share),
               f"{share:,} is what the new shard receives in all (the scale-out above printed it); predict what each "
               f"existing shard gives: a dict {{shard: slots}}")
        expect(isinstance(answer, dict) and sorted(answer) == shards,
               f"pass a dict with one entry per existing shard {shards}: {{shard: slots it gives to the new shard}}")
        expected = {shard: before[shard] - share for shard in shards}
        if answer != expected:
            if len(set(answer.values())) == 1:
                raise Incorrect("the shards own different numbers of slots now: rebalancing takes from each only its surplus "
                                f"over the new share, so they give different amounts")
            if answer == {shard: before[shard] - SLOT_COUNT // len(shards) for shard in shards}:
                raise Incorrect(f"that is each shard's surplus over a third; after the scale-out there are {len(shards) + 1} "
                                f"shards, so each keeps 16384 / {len(shards) + 1} = {share:,}")
            wrong = next(shard for shard in shards if answer.get(shard) != expected[shard])
            raise Incorrect(f"shard {wrong} owns {before[wrong]:,} slots now; {answer.get(wrong)!r} is not what it gives up to "
                            f"keep an equal share")
        new = [shard for shard in lab.shards if shard not in shards]
        expect(new, "your prediction is written down; now verify it: add the shard (bigger.add_shard() rebalances), then check")
        after = lab.slot_counts()
        given = {shard: before[shard] - after.get(shard, 0) for shard in shards}
        expect(given == expected and after.get(new[0]) == share,
               f"the cluster moved {given} (the new shard owns {after.get(new[0])}); the prediction was {expected}: "
               "was the map changed between prepare() and the scale-out?")
        return (f"predicted and measured alike: shard {new[0]} took {share:,} slots, "
                + ", ".join(f"{given[shard]:,} from shard {shard}" for shard in shards))


def _value(client: redis.Redis, key: str) -> Any:
    """A key's type and value, comparable across engines (a DUMP payload may differ in encoding)."""
    kind = client.type(key)
    reader = {"string": client.get, "hash": client.hgetall, "set": client.smembers,
              "list": lambda name: client.lrange(name, 0, -1), "zset": lambda name: client.zrange(name, 0, -1, withscores=True)}
    return kind, reader[kind](key) if kind in reader else None


# -- q3 ---------------------------------------------------------------------------------------------
class CatchUpCopy(Problem):
    title = "Copy the late writes to the bigger cluster with DUMP and RESTORE, TTLs included"
    needs = "cluster"
    hints = (
        "DUMP serializes a key of any type; RESTORE key ttl payload recreates it, with ttl in milliseconds (0: no expiry).",
        "Read with a client that does not decode (cluster.client(decode_responses=False)): a DUMP payload is bytes. "
        "PTTL gives the remaining time in ms (-1 when the key has none).",
        "new.restore(key, max(old.pttl(key), 0), old.dump(key), replace=True) for each key of ex.q3.late_keys",
    )
    solution_code = dedent("""
        ex.q3.prepare(cluster)
        old, new = cluster.client(decode_responses=False), bigger.client(decode_responses=False)
        for key in ex.q3.late_keys:
            payload, ttl_ms = old.dump(key), old.pttl(key)
            new.restore(key, max(ttl_ms, 0), payload, replace=True)
        for key in ex.q3.late_keys:                     # verify, key by key: there, same type, TTL kept
            print(key, new.type(key).decode(), "TTL ms:", old.pttl(key), "->", new.pttl(key))
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare(cluster)
            old, new = cluster.client(decode_responses=False), bigger.client(decode_responses=False)
            for key in ex.q3.late_keys:
                new.restore(key, 0, old.dump(key), replace=True)
        """), "lost its TTL", why="RESTORE with ttl 0 for every key"),
        Wrong(dedent("""
            ex.q3.prepare(cluster)
            old, new = cluster.client(decode_responses=False), bigger.client(decode_responses=False)
            for key in ex.q3.late_keys:
                new.restore(key, max(old.ttl(key), 0), old.dump(key), replace=True)
        """), "milliseconds", why="the TTL in seconds where RESTORE takes milliseconds"),
        Wrong(dedent("""
            ex.q3.prepare(cluster)
            old, new = cluster.client(), bigger.client()
            for key in ex.q3.late_keys:
                if old.type(key) == "string":
                    new.set(key, old.get(key), px=old.pttl(key) if old.pttl(key) > 0 else None)
        """), "RESTORE", why="GET/SET of the strings only: other types skipped"),
        Wrong(dedent("""
            ex.q3.prepare(cluster)
            old, new = cluster.client(decode_responses=False), bigger.client(decode_responses=False)
            for key in ex.q3.late_keys:
                if old.pttl(key) > 0:
                    new.restore(key, old.pttl(key), old.dump(key), replace=True)
        """), "missing on the bigger cluster", why="only the keys that have a TTL"),
    )

    late_keys: tuple[str, ...] = ()

    def prepare(self, source: Any = None, **options: Any) -> None:
        """Write this run's late keys to `source` (the old cluster), then note the command counters.

        Example::

            ex.q3.prepare(cluster)     # the first line of the exercise cell
        """
        from ..topology import Topology

        if not isinstance(source, Topology):
            raise TypeError("pass the old cluster, the one the late writes went to: ex.q3.prepare(cluster)")
        self.source = source
        super().prepare(**options)

    def setup(self, r: Any) -> None:
        """Late writes of this run on the old cluster: strings, a hash and a set, about half with a TTL of hours."""
        rng = self.rng
        keys: dict[str, tuple[str, Any]] = {}
        for _ in range(rng.randint(3, 5)):
            keys[f"signup:{rng.randint(100000, 999999)}"] = ("string", f"user-{rng.randint(1000, 9999)}")
        keys[f"cart:{rng.randint(100000, 999999)}"] = ("hash", {"items": str(rng.randint(1, 9)), "total": f"{rng.randint(100, 9999) / 100:.2f}"})
        keys[f"seen:{rng.randint(100000, 999999)}"] = ("set", [f"page-{rng.randint(1, 99)}" for _ in range(rng.randint(2, 5))])
        names = list(keys)
        rng.shuffle(names)
        with_ttl = set(rng.sample(names, k=max(2, len(names) // 2)))
        client = self.source.client()
        try:
            for name in names:
                kind, value = keys[name]
                if kind == "string":
                    client.set(name, value)
                elif kind == "hash":
                    client.hset(name, mapping=value)
                else:
                    client.sadd(name, *value)
                if name in with_ttl:
                    client.expire(name, rng.randint(9000, 21600))  # 2.5 to 6 hours
        finally:
            client.close()
        self.late_keys = tuple(names)
        print(f"{len(names)} late writes on the old cluster:", list(names))

    def cleanup(self, r: Any) -> None:
        if not self.late_keys:
            return
        targets = [self.lab] + ([self.source] if getattr(self, "source", None) is not None else [])
        for topology in targets:
            if str(topology.lifecycle) != "running":
                continue
            client = topology.client()
            try:
                client.delete(*self.late_keys)
            finally:
                client.close()

    def attempted(self, r: Any, answer: Any) -> bool:
        if not self.late_keys:
            return False
        client = self.lab.client()
        try:
            return any(client.exists(key) for key in self.late_keys)
        finally:
            client.close()

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect(calls.get("restore", 0) > 0,
               "the bigger cluster saw no RESTORE: copy each key with DUMP on the old cluster and RESTORE on the new one "
               "(it copies any type, and the TTL with it)")
        expect(str(self.source.lifecycle) == "running", "the old cluster is stopped: the copy is checked against it, so run this before the cut-over")
        old, new = self.source.client(), self.lab.client()
        try:
            for key in self.late_keys:
                ttl, copied_ttl = old.pttl(key), new.pttl(key)
                expect(copied_ttl != -2, f"{key!r} is missing on the bigger cluster: copy every key of ex.q3.late_keys")
                expect(_value(new, key) == _value(old, key), f"{key!r} differs on the bigger cluster: RESTORE the exact DUMP payload")
                if ttl > 0:
                    expect(copied_ttl > 0, f"{key!r} lost its TTL in the copy: pass its PTTL to RESTORE")
                    expect(copied_ttl > ttl - 600_000,
                           f"{key!r} has {copied_ttl / 1000:.0f} s left on the bigger cluster but {ttl / 1000:.0f} s on the old "
                           "one: RESTORE takes the TTL in milliseconds (PTTL), not seconds (TTL)")
                    expect(copied_ttl <= ttl + 60_000, f"{key!r} lives longer on the bigger cluster than on the old one: copy its PTTL")
                else:
                    expect(copied_ttl == -1, f"{key!r} has no TTL on the old cluster but one on the new: RESTORE it with ttl 0")
        finally:
            old.close()
            new.close()
        expect(calls.get("restore", 0) >= len(self.late_keys),
               f"the bigger cluster saw {calls.get('restore', 0)} RESTORE commands for {len(self.late_keys)} keys: "
               "copy every key with DUMP and RESTORE")
        return f"all {len(self.late_keys)} late writes are on the bigger cluster, value for value, with their TTLs: ready to cut over"


q1 = MoveOneSlot()
q2 = PredictScaleOut()
q3 = CatchUpCopy()

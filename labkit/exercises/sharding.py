"""Exercises for notebook 13_cluster_sharding_and_hash_slots: find a key's node from the engine's
slot map (and let MOVED confirm it), hash tags for one MSET, and counting a slot's keys.

Each exercise draws its own keys per run, so no answer can be read off an earlier output::

    from labkit.exercises import sharding as ex
    ex.use(cluster)
    ex.q1.prepare()          # draws the keys of this run
    ex.q1.check(answer)
"""

from __future__ import annotations

import binascii
from textwrap import dedent
from typing import Any

import redis

from ..node import NodeStatus, Role
from .core import Incorrect, Problem, Wrong, expect, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "13_cluster_sharding_and_hash_slots"

SLOT_COUNT = 16384


# -- reading the cluster as the server sees it -------------------------------------------------------
def _primaries(lab: Any) -> list:
    return [node for node in lab.nodes if node.role is Role.PRIMARY and node.status is NodeStatus.UP]


def _admin(lab: Any) -> redis.Redis:
    """A plain client of one live primary, for CLUSTER KEYSLOT / CLUSTER SLOTS."""
    return _primaries(lab)[0].client(socket_timeout=2.0)


def _server_slot(lab: Any, key: str) -> int:
    with _admin(lab) as client:
        return int(client.execute_command("CLUSTER", "KEYSLOT", key))


def _owner_port(lab: Any, slot: int) -> int:
    """The port of the primary that serves `slot`, from CLUSTER SLOTS."""
    with _admin(lab) as client:
        for first, last, primary, *_replicas in client.execute_command("CLUSTER", "SLOTS"):
            if int(first) <= slot <= int(last):
                return int(primary[1])
    raise Incorrect(f"no shard serves slot {slot} right now; is the cluster healthy?")


def _crc_slot(text: str) -> int:
    """CRC16-XMODEM of the whole text, mod 16384 (no hash-tag rule)."""
    return binascii.crc_hqx(text.encode(), 0) % SLOT_COUNT


def _hashed_part(key: str) -> str:
    """What the cluster hashes: the first non-empty {...} tag, or the whole key."""
    start = key.find("{")
    if start != -1:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1:end]
    return key


def _rejected_calls(lab: Any) -> int:
    """Commands refused before they ran (MOVED, ASK, CROSSSLOT...), summed over the cluster's nodes."""
    total = 0
    for node in lab.nodes:
        if node.status is not NodeStatus.UP:
            continue
        try:
            with node.client(socket_timeout=1.0) as client:
                stats = client.info("commandstats")
        except redis.RedisError:
            continue
        total += sum(int(value.get("rejected_calls", 0)) for value in stats.values() if isinstance(value, dict))
    return total


# -- q1 ---------------------------------------------------------------------------------------------
class WhereDoesItLive(Problem):
    title = "Predict each key's node from the engine's slot map, then let MOVED confirm it"
    takes_answer = True
    needs = "cluster"
    hints = (
        "A key's slot: your own CRC16 (with the hash-tag rule, like slot_with_tags above) or the server's "
        "plain.execute_command('CLUSTER', 'KEYSLOT', key).",
        "The slot map: plain.execute_command('CLUSTER', 'SHARDS') lists each shard's slot ranges (shard['slots'], "
        "pairs of first and last slot) and its nodes (shard['nodes'], each with 'port' and 'role').",
        "Verify with the plain client: plain.get(key) answers for the keys of its own node and raises "
        "redis.exceptions.MovedError (error.port) for the others.",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        shards = plain.execute_command("CLUSTER", "SHARDS")

        def owner_port(slot):
            for shard in shards:
                ranges = shard["slots"]
                if any(ranges[i] <= slot <= ranges[i + 1] for i in range(0, len(ranges), 2)):
                    return next(node["port"] for node in shard["nodes"] if node["role"] == "master")

        answer = {key: owner_port(plain.execute_command("CLUSTER", "KEYSLOT", key)) for key in ex.q1.keys_to_find}

        for key, port in answer.items():          # verify: the plain client asks shard 0's primary
            try:
                plain.get(key)
                print(f"{key}: served by {cluster.primary(0).port}, predicted {port}")
            except redis.exceptions.MovedError as error:
                print(f"{key}: MOVED to {error.port}, predicted {port}")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            answer = {key: rc.get_node_from_key(key).port for key in ex.q1.keys_to_find}
        """), "CLUSTER SHARDS", why="the client's cached slot table: no question to the server"),
        Wrong(dedent("""
            ex.q1.prepare()
            shards = plain.execute_command("CLUSTER", "SHARDS")

            def owner_port(slot):
                for shard in shards:
                    ranges = shard["slots"]
                    if any(ranges[i] <= slot <= ranges[i + 1] for i in range(0, len(ranges), 2)):
                        return next(node["port"] for node in shard["nodes"] if node["role"] == "master")

            answer = {key: owner_port(slot_of(key)) for key in ex.q1.keys_to_find}
        """), "hash tag", why="hashes the whole key, ignoring the {...} tag"),
        Wrong(dedent("""
            ex.q1.prepare()
            plain.execute_command("CLUSTER", "SHARDS")
            answer = {key: cluster.primary(0).port for key in ex.q1.keys_to_find}
        """), "is not served by", why="the port of the plain client's node, copied for every key"),
        Wrong(dedent("""
            ex.q1.prepare()
            plain.execute_command("CLUSTER", "SHARDS")
            answer = {key: owners[slot_with_tags(key)] for key in ex.q1.keys_to_find}
        """), "port", why="shard numbers instead of the nodes' ports"),
        Wrong(dedent("""
            ex.q1.prepare()
            shards = plain.execute_command("CLUSTER", "SHARDS")

            def owner_port(slot):
                for shard in shards:
                    ranges = shard["slots"]
                    if any(ranges[i] <= slot <= ranges[i + 1] for i in range(0, len(ranges), 2)):
                        return next(node["port"] for node in shard["nodes"] if node["role"] == "master")

            answer = {key: owner_port(plain.execute_command("CLUSTER", "KEYSLOT", key)) for key in ex.q1.keys_to_find}
        """), "MOVED", why="a right prediction, never verified with the plain client"),
    )

    keys_to_find: tuple[str, ...] = ()

    def setup(self, r: Any) -> None:
        """Four keys of this run (one with a hash tag), written through the cluster client."""
        lab = self.lab
        owners = {slot: port for slot, port in self._slot_ports(lab).items()}
        home = lab.primary(0).port
        rng = self.rng
        while True:
            keys = [f"order:{rng.randint(10000, 99999)}", f"session:{rng.getrandbits(32):08x}", f"basket:{rng.randint(100, 999)}"]
            # The tagged key: its tag and its whole name fall on different nodes, so the tag rule matters.
            while True:
                tagged = f"{{user:{rng.randint(1000, 9999)}}}:cart"
                if owners[_crc_slot(_hashed_part(tagged))] != owners[_crc_slot(tagged)]:
                    break
            keys.insert(rng.randrange(len(keys) + 1), tagged)
            ports = {owners[_crc_slot(_hashed_part(key))] for key in keys}
            if home in ports and len(ports) >= 2:  # the plain client serves one of them and is MOVED for others
                break
        self.keys_to_find = tuple(keys)
        client = lab.client()
        try:
            for key in keys:
                client.set(key, f"value-{rng.randint(1, 999)}")
        finally:
            client.close()
        self._rejected_at_prepare = _rejected_calls(lab)
        print("keys of this run:", list(self.keys_to_find))

    @staticmethod
    def _slot_ports(lab: Any) -> dict[int, int]:
        ports = {}
        with _admin(lab) as client:
            for first, last, primary, *_replicas in client.execute_command("CLUSTER", "SLOTS"):
                for slot in range(int(first), int(last) + 1):
                    ports[slot] = int(primary[1])
        return ports

    def cleanup(self, r: Any) -> None:
        if self.keys_to_find:
            r.delete(*self.keys_to_find)

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        calls = self.commands_since_prepare()
        rejected = _rejected_calls(lab) - getattr(self, "_rejected_at_prepare", 0)
        expect(isinstance(answer, dict), f"pass a dict {{key: port of the primary that serves it}}; got {type(answer).__name__}")
        missing = [key for key in self.keys_to_find if key not in answer]
        expect(not missing, f"your dict has no port for {missing} (the keys of this run are in ex.q1.keys_to_find)")
        expect(calls.get("cluster|shards", 0) + calls.get("cluster|slots", 0) > 0,
               "the server was never asked for its slot map: read it with CLUSTER SHARDS (or CLUSTER SLOTS) on the plain "
               "client; a client library's cached table is not the engine's answer")
        ports = {node.port for node in lab.nodes}
        if all(value in lab.shards for value in answer.values()) and not any(value in ports for value in answer.values()):
            raise Incorrect("those are shard numbers; pass the port of the primary that serves each key "
                            "(CLUSTER SHARDS lists every node's 'port' and 'role')")
        for key in self.keys_to_find:
            slot = _server_slot(lab, key)
            port = _owner_port(lab, slot)
            if answer[key] != port:
                tag = _hashed_part(key)
                if tag != key and answer[key] == _owner_port(lab, _crc_slot(key)):
                    why = f"you hashed the whole name; look at its hash tag: only {tag!r} is hashed"
                else:
                    why = "find the slot's range in CLUSTER SHARDS and take that shard's primary"
                raise Incorrect(f"{key!r} (slot {slot}) is not served by port {answer[key]!r}: {why}")
        expect(rejected > 0, "your prediction is right, but not verified: ask the plain client for each key "
                             "(plain.get(key)); for a key of another node it answers MOVED with the port you predicted")
        return "every prediction matches CLUSTER SHARDS, and MOVED pointed where you said: " + ", ".join(f"{key} -> {answer[key]}" for key in self.keys_to_find)


# -- q2 ---------------------------------------------------------------------------------------------
FIELDS = ("items", "total", "status")


class OneSlotOrder(Problem):
    title = "Name an order's keys with a hash tag and store them with one MSET"
    takes_answer = True
    needs = "cluster"
    hints = (
        "Without a tag, 'order:<id>:items', 'order:<id>:total' and 'order:<id>:status' are in three slots: MSET "
        "refuses them (CROSSSLOT).",
        "Put the part that identifies the order in braces, e.g. '{order:<id>}:items': only the tag is hashed, so "
        "the three keys share a slot, and different orders still spread over the cluster.",
        "names = [f'{{order:{ex.q2.order_id}}}:{field}' for field in ex.q2.fields]; "
        "rc.mset(dict(zip(names, ex.q2.fields.values()))); answer = names",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        names = {field: f"{{order:{ex.q2.order_id}}}:{field}" for field in ex.q2.fields}
        rc.mset({names[field]: value for field, value in ex.q2.fields.items()})
        print(rc.mget(list(names.values())))
        answer = list(names.values())
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            names = {field: f"{{order:{ex.q2.order_id}}}:{field}" for field in ex.q2.fields}
            for field, value in ex.q2.fields.items():
                rc.set(names[field], value)
            answer = list(names.values())
        """), "one MSET", why="three SETs: not one atomic command"),
        Wrong(dedent("""
            ex.q2.prepare()
            names = {field: f"order:{ex.q2.order_id}:{field}" for field in ex.q2.fields}
            rc.mset_nonatomic({names[field]: value for field, value in ex.q2.fields.items()})
            answer = list(names.values())
        """), "slots", why="no hash tag: the command is split per slot"),
        Wrong(dedent("""
            ex.q2.prepare()
            names = {field: f"{{order}}:{ex.q2.order_id}:{field}" for field in ex.q2.fields}
            rc.mset({names[field]: value for field, value in ex.q2.fields.items()})
            answer = list(names.values())
        """), "order id", why="a tag without the order id: every order in one slot"),
        Wrong(dedent("""
            ex.q2.prepare()
            names = {field: f"{{cart:8}}:{field}" for field in ex.q2.fields}
            rc.mset({names[field]: value for field, value in ex.q2.fields.items()})
            answer = list(names.values())
        """), "order id", why="the tag copied from the cell above"),
    )

    order_id: int = 0
    fields: dict[str, str] = {}

    def setup(self, r: Any) -> None:
        """An order of this run: its id and three field values."""
        rng = self.rng
        self.order_id = rng.randint(1000, 99999)
        self.fields = {
            "items": str(rng.randint(1, 9)),
            "total": f"{rng.randint(500, 20000) / 100:.2f}",
            "status": rng.choice(("paid", "packed", "shipped")),
        }
        print(f"order {self.order_id}:", self.fields)

    def cleanup(self, r: Any) -> None:
        names = getattr(self, "_stored", ())
        if names:
            r.delete(*names)

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        calls = self.commands_since_prepare()
        expect(isinstance(answer, (list, tuple)) and all(isinstance(name, str) for name in answer),
               f"pass the list of your three key names; got {type(answer).__name__}")
        self._stored = tuple(answer)
        expect(len(answer) == 3, f"pass three key names (one per field: {', '.join(FIELDS)}); got {len(answer)}")
        by_field = {}
        for field in FIELDS:
            named = [name for name in answer if name.endswith(f":{field}")]
            expect(len(named) == 1, f"one name must end in ':{field}'; your names are {list(answer)}")
            by_field[field] = named[0]
        order = str(self.order_id)
        for name in answer:
            expect(order in _hashed_part(name),
                   f"{name!r}: the hashed part {_hashed_part(name)!r} does not contain the order id {order}; the tag must "
                   "identify this order, or every order lands in one slot (a hot spot)")
        slots = {name: _server_slot(lab, name) for name in answer}
        expect(len(set(slots.values())) == 1,
               f"your keys are in {len(set(slots.values()))} slots ({slots}): a hash tag makes them share one")
        for field, name in by_field.items():
            value = r.get(name)
            expect(value == self.fields[field], f"{name!r} holds {value!r}; ex.q2.fields says {self.fields[field]!r}")
        msets, sets = calls.get("mset", 0), calls.get("set", 0) + calls.get("setex", 0) + calls.get("msetnx", 0)
        expect(sets == 0 and msets == 1,
               f"the server saw {msets} MSET and {sets} other write commands: store the three keys with one MSET, "
               "so that they are written together, atomically")
        return f"one MSET in slot {next(iter(slots.values()))}: the order's keys live and change together"


# -- q3 ---------------------------------------------------------------------------------------------
class CountTenantKeys(Problem):
    title = "Count a tenant's keys with CLUSTER COUNTKEYSINSLOT"
    takes_answer = True
    needs = "cluster"
    hints = (
        "All of the tenant's keys carry the hash tag ex.q3.tag, so they share one slot: CLUSTER KEYSLOT of the tag gives it.",
        "CLUSTER COUNTKEYSINSLOT <slot> counts the keys of that slot on the node you ask; only the slot's owner has them "
        "(plain is shard 0's primary; rc.cluster_countkeysinslot(slot) sends it to the owner).",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        slot = plain.execute_command("CLUSTER", "KEYSLOT", ex.q3.tag)
        answer = rc.cluster_countkeysinslot(slot)     # redis-py sends it to the slot's owner
        print(f"slot {slot} holds {answer} keys")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            slot = plain.execute_command("CLUSTER", "KEYSLOT", ex.q3.tag)
            answer = plain.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)
        """), "only its own keys", why="asks shard 0's primary, which does not own the slot"),
        Wrong(dedent("""
            ex.q3.prepare()
            answer = rc.get_node_from_key(ex.q3.tag).redis_connection.dbsize()
        """), "every key of the shard", why="DBSIZE of the owner: the whole shard"),
        Wrong(dedent("""
            ex.q3.prepare()
            answer = len(list(rc.scan_iter(match=ex.q3.tag + ":*", count=1000)))
        """), "COUNTKEYSINSLOT", why="scans and counts the keys instead of asking the slot"),
        Wrong(dedent("""
            ex.q3.prepare()
            answer = 1000
        """), "printed above", why="tenant 42's count, copied from the cell above"),
    )

    tag: str = ""

    def setup(self, r: Any) -> None:
        """A tenant of this run: a tag in an empty slot that shard 0 does not own, and a drawn number of keys."""
        lab = self.lab
        rng = self.rng
        home = lab.primary(0).port
        while True:
            tenant = rng.randint(100, 9999)
            if tenant == 42:
                continue
            tag = f"{{tenant:{tenant}}}"
            slot = _server_slot(lab, tag)
            port = _owner_port(lab, slot)
            if port == home:
                continue
            with lab.node(port).client(socket_timeout=2.0) as owner:
                if int(owner.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)) == 0:
                    break
        self.tag, self._slot, self._count = tag, slot, rng.randint(25, 90)
        client = lab.client()
        try:
            with client.pipeline() as pipe:
                for number in range(self._count):
                    pipe.set(f"{tag}:doc:{number}", number)
                pipe.execute()
        finally:
            client.close()
        print("this run's tenant:", tag)

    def cleanup(self, r: Any) -> None:
        if self.tag:
            r.delete(*(f"{self.tag}:doc:{number}" for number in range(self._count)))

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        calls = self.commands_since_prepare()
        expect(isinstance(answer, int) and not isinstance(answer, bool), f"pass a whole number of keys; got {answer!r}")
        owner = lab.node(_owner_port(lab, self._slot))
        with owner.client(socket_timeout=2.0) as client:
            actual = int(client.execute_command("CLUSTER", "COUNTKEYSINSLOT", self._slot))
            shard_keys = int(client.dbsize())
        expect(not (answer == 1000 and actual != 1000), f"1000 is tenant 42's count printed above; count the keys of {self.tag}")
        expect(not (answer == 0 and actual > 0),
               f"0: the node you asked has no key of slot {self._slot}. Each node counts only its own keys: ask the "
               f"slot's owner ({owner.name})")
        expect(not (answer == shard_keys and actual != shard_keys),
               f"{answer} is every key of the shard (DBSIZE); the tenant's keys are those of one slot")
        expect(answer == actual, f"{answer} is not the number of keys in slot {self._slot}, the slot of {self.tag}")
        expect(calls.get("cluster|countkeysinslot", 0) > 0,
               "the number is right, but count with CLUSTER COUNTKEYSINSLOT: one command on the slot's owner, "
               "instead of fetching every key")
        return f"{actual} keys in slot {self._slot}, all on {owner.name}: one slot, one shard"


q1 = WhereDoesItLive()
q2 = OneSlotOrder()
q3 = CountTenantKeys()

"""Exercises for notebook 13_cluster_sharding_and_hash_slots: slots, shards, keys per shard, hash tags.

They check a live cluster::

    from labkit.exercises import sharding as ex
    ex.use(cluster)
    ex.q1.check({key: slot_of(key) for key in ex.KEYS})
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from ..node import NodeStatus, Role
from .core import Incorrect, NotAttempted, Problem, expect, use

__all__ = ["NOTEBOOK", "CART", "KEYS", "PAGE_VIEWS", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "13_cluster_sharding_and_hash_slots"

#: q1, q2: keys whose slot and shard you compute. Some have a hash tag, one an empty tag, one two tags.
KEYS: tuple[str, ...] = (
    "user:1000",
    "session:9f3b2c",
    "cart:{user:1000}",
    "{user:1000}:orders",
    "leaderboard:2026",
    "{}:empty-tag",
    "a{b}{c}",
)
#: q3: how many page-view counters the prepared data holds (`pageviews:0` ... `pageviews:999`).
PAGE_VIEWS = 1000
#: q4: user 7's cart; stored under these names, its keys are in three different slots.
CART: dict[str, str] = {"cart:7:items": "3", "cart:7:total": "59.90", "cart:7:currency": "EUR"}
#: q4: the names to store them under, so that all three share a slot.
CART_TAGGED: dict[str, str] = {"{cart:7}:items": "3", "{cart:7}:total": "59.90", "{cart:7}:currency": "EUR"}


def _primaries(lab: Any) -> list:
    return [node for node in lab.nodes if node.role is Role.PRIMARY and node.status is NodeStatus.UP]


def _admin(lab: Any):
    """A plain client of one live primary, for CLUSTER KEYSLOT / CLUSTER SLOTS."""
    return _primaries(lab)[0].client(socket_timeout=2.0)


def _server_slot(lab: Any, key: str) -> int:
    with _admin(lab) as client:
        return int(client.execute_command("CLUSTER", "KEYSLOT", key))


def _shard_of_slot(lab: Any, slot: int) -> int:
    with _admin(lab) as client:
        for first, last, primary, *_replicas in client.execute_command("CLUSTER", "SLOTS"):
            if int(first) <= slot <= int(last):
                return lab.node(int(primary[1])).shard
    raise Incorrect(f"no shard serves slot {slot} right now; is the cluster healthy?")


def _mapping(answer: Any, what: str) -> dict:
    if not isinstance(answer, dict):
        raise Incorrect(f"pass a dict of {what}; got {type(answer).__name__}")
    return answer


class SlotOfKey(Problem):
    title = "Compute each key's hash slot"
    takes_answer = True
    needs = "cluster"
    hints = (
        "slot = CRC16(key) % 16384, with the CRC16-XMODEM variant (binascii.crc_hqx(data, 0) computes it).",
        "Hash tags: if the key has a '{' followed later by a '}' with at least one character between, only that part is hashed.",
        "Only the FIRST '{' counts, and '{}' (nothing inside) means the whole key is hashed.",
    )
    solution_code = dedent("""
        import binascii
        from labkit.exercises import sharding as ex

        def slot_of(key):
            start = key.find("{")
            if start != -1:
                end = key.find("}", start + 1)
                if end > start + 1:
                    key = key[start + 1:end]
            return binascii.crc_hqx(key.encode(), 0) % 16384

        answer = {key: slot_of(key) for key in ex.KEYS}
    """)
    wrong_code = dedent("""
        import binascii
        from labkit.exercises import sharding as ex
        answer = {key: binascii.crc_hqx(key.encode(), 0) % 16384 for key in ex.KEYS}
    """)
    wrong_message = "hash tag"

    def verify(self, r: Any, answer: Any) -> str:
        slots = _mapping(answer, "key -> slot, one per key of ex.KEYS")
        missing = [key for key in KEYS if key not in slots]
        expect(not missing, f"your dict has no slot for {missing}")
        for key in KEYS:
            expected = _server_slot(self.lab, key)
            if slots[key] != expected:
                start = key.find("{")
                tag = start != -1 and key.find("}", start + 1) > start + 1
                why = " Look at its hash tag: only the part between the first { and the next } is hashed." if tag else ""
                raise Incorrect(f"{key!r}: you computed slot {slots[key]}, the server says {expected}.{why}")
        return "every slot matches CLUSTER KEYSLOT"


class ShardOfKey(Problem):
    title = "Predict each key's shard"
    takes_answer = True
    needs = "cluster"
    hints = (
        "Compute the slot first (exercise 1), then find which shard's primary serves it.",
        "lab.state() lists each primary's slot ranges; state.slot_owners()[slot] is the shard that owns a slot.",
    )
    solution_code = dedent("""
        from labkit.exercises import sharding as ex
        owners = lab.state().slot_owners()
        answer = {key: owners[r.keyslot(key)] for key in ex.KEYS}
    """)
    wrong_code = dedent("""
        from labkit.exercises import sharding as ex
        answer = {key: r.keyslot(key) % 3 for key in ex.KEYS}
    """)
    wrong_message = "which shard"

    def verify(self, r: Any, answer: Any) -> str:
        shards = _mapping(answer, "key -> shard number, one per key of ex.KEYS")
        missing = [key for key in KEYS if key not in shards]
        expect(not missing, f"your dict has no shard for {missing}")
        for key in KEYS:
            slot = _server_slot(self.lab, key)
            owner = _shard_of_slot(self.lab, slot)
            expect(shards[key] == owner, f"{key!r} is in slot {slot}, which shard {owner} serves, not shard {shards[key]!r}")
        return "every key is where you predicted: " + ", ".join(f"{key} -> {shards[key]}" for key in KEYS)


class KeysPerShard(Problem):
    title = "Count the keys on each shard"
    takes_answer = True
    needs = "cluster"
    hints = (
        "DBSIZE on one node counts that node's keys; a shard's keys are on its primary.",
        "lab.primary(shard).client().dbsize() for each shard in lab.shards (lab.keys_per_shard() does exactly that).",
    )
    solution_code = "answer = {shard: lab.primary(shard).client().dbsize() for shard in lab.shards}"
    wrong_code = "answer = {shard: r.dbsize() for shard in lab.shards}"
    wrong_message = "holds"

    def prepare(self, r: Any) -> None:
        """Write the page-view counters through the cluster client."""
        client = self.lab.client()
        pipe = client.pipeline()
        for number in range(PAGE_VIEWS):
            pipe.set(f"pageviews:{number}", number)
        pipe.execute()
        client.close()

    def verify(self, r: Any, answer: Any) -> str:
        counts = _mapping(answer, "shard number -> keys")
        lab = self.lab
        for shard in lab.shards:
            with lab.primary(shard).client(socket_timeout=2.0) as client:
                actual = client.dbsize()
            expect(shard in counts, f"your dict has no count for shard {shard}")
            expect(counts[shard] == actual, f"shard {shard} holds {actual} keys, not {counts[shard]!r}")
        expect(set(counts) <= set(lab.shards), f"this cluster has shards {lab.shards}; your dict also names {sorted(set(counts) - set(lab.shards))}")
        return "keys per shard: " + ", ".join(f"shard {shard} {counts[shard]}" for shard in lab.shards)


class OneSlotCart(Problem):
    title = "Store a cart with one MSET"
    needs = "cluster"
    keys = tuple(CART_TAGGED)
    hints = (
        "MSET on a cluster needs every key in one slot, or it fails (CROSSSLOT).",
        "Use the names in ex.CART_TAGGED: the hash tag {cart:7} puts them in one slot, so r.mset(ex.CART_TAGGED) works.",
    )
    solution_code = dedent("""
        from labkit.exercises import sharding as ex
        r.mset(ex.CART_TAGGED)
    """)
    wrong_code = dedent("""
        from labkit.exercises import sharding as ex
        for key, value in ex.CART_TAGGED.items():
            r.set(key, value)
    """)
    wrong_message = "one MSET"

    def prepare(self, r: Any) -> None:
        """Zero the command counters of every primary, so the check can tell MSET from SET."""
        for node in _primaries(self.lab):
            with node.client(socket_timeout=2.0) as client:
                client.config_resetstat()

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        for key, value in CART_TAGGED.items():
            found = r.get(key)
            expect(found is not None, f"{key!r} does not exist")
            expect(found == value, f"{key!r} is {found!r}; it should be {value!r}")
        owner = lab.primary(_shard_of_slot(lab, _server_slot(lab, next(iter(CART_TAGGED)))))
        with owner.client(socket_timeout=2.0) as client:
            stats = client.info("commandstats")
        msets = int(stats.get("cmdstat_mset", {}).get("calls", 0))
        sets = int(stats.get("cmdstat_set", {}).get("calls", 0))
        if msets == 0 and sets == 0:
            raise NotAttempted("no MSET or SET reached the cart's shard since ex.q4.prepare(...)")
        expect(msets >= 1 and sets == 0, f"the cart's shard saw {sets} SET and {msets} MSET commands: store all three keys with one MSET")
        return "one MSET, one slot, one shard: the three keys were written atomically"


q1 = SlotOfKey()
q2 = ShardOfKey()
q3 = KeysPerShard()
q4 = OneSlotCart()

"""Copy keys between servers the engine's own way: DUMP and PTTL on one side, RESTORE on the other.

A DUMP payload is the key's value in the engine's serialization format (with a version and a
checksum), so any type copies, and RESTORE recreates it exactly; PTTL carries the time left to
live. Vertical scaling (`scale_up`) and snapshot restores (`labkit.backup`) copy with these.

Example::

    writer = target.client(decode_responses=False)
    for keys, replies in dumped_batches(node):           # 500 keys and their DUMP/PTTL replies
        restore_batch(writer, keys, replies)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .node import Node

#: Keys read (SCAN COUNT) and dumped per round trip.
BATCH_KEYS = 500


def batches(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of `size` items from `iterable` (the last one shorter).

    Example::

        list(batches(range(5), 2))    # [[0, 1], [2, 3], [4]]
    """
    batch = []
    for item in iterable:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def dump_with_ttl(client: Any, keys: list) -> list:
    """DUMP and PTTL of each key, in one round trip: [payload0, ttl0, payload1, ttl1, ...].

    A key that expired or was deleted meanwhile has payload None and TTL -2; -1 means no TTL.

    Example::

        dump_with_ttl(node.client(decode_responses=False), [b"user:1"])   # [b'\\x00...', -1]
    """
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.dump(key)
        pipe.pttl(key)
    return pipe.execute()


def dumped_batches(node: Node, db: int = 0) -> Iterator[tuple[list[bytes], list]]:
    """The keys of one node's database `db`, 500 at a time, each batch with its DUMP and PTTL replies.

    Example::

        for keys, replies in dumped_batches(group.primary()):
            ...
    """
    with node.client(decode_responses=False, socket_timeout=10.0, db=db) as reader:
        for keys in batches(reader.scan_iter(count=BATCH_KEYS), BATCH_KEYS):
            yield keys, dump_with_ttl(reader, keys)


def restore_batch(writer: Any, keys: list, replies: list) -> tuple[int, int]:
    """RESTORE (REPLACE) each key of a dumped batch through `writer`, in one pipeline; returns
    (keys restored, of which with a TTL). Keys that expired before they were dumped are skipped.

    `writer` may be a cluster client: its pipeline sends each RESTORE to the shard of its slot.

    Example::

        restore_batch(cluster.client(decode_responses=False), keys, replies)
    """
    pipe = writer.pipeline(transaction=False)
    restored = with_ttl = 0
    for index, key in enumerate(keys):
        payload, ttl = replies[2 * index], replies[2 * index + 1]
        if payload is None or ttl == -2:
            continue  # expired (or deleted) between SCAN and DUMP
        pipe.restore(key, max(ttl, 0), payload, replace=True)
        restored += 1
        with_ttl += ttl > 0
    if restored:
        pipe.execute()
    return restored, with_ttl


def same_value(source: Any, target: Any, key: Any) -> bool:
    """Whether `key` holds the same value on two servers, compared by type (not by DUMP payload).

    Two equal values may serialize differently: a small set kept as a hash table (Redis 7.0) lists its
    members in another order after RESTORE. Use it when DUMP payloads differ.

    Example::

        same_value(old_node.client(), new_cluster.client(), "user:1")
    """
    kind, other = (_text(client.type(key)) for client in (source, target))
    if kind != other:
        return False
    read = {
        "string": lambda client: client.get(key),
        "hash": lambda client: client.hgetall(key),
        "set": lambda client: client.smembers(key),
        "zset": lambda client: client.zrange(key, 0, -1, withscores=True),
        "list": lambda client: client.lrange(key, 0, -1),
        "stream": lambda client: client.xrange(key),
    }.get(kind)
    return read is not None and read(source) == read(target)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value

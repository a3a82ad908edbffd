"""Copying keys with DUMP/PTTL and RESTORE: batches, each type and TTL kept, expired keys skipped."""

from __future__ import annotations

import labkit
from labkit.keycopy import batches, dump_with_ttl, dumped_batches, restore_batch, same_value


def test_batches_cut_an_iterable_into_lists_of_the_given_size():
    assert list(batches(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(batches([], 3)) == []


def test_dumped_keys_restore_with_their_values_and_ttls(standalone, fresh_client):
    fresh_client.set("plain", "1")
    fresh_client.set("expiring", "2", px=90_000)
    fresh_client.hset("profile", mapping={"name": "Ada"})
    other = standalone.client(db=1, decode_responses=False)
    other.flushdb()
    try:
        [(keys, replies)] = list(dumped_batches(standalone.node0))
        assert sorted(keys) == [b"expiring", b"plain", b"profile"]
        assert restore_batch(other, keys, replies) == (3, 1)
        assert other.get(b"plain") == b"1" and other.hgetall(b"profile") == {b"name": b"Ada"}
        assert 0 < other.pttl(b"expiring") <= 90_000 and other.pttl(b"plain") == -1
        # A key gone between SCAN and DUMP (payload None, PTTL -2) is skipped, not restored empty.
        assert dump_with_ttl(fresh_client, ["missing"]) == [None, -2]
        assert restore_batch(other, [b"missing"], [None, -2]) == (0, 0)
        assert other.exists(b"missing") == 0
    finally:
        other.flushdb()
        other.close()


def test_same_value_compares_by_type_not_by_payload(standalone):
    with labkit.Standalone() as other:
        a, b = standalone.client(), other.client()
        try:
            a.sadd("same:set", "x", "y"), b.sadd("same:set", "y", "x")
            a.hset("same:hash", mapping={"f": "1"}), b.hset("same:hash", mapping={"f": "2"})
            a.set("same:kind", "1"), b.rpush("same:kind", "1")
            assert same_value(a, b, "same:set")
            assert not same_value(a, b, "same:hash")
            assert not same_value(a, b, "same:kind"), "a string and a list are never the same value"
        finally:
            a.delete("same:set", "same:hash", "same:kind")

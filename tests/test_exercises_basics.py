"""The mistakes learners make in notebooks 00-03 get messages that name them (real server).

tests/test_exercises.py runs each exercise's solution and one declared mistake; these are the
other mistakes the notebooks warn about, and odd answers that must not crash a check."""

from __future__ import annotations

import pytest

from labkit.exercises import Outcome, hashes, lists, strings, welcome


def _incorrect(result, *fragments: str) -> None:
    assert result.outcome is Outcome.INCORRECT, str(result)
    for fragment in fragments:
        assert fragment in result.message, str(result)


def test_a_greeting_stored_as_a_list_is_a_wrong_type(fresh_client):
    fresh_client.rpush("welcome:greeting", "hello, world")
    _incorrect(welcome.q1.check(client=fresh_client), "holds a list", "needs a string")


def test_separate_round_trips_give_no_list_of_replies(fresh_client):
    for n in range(1, 21):
        fresh_client.set(f"welcome:square:{n}", n * n)
    _incorrect(welcome.q2.check(True, client=fresh_client), "execute() returned")
    _incorrect(welcome.q2.check([True] * 19, client=fresh_client), "19 replies")


def test_persistence_answer_must_name_both_settings(fresh_client):
    _incorrect(welcome.q3.check({"save": ""}, client=fresh_client), "no 'appendonly' entry")


def test_a_window_that_already_existed_with_another_count_is_wrong(fresh_client):
    fresh_client.set("ratelimit:alice", 5, ex=60)
    _incorrect(strings.q1.check(client=fresh_client), "holds '5'")


def test_a_ttl_longer_than_the_window_is_reported(fresh_client):
    fresh_client.set("ratelimit:alice", 1, ex=3600)
    _incorrect(strings.q1.check(client=fresh_client), "TTL of 3600.0 s")


def test_mget_answer_in_another_order_is_wrong(fresh_client):
    fresh_client.mset({"user:1:name": "Ada", "user:2:name": "Grace", "user:3:name": "Edsger"})
    _incorrect(strings.q2.check(["Edsger", "Grace", "Ada", None], client=fresh_client), "order of the keys")


def test_a_price_that_is_not_a_number_is_named(fresh_client):
    fresh_client.set("stock:widget", 7)
    fresh_client.set("price:widget", "two seventy-five")
    _incorrect(strings.q3.check(client=fresh_client), "not a number")


def test_a_cache_that_never_reads_the_cache_is_caught(fresh_client):
    def always_computes(n):
        fresh_client.set(f"cache:square:{n}", n * n, ex=30)
        return n * n

    _incorrect(strings.q4.check(always_computes, client=fresh_client), "must read the cache before computing")


def test_passing_the_result_instead_of_the_function_is_explained(fresh_client):
    _incorrect(strings.q4.check(144, client=fresh_client), "answer should be your function")


def test_a_function_that_raises_is_reported_not_raised(fresh_client):
    def broken(n):
        raise RuntimeError("oops")

    _incorrect(strings.q4.check(broken, client=fresh_client), "RuntimeError")


def test_an_untrimmed_list_is_reported(fresh_client):
    fresh_client.lpush("recent:alice", *[f"e{i}" for i in range(1, 16)])
    _incorrect(lists.q1.check(client=fresh_client), "has 15 items", "LTRIM")


def test_the_newest_ten_in_the_wrong_order(fresh_client):
    fresh_client.rpush("recent:alice", *[f"e{i}" for i in range(6, 16)])
    _incorrect(lists.q1.check(client=fresh_client), "right events in the wrong order")


def test_recovering_by_copying_leaves_the_processing_list(fresh_client):
    lists.q3.prepare(fresh_client)
    fresh_client.rpush("queue:orders", "order:42")
    _incorrect(lists.q3.check(client=fresh_client), "'processing:worker-1' still holds")


def test_deleting_the_crashed_message_is_a_loss(fresh_client):
    lists.q3.prepare(fresh_client)
    fresh_client.delete("processing:worker-1")
    _incorrect(lists.q3.check(client=fresh_client), "order:42 is lost")


def test_the_recovery_exercise_without_its_setup_says_how_to_start(fresh_client):
    result = lists.q3.check(client=fresh_client)
    assert result.outcome is Outcome.NOT_ATTEMPTED and "set-up cell" in result.message


def test_a_profile_that_kept_its_email(fresh_client):
    fresh_client.hset("user:1000", mapping={"name": "Ada", "email": "ada@example.com", "visits": 3})
    _incorrect(hashes.q1.check(client=fresh_client), "still has an 'email' field")


def test_a_touch_that_revives_expired_sessions_is_caught(fresh_client):
    def reviving_touch(session_id):
        key = f"session:{session_id}"
        fresh_client.hincrby(key, "requests", 1)
        fresh_client.expire(key, 1800)
        return True

    _incorrect(hashes.q2.check(reviving_touch, client=fresh_client), "must stay expired")
    assert not fresh_client.exists("session:check-gone", "session:check-live"), "the check must clean up after itself"


def test_a_touch_that_drops_the_ttl_is_caught(fresh_client):
    def persisting_touch(session_id):
        key = f"session:{session_id}"
        if not fresh_client.exists(key):
            return False
        fresh_client.hincrby(key, "requests", 1)
        fresh_client.persist(key)
        return True

    _incorrect(hashes.q2.check(persisting_touch, client=fresh_client), "removed the TTL")


@pytest.mark.parametrize("extra", [10, 1])
def test_more_fields_than_needed_is_reported(fresh_client, extra):
    limit = hashes.q3.limit(fresh_client)
    fresh_client.hset("counts:big", mapping={f"f{i}": i for i in range(limit + extra)})
    result = hashes.q3.check(client=fresh_client)
    if extra == 1:
        assert result.outcome is Outcome.CORRECT, str(result)
    else:
        _incorrect(result, f"the fewest that leave the listpack are {limit + 1}")


def test_a_long_value_converts_the_hash_but_is_not_the_fewest_fields(fresh_client):
    fresh_client.hset("counts:big", mapping={"bio": "x" * 200})
    _incorrect(hashes.q3.check(client=fresh_client), "keep the values short")

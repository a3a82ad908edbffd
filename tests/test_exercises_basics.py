"""Checks of notebooks 01 and 03 that call the learner's function write to the server: they must
leave nothing behind, whatever the function did. (Each exercise's mistakes are declared as
`wrong_answers` and tried in its notebook by tests/test_exercises_in_notebooks.py.)"""

from __future__ import annotations

from labkit.exercises import Outcome, hashes, strings


def test_the_session_check_cleans_up_after_a_reviving_touch(fresh_client):
    def reviving_touch(session_id):
        key = f"session:{session_id}"
        fresh_client.hincrby(key, "requests", 1)
        fresh_client.expire(key, 1800)
        return True

    result = hashes.q2.check(reviving_touch, client=fresh_client)
    assert result.outcome is Outcome.INCORRECT and "must stay expired" in result.message, str(result)
    assert not list(fresh_client.scan_iter(match="session:check-*")), "the check must delete the sessions it made"


def test_the_cache_check_cleans_up_after_a_function_that_raises(fresh_client):
    def broken(n):
        fresh_client.set(f"cache:square:{n}", n * n, ex=30)
        raise RuntimeError("oops")

    result = strings.q4.check(broken, client=fresh_client)
    assert result.outcome is Outcome.INCORRECT and "RuntimeError" in result.message, str(result)
    assert not list(fresh_client.scan_iter(match="cache:square:*")), "the check must delete the key it planted"

"""The check/hint/solution framework itself, on fakeredis (pure logic, no topology)."""

from __future__ import annotations

import fakeredis
import pytest

from labkit.exercises import Outcome, Problem, expect, expect_ttl, expect_type


class Counter(Problem):
    title = "Count to two"
    keys = ("views",)
    hints = ("Use INCR.", "Call it twice.")
    solution_code = "r.incr('views')\nr.incr('views')"

    def verify(self, r, answer):
        expect_type(r, "views", "string")
        expect(r.get("views") == "2", "views should be 2")


class Answer(Problem):
    title = "Pass 42"
    takes_answer = True

    def verify(self, r, answer):
        expect(answer == 42, f"expected 42, got {answer!r}")


@pytest.fixture()
def r():
    return fakeredis.FakeRedis(decode_responses=True)


def test_missing_keys_mean_not_attempted(r):
    assert Counter().check(client=r).outcome is Outcome.NOT_ATTEMPTED


def test_correct_state_passes(r):
    r.incr("views")
    r.incr("views")
    result = Counter().check(client=r)
    assert result.correct and bool(result)


def test_wrong_value_names_the_mistake(r):
    r.set("views", "7")
    result = Counter().check(client=r)
    assert result.outcome is Outcome.INCORRECT and "views should be 2" in result.message


def test_wrong_type_is_reported_not_raised(r):
    r.rpush("views", "a")
    result = Counter().check(client=r)
    assert result.outcome is Outcome.INCORRECT and "holds a list" in result.message


@pytest.mark.parametrize("odd", [None, ...])
def test_no_answer_is_not_attempted(r, odd):
    assert Answer().check(odd, client=r).outcome is Outcome.NOT_ATTEMPTED


@pytest.mark.parametrize("odd", ["42", 41, ValueError("boom"), object(), [42]])
def test_odd_answers_are_incorrect_without_crashing(r, odd):
    assert Answer().check(odd, client=r).outcome is Outcome.INCORRECT


def test_a_verify_that_crashes_still_returns_a_result(r):
    class Broken(Problem):
        takes_answer = True

        def verify(self, r, answer):
            return answer["missing"]

    result = Broken().check({}, client=r)
    assert result.outcome is Outcome.INCORRECT and "KeyError" in result.message


def test_ttl_helper(r):
    r.set("session", "x")
    with pytest.raises(Exception, match="no TTL"):
        expect_ttl(r, "session", 1, 10)
    r.expire("session", 5)
    expect_ttl(r, "session", 1, 10)


def test_hints_come_one_after_another(capsys):
    problem = Counter()
    problem.hint()
    problem.hint()
    problem.hint()
    out = capsys.readouterr().out
    assert "hint 1 of 2" in out and out.count("hint 2 of 2") == 2


def test_solution_prints_code(capsys):
    Counter().solution()
    assert "r.incr('views')" in capsys.readouterr().out

"""The check/hint/solution framework itself, on fakeredis (pure logic, no topology)."""

from __future__ import annotations

import fakeredis
import pytest

from labkit.exercises import Outcome, Problem, Wrong, call_learner, command_calls, expect, expect_ttl, expect_type


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


# -- evidence of how, per-run data, stubs (a real server: fakeredis has no INFO commandstats) ----------

class OneIncrPerView(Problem):
    title = "Count views with INCR"
    keys = ("views",)

    def setup(self, r):
        self.start = self.rng.randint(10, 99)
        r.set("views", self.start)

    def verify(self, r, answer):
        calls = self.commands_since_prepare()
        increments = calls.get("incr", 0) + calls.get("incrby", 0)  # redis-py's incr() sends INCRBY
        expect(increments == 2, f"the server saw {increments} INCR; count each view with INCR")
        expect(r.get("views") == str(self.start + 2), "views should have grown by 2")


def test_commands_since_prepare_tells_incr_from_a_set_of_the_total(fresh_client):
    problem = OneIncrPerView()
    problem.prepare(client=fresh_client)
    fresh_client.set("views", problem.start + 2)  # the right final value, reached the wrong way
    result = problem.check(client=fresh_client)
    assert result.outcome is Outcome.INCORRECT and "saw 0 INCR" in result.message
    problem.prepare(client=fresh_client)
    fresh_client.incr("views")
    fresh_client.incr("views")
    assert problem.check(client=fresh_client).correct
    assert problem.check(client=fresh_client).correct, "the check's own reads must not count as the learner's"


def test_prepare_draws_fresh_data_each_run(fresh_client):
    problem = OneIncrPerView()
    starts = set()
    for _ in range(8):
        problem.prepare(client=fresh_client)
        starts.add(problem.start)
    assert len(starts) > 1
    problem.prepare(client=fresh_client, seed=7)
    first = problem.start
    problem.prepare(client=fresh_client, seed=7)
    assert problem.start == first


def test_evidence_without_prepare_is_not_attempted(fresh_client):
    problem = OneIncrPerView()
    fresh_client.set("views", 2)
    result = problem.check(client=fresh_client)
    assert result.outcome is Outcome.NOT_ATTEMPTED and "ex.q" not in result.message or "prepare()" in result.message


def test_reset_deletes_the_keys_and_forgets_the_counters(fresh_client):
    problem = OneIncrPerView()
    problem.prepare(client=fresh_client)
    problem.reset(client=fresh_client)
    assert not fresh_client.exists("views") and problem.check(client=fresh_client).outcome is Outcome.NOT_ATTEMPTED


def test_command_calls_sums_a_topology_and_names_subcommands(fresh_client):
    before = command_calls(fresh_client)
    fresh_client.config_get("maxmemory")
    after = command_calls(fresh_client)
    assert after.get("config|get", 0) - before.get("config|get", 0) == 1


def test_a_stub_that_raises_not_implemented_is_not_attempted(r):
    class Function(Problem):
        takes_answer = True

        def verify(self, r, answer):
            call_learner(answer, 1)

    def stub(n):
        raise NotImplementedError

    result = Function().check(stub, client=r)
    assert result.outcome is Outcome.NOT_ATTEMPTED and "NotImplementedError" in result.message


def test_wrong_answers_are_declared_as_data():
    wrong = Wrong("r.set('k', 1)", "has no TTL", why="skips EX")
    assert (wrong.code, wrong.message, wrong.why) == ("r.set('k', 1)", "has no TTL", "skips EX")


def test_command_calls_of_a_topology_sum_its_nodes():
    import labkit

    with labkit.ReplicationGroup(replicas=1) as group:
        before = command_calls(group)
        group.client(group.primary()).set("k", 1)
        group.client(group.replicas()[0]).get("k")
        after = command_calls(group)
        everywhere = command_calls(group, replicas=True)
    assert after["set"] - before.get("set", 0) == 1, "a write counts once, on the primary"
    assert after.get("get", 0) == before.get("get", 0), "a replica's reads count only with replicas=True"
    assert everywhere["get"] >= 1 and everywhere["set"] >= after["set"] + 1, "the replica replays the SET"


def test_command_calls_of_a_cluster_client_reads_every_primary(cluster):
    client = cluster.client()
    before = command_calls(client)
    keys = [f"spread:{number}" for number in range(30)]  # 30 keys land on all three shards
    for key in keys:
        client.set(key, 1)
    after = command_calls(client)
    client.delete(*keys)
    assert after["set"] - before.get("set", 0) == 30


def test_a_failing_learner_function_is_named_with_r_not_the_clients_repr(r):
    def broken(client, n):
        raise ValueError("boom")

    with pytest.raises(Exception, match=r"broken\(r, 3\) raised ValueError: boom"):
        call_learner(broken, r, 3)

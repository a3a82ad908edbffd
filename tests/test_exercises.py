"""Every exercise, on a real server, three ways: solution passes, a wrong answer fails with its
intended message, and doing nothing reports "not attempted"."""

from __future__ import annotations

import importlib
import pkgutil
import textwrap

import pytest

import labkit
import labkit.exercises as exercises_package
from labkit.exercises import Outcome, Problem


def _all_problems() -> list[tuple[str, Problem]]:
    found = []
    for module_info in pkgutil.iter_modules(exercises_package.__path__):
        if module_info.name in ("core",):
            continue
        module = importlib.import_module(f"labkit.exercises.{module_info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Problem):
                found.append((f"{module_info.name}.{name}", value))
    return found


PROBLEMS = _all_problems()


@pytest.fixture()
def target(request, standalone):
    """(client, topology) for a problem: the shared server, or a fresh topology of the kind it needs."""
    problem: Problem = request.getfixturevalue("problem")
    if problem.needs == "server":
        client = standalone.client()
        client.flushall()
        yield client, None
        client.close()
        return
    factories = {"replication": lambda: labkit.ReplicationGroup(replicas=2), "cluster": lambda: labkit.Cluster(shards=3, replicas=2)}
    assert problem.needs in factories, f"unknown needs={problem.needs!r}"
    with factories[problem.needs]() as lab:
        yield lab.client(), lab


def _run(code: str, r, lab) -> dict:
    namespace: dict = {"r": r, "lab": lab}
    exec(textwrap.dedent(code), namespace)  # noqa: S102 - the exercise's own solution or mistake
    return namespace


def _check(problem: Problem, r, lab, namespace: dict | None):
    answer = namespace.get("answer") if namespace is not None and problem.takes_answer else exercises_package.MISSING
    return problem.check(answer, client=r, topology=lab)


@pytest.mark.parametrize("name,problem", PROBLEMS, ids=[name for name, _ in PROBLEMS])
def test_solution_passes(name, problem, target):
    r, lab = target
    _prepare(problem, r, lab)
    result = _check(problem, r, lab, _run(problem.solution_code, r, lab))
    assert result.outcome is Outcome.CORRECT, f"{name}: {result}"


@pytest.mark.parametrize("name,problem", PROBLEMS, ids=[name for name, _ in PROBLEMS])
def test_wrong_answer_fails_with_its_message(name, problem, target):
    assert problem.wrong_code and problem.wrong_message, f"{name} declares no wrong answer to test"
    r, lab = target
    _prepare(problem, r, lab)
    result = _check(problem, r, lab, _run(problem.wrong_code, r, lab))
    assert result.outcome is Outcome.INCORRECT, f"{name}: {result}"
    assert problem.wrong_message in result.message, f"{name}: {result}"


@pytest.mark.parametrize("name,problem", PROBLEMS, ids=[name for name, _ in PROBLEMS])
def test_doing_nothing_is_not_attempted(name, problem, target):
    r, lab = target
    _prepare(problem, r, lab)
    result = _check(problem, r, lab, None)
    assert result.outcome is Outcome.NOT_ATTEMPTED, f"{name}: {result}"


def _prepare(problem: Problem, r, lab) -> None:
    """Run the problem's set-up; topology problems reach their lab through `self.lab` in prepare()."""
    problem._topology = lab
    problem.prepare(r)

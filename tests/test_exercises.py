"""Every exercise, on a real server, three ways: solution passes, a wrong answer fails with its
intended message, and doing nothing reports "not attempted"."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

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


def _run(code: str, r) -> dict:
    namespace: dict = {"r": r}
    exec(code, namespace)  # noqa: S102 - the exercise's own solution or mistake
    return namespace


def _check(problem: Problem, namespace: dict, r):
    if problem.takes_answer:
        return problem.check(namespace.get("answer"), client=r)
    return problem.check(client=r)


@pytest.mark.parametrize("name,problem", PROBLEMS, ids=[name for name, _ in PROBLEMS])
def test_solution_passes(name, problem, fresh_client):
    problem.prepare(fresh_client)
    result = _check(problem, _run(problem.solution_code, fresh_client), fresh_client)
    assert result.outcome is Outcome.CORRECT, f"{name}: {result}"


@pytest.mark.parametrize("name,problem", PROBLEMS, ids=[name for name, _ in PROBLEMS])
def test_wrong_answer_fails_with_its_message(name, problem, fresh_client):
    assert problem.wrong_code and problem.wrong_message, f"{name} declares no wrong answer to test"
    problem.prepare(fresh_client)
    result = _check(problem, _run(problem.wrong_code, fresh_client), fresh_client)
    assert result.outcome is Outcome.INCORRECT, f"{name}: {result}"
    assert problem.wrong_message in result.message, f"{name}: {result}"


@pytest.mark.parametrize("name,problem", PROBLEMS, ids=[name for name, _ in PROBLEMS])
def test_doing_nothing_is_not_attempted(name, problem, fresh_client):
    problem.prepare(fresh_client)
    result = problem.check(client=fresh_client)
    assert result.outcome is Outcome.NOT_ATTEMPTED, f"{name}: {result}"

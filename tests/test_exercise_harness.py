"""The harness that tries every exercise in its notebook judges its reports honestly (no kernel)."""

from __future__ import annotations

import nbformat

from exercise_harness import Exercise, find_exercises, problems

OK_REPORT = {
    "name": "q1",
    "untouched": {"outcome": "not attempted", "message": ""},
    "wrong": [{"outcome": "incorrect", "message": "has no TTL", "expected": "has no TTL", "why": "skips EX"},
              {"outcome": "incorrect", "message": "reset alice's window", "expected": "reset", "why": "skips NX"}],
    "solution": {"outcome": "correct", "message": ""},
}


def _judge(**changes) -> list[str]:
    failures: list[str] = []
    problems(failures, Exercise("q1", 1, 2, "ex.q1.check()", {**OK_REPORT, **changes}), "01_x.ipynb")
    return failures


def test_a_clean_report_passes():
    assert _judge() == []


def test_each_way_an_exercise_can_fail_is_reported():
    assert "untouched" in _judge(untouched={"outcome": "incorrect", "message": "x"})[0]
    assert "solution" in _judge(solution={"outcome": "incorrect", "message": "x"})[0]
    accepted = dict(OK_REPORT["wrong"][0], outcome="correct")
    assert "wrong answer 1" in _judge(wrong=[accepted, OK_REPORT["wrong"][1]])[0]
    other_message = dict(OK_REPORT["wrong"][0], message="something else")
    assert "wrong answer 1" in _judge(wrong=[other_message, OK_REPORT["wrong"][1]])[0]
    assert "at least 2" in _judge(wrong=OK_REPORT["wrong"][:1])[0]
    failures: list[str] = []
    problems(failures, Exercise("q1", 1, 2, "ex.q1.check()"), "01_x.ipynb")
    assert "did not run" in failures[0]


def test_check_cells_are_found_with_the_learner_cell_above():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("**1.** Do it."),
        nbformat.v4.new_code_cell("ex.q1.prepare()\n# your code here"),
        nbformat.v4.new_code_cell("ex.q1.check()\n# ex.q1.hint()\n# ex.q1.solution()"),
        nbformat.v4.new_code_cell("print(ex.q2.check(answer))  # not a check cell: more than the check"),
        nbformat.v4.new_code_cell("answer = ..."),
        nbformat.v4.new_code_cell("ex.q2.check(answer)"),
    ])
    found = find_exercises(notebook)
    assert [(e.name, e.learner_cell, e.check_cell, e.check_source) for e in found] == [
        ("q1", 1, 2, "ex.q1.check()"), ("q2", 4, 5, "ex.q2.check(answer)")]

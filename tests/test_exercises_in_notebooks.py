"""Every exercise of every lesson, tried in its own notebook: untouched it is "Not attempted", each
declared wrong answer is "Incorrect" with its message, and the solution (as `qN.solution()` prints
it, pasted into the exercise cell) is "Correct". See tests/exercise_harness.py."""

from __future__ import annotations

import importlib

import nbformat
import pytest

from exercise_harness import NOTEBOOKS, exercise_module, find_exercises, problems, run_with_every_attempt

LESSONS = sorted(path.name for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.timeout(900)  # a whole notebook with every attempt: 15 kills and heals a cluster many times
@pytest.mark.parametrize("name", LESSONS)
def test_every_exercise_untouched_wrong_and_solved_in_its_notebook(name):
    exercises = run_with_every_attempt(NOTEBOOKS / name)
    assert len(exercises) >= 3, f"{name} has {len(exercises)} exercises; the course asks for at least three"
    failures: list[str] = []
    for exercise in exercises:
        problems(failures, exercise, name)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", LESSONS)
def test_exercise_layout_task_then_learner_cell_then_check_cell(name):
    """One layout: a markdown task, the learner's code cell, then `ex.qN.check(...)` with the hint and
    solution lines commented beneath; every problem of the notebook's module has such a place."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    module = importlib.import_module(f"labkit.exercises.{exercise_module(notebook)}")
    exercises = find_exercises(notebook)
    declared = sorted(n for n in vars(module) if n[:1] == "q" and n[1:].isdigit())
    assert sorted(e.name for e in exercises) == declared, f"{name}: check cells {[e.name for e in exercises]} vs problems {declared}"
    for exercise in exercises:
        check = notebook.cells[exercise.check_cell].source
        assert f"# ex.{exercise.name}.hint()" in check and f"# ex.{exercise.name}.solution()" in check, f"{name} {exercise.name}: {check!r}"
        assert "nbval-check-output" in notebook.cells[exercise.check_cell].metadata.get("tags", []), f"{name} {exercise.name}: check output not compared"
        learner = notebook.cells[exercise.learner_cell]
        assert exercise.learner_cell == exercise.check_cell - 1, f"{name} {exercise.name}: the learner's cell must sit right above the check"
        assert "ex." + exercise.name + ".check" not in learner.source, f"{name} {exercise.name}: the learner's cell checks too"
        assert notebook.cells[exercise.learner_cell - 1].cell_type == "markdown", f"{name} {exercise.name}: no task above the learner's cell"

"""Notebooks 04-08 follow the course template and agree with their exercise modules.

Each notebook states what it teaches and how long it takes, ends every section with what it showed,
offers every exercise of its module as a numbered task, and stops its servers in its last cell;
every exercise declares at least three wrong answers. (How each exercise behaves in its notebook,
untouched, wrong and solved, is tests/test_exercises_in_notebooks.py's job.)
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import pytest

from labkit.exercises import Problem

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MODULES = {
    "04_sets_and_dedup.ipynb": "sets",
    "05_sorted_sets_leaderboards.ipynb": "sorted_sets",
    "06_bitmaps_and_hyperloglog.ipynb": "bitmaps",
    "07_geospatial.ipynb": "geo",
    "08_pubsub_and_chat.ipynb": "pubsub",
}
#: Sections that do not end with what they showed: the frame around the lessons.
FRAME = {"You will learn", "Setup", "Exercises", "Summary", "Cleanup"}


def _problems(module_name: str) -> dict[str, Problem]:
    module = importlib.import_module(f"labkit.exercises.{module_name}")
    return {name: value for name, value in vars(module).items() if re.fullmatch(r"q\d+", name) and isinstance(value, Problem)}


def _notebook(name: str):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


@pytest.mark.parametrize("name,module_name", MODULES.items(), ids=list(MODULES))
def test_notebook_offers_every_exercise_as_a_numbered_task_and_stops_its_servers_last(name, module_name):
    notebook = _notebook(name)
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    problems = _problems(module_name)
    assert len(problems) >= 3, f"{module_name} has {len(problems)} exercises; the course asks for at least 3"
    for problem_name in problems:
        assert f"**Exercise {problem_name[1:]}.**" in markdown, f"{name} has no '**Exercise {problem_name[1:]}.**' task for {module_name}.{problem_name}"
    code = [cell.source.strip() for cell in notebook.cells if cell.cell_type == "code"]
    assert "labkit.stop_all()" in code[-1].splitlines()[-1], f"{name} must stop its servers in its last cell"


@pytest.mark.parametrize("name", MODULES, ids=list(MODULES))
def test_notebook_says_what_you_will_learn_and_how_long_it_takes(name):
    markdown = [cell.source for cell in _notebook(name).cells if cell.cell_type == "markdown"]
    learn = [text for text in markdown if text.startswith("## You will learn")]
    assert learn, f"{name} has no '## You will learn' heading"
    assert re.search(r"\*\*Time:\*\* about \d+ minutes", learn[0]), f"{name}: 'You will learn' states no time"


@pytest.mark.parametrize("name", MODULES, ids=list(MODULES))
def test_every_section_ends_with_what_it_showed(name):
    text = "\n".join(cell.source for cell in _notebook(name).cells if cell.cell_type == "markdown")
    sections = re.split(r"^## (.+)$", text, flags=re.MULTILINE)[1:]  # heading, body, heading, body, ...
    missing = [heading for heading, body in zip(sections[::2], sections[1::2]) if heading.strip() not in FRAME and "*Shown:*" not in body]
    assert not missing, f"{name}: these sections do not end with '*Shown:* ...': {missing}"


@pytest.mark.parametrize("module_name", MODULES.values())
def test_every_exercise_declares_three_wrong_answers_and_no_old_attributes(module_name):
    for problem_name, problem in _problems(module_name).items():
        assert len(problem.wrong_answers) >= 3, f"{module_name}.{problem_name} declares {len(problem.wrong_answers)} wrong answers"
        assert len({wrong.message for wrong in problem.wrong_answers}) >= 2, f"{module_name}.{problem_name}: the wrong answers all expect one message"
        for old in ("wrong_code", "wrong_message"):
            assert not hasattr(problem, old), f"{module_name}.{problem_name} still has {old}: declare wrong_answers instead"
        others = set(re.findall(r"ex\.(q\d+)\.prepare\(\)", problem.solution_code)) - {problem_name}
        assert not others, f"{module_name}.{problem_name}: the solution runs another exercise's prepare(): {sorted(others)}"

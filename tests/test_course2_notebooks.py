"""Notebooks 04-08 and their exercise modules agree.

Each notebook offers every exercise of its module in a marked cell and stops its server in its last
cell; and a learner who types each exercise's solution into its marked cell gets "correct" from
every check, on the data the notebook's own cells built (nbval runs the notebooks as committed,
where every check says "not attempted").
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from labkit.exercises import Problem

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MODULES = {
    "04_sets_and_dedup.ipynb": "sets",
    "05_sorted_sets_leaderboards.ipynb": "sorted_sets",
    "06_bitmaps_and_hyperloglog.ipynb": "bitmaps",
    "07_geospatial.ipynb": "geo",
    "08_pubsub_and_chat.ipynb": "pubsub",
}
MARKED_CELL = re.compile(r"^# Exercise (\d+)", re.MULTILINE)
STUB = re.compile(r"^(\w+) = \.\.\.", re.MULTILINE)


def _problems(module_name: str) -> dict[str, Problem]:
    module = importlib.import_module(f"labkit.exercises.{module_name}")
    return {name: value for name, value in vars(module).items() if isinstance(value, Problem)}


def _code_sources(notebook) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("name,module_name", MODULES.items(), ids=list(MODULES))
def test_notebook_offers_every_exercise_and_stops_its_server_last(name, module_name):
    sources = _code_sources(nbformat.read(NOTEBOOKS / name, as_version=4))
    problems = _problems(module_name)
    assert len(problems) >= 3, f"{module_name} has {len(problems)} exercises; the course asks for at least 3"
    marked = {int(match[1]) for source in sources for match in MARKED_CELL.finditer(source)}
    for problem_name in problems:
        number = int(problem_name.removeprefix("q"))
        assert number in marked, f"{name} has no '# Exercise {number}' cell for {module_name}.{problem_name}"
        assert any(f"ex.{problem_name}.check(" in source for source in sources), f"{name} never runs ex.{problem_name}.check()"
    assert sources[-1].strip() == "labkit.stop_all()", f"{name} must stop its servers in its last cell"


@pytest.mark.parametrize("name,module_name", MODULES.items(), ids=list(MODULES))
def test_solutions_typed_into_the_notebook_pass_every_check(name, module_name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    problems = _problems(module_name)
    for cell in notebook.cells:
        match = MARKED_CELL.search(cell.source) if cell.cell_type == "code" else None
        if match:
            problem = problems[f"q{match[1]}"]
            solution = problem.solution_code.strip()
            stub = STUB.search(cell.source)
            if problem.takes_answer:
                assert stub, f"{name}: exercise {match[1]} takes an answer but its cell has no 'name = ...' to replace"
                solution += f"\n{stub[1]} = answer"
            cell.source = solution
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()

    results = []
    for cell in notebook.cells:
        if cell.cell_type == "code" and re.match(r"ex\.q\d+\.check\(", cell.source):
            text = "".join(output.get("text", "") or output.get("data", {}).get("text/plain", "") for output in cell.outputs)
            results.append((cell.source.splitlines()[0], text.strip()))
    assert len(results) == len(problems)
    wrong = [f"{call} -> {text}" for call, text in results if not text.startswith("✅")]
    assert not wrong, f"{name}: " + "; ".join(wrong)

"""Notebooks 11-13 with every exercise solved in place: each check must say "Correct".

nbval runs the notebooks as published (exercises not attempted). This runs them again with each
exercise cell's `# your code here` replaced by the exercise's own solution, so a check that only
works on the fresh topology of tests/test_exercises.py, and not in the state the notebook leaves
behind (failovers, partitions, extra keys), fails here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CASES = {
    "11_replication_and_read_scaling.ipynb": "replication",
    "12_failover_and_high_availability.ipynb": "high_availability",
    "13_cluster_sharding_and_hash_slots.ipynb": "sharding",
}
CHECK = re.compile(r"ex\.(q\d+)\.check\(")


def _solved(path: Path, module_name: str) -> tuple[nbformat.NotebookNode, list[tuple[int, str]]]:
    """The notebook with each exercise's solution in its cell; returns it and (cell index, problem)."""
    module = importlib.import_module(f"labkit.exercises.{module_name}")
    notebook = nbformat.read(path, as_version=4)
    solved = []
    for index, cell in enumerate(notebook.cells):
        match = CHECK.search(cell.source) if cell.cell_type == "code" else None
        if match is None:
            continue
        problem = getattr(module, match.group(1))
        lines = [line for line in cell.source.splitlines() if "# your code here" not in line]
        setup = "from labkit.exercises import current_topology\nlab = current_topology()\nr = lab.client()\n"
        body = [line for line in lines if not CHECK.search(line)]
        checks = [line for line in lines if CHECK.search(line)]
        cell.source = "\n".join([*body, setup + problem.solution_code.strip(), *[f"print({line.strip()})" for line in checks]])
        solved.append((index, match.group(1)))
    return notebook, solved


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_exercise_of_the_notebook_can_be_solved_in_place(name):
    notebook, solved = _solved(NOTEBOOKS / name, CASES[name])
    assert len(solved) >= 3, f"{name} has {len(solved)} exercises; the course asks for at least three"
    NotebookClient(notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    for index, problem in solved:
        text = "".join(output.get("text", "") for output in notebook.cells[index].outputs if output.output_type == "stream")
        assert "✅ Correct" in text, f"{name} {problem}: {text.strip() or notebook.cells[index].outputs}"

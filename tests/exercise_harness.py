"""Run a notebook as a learner would, trying every exercise in place.

At each exercise, in the notebook's own kernel and namespace, right after the learner's cell ran as
published:

1. the notebook's own check cell runs: it must say "Not attempted";
2. each declared wrong answer replaces the learner's cell (after `qN.reset()`), then the check cell
   runs: it must say "Incorrect" with the wrong answer's message;
3. the solution replaces the learner's cell (after `qN.reset()`), then the check cell: "Correct".

The notebook then goes on from the solved state, as it would for a learner who solved it. No name is
injected: wrong answers and solutions see only what the notebook's earlier cells defined.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MARKER = "__LABKIT_EXERCISE__"
CHECK_LINE = re.compile(r"^ex\.(q\d+)\.check\((.*)\)\s*$")
IMPORT = re.compile(r"from labkit\.exercises import (\w+) as ex\b")

# Runs in the kernel (the first cell of the instrumented notebook). Underscored names keep it out
# of the learner's way; it defines nothing a solution could lean on.
_KERNEL_HELPER = f'''
def __labkit_try_exercise(problem, name, check_source, namespace):
    import json as _json, textwrap as _textwrap
    def _outcome(result):
        return {{"outcome": result.outcome.value, "message": result.message}}
    def _attempt(code):
        problem.reset()
        try:
            exec(compile(_textwrap.dedent(code), f"<{{name}} attempt>", "exec"), namespace)
        except Exception as error:
            return {{"outcome": "raised", "message": f"{{type(error).__name__}}: {{error}}"}}
        return _outcome(eval(check_source, namespace))
    report = {{"name": name, "untouched": _outcome(eval(check_source, namespace)), "wrong": []}}
    for wrong in problem.wrong_answers:
        report["wrong"].append({{**_attempt(wrong.code), "expected": wrong.message, "why": wrong.why}})
    report["solution"] = _attempt(problem.solution_code)
    print("{MARKER}" + _json.dumps(report))
'''


@dataclass
class Exercise:
    name: str
    learner_cell: int
    check_cell: int
    check_source: str
    report: dict = field(default_factory=dict)


def exercise_module(notebook: nbformat.NotebookNode) -> str | None:
    for cell in notebook.cells:
        match = IMPORT.search(cell.source) if cell.cell_type == "code" else None
        if match:
            return match.group(1)
    return None


def find_exercises(notebook: nbformat.NotebookNode) -> list[Exercise]:
    """Each check cell (`ex.qN.check(...)` as its only code line) and the learner's cell before it."""
    found = []
    code_cells = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    for position, index in enumerate(code_cells):
        lines = [line for line in notebook.cells[index].source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        if len(lines) == 1 and CHECK_LINE.match(lines[0].strip()):
            name = CHECK_LINE.match(lines[0].strip()).group(1)
            learner = code_cells[position - 1] if position else -1
            found.append(Exercise(name, learner, index, lines[0].strip()))
    return found


def run_with_every_attempt(path: Path, timeout: int = 240, env_note: str = "") -> list[Exercise]:
    """Execute the notebook with each check cell replaced by the three-way trial; return the reports."""
    notebook = nbformat.read(path, as_version=4)
    exercises = find_exercises(notebook)
    for exercise in exercises:
        cell = notebook.cells[exercise.check_cell]
        cell.source = f"__labkit_try_exercise(ex.{exercise.name}, {exercise.name!r}, {exercise.check_source!r}, globals())"
    notebook.cells.insert(0, nbformat.v4.new_code_cell(_KERNEL_HELPER))
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    by_name = {exercise.name: exercise for exercise in exercises}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith(MARKER):
                    report = json.loads(line[len(MARKER):])
                    by_name[report["name"]].report = report
    return exercises


def problems(failures: list[str], exercise: Exercise, notebook_name: str, minimum_wrong: int = 2) -> None:
    """Append to `failures` what is wrong with one exercise's report."""
    where = f"{notebook_name} {exercise.name}"
    report = exercise.report
    if not report:
        failures.append(f"{where}: the trial did not run (did the notebook stop before it?)")
        return
    if report["untouched"]["outcome"] != "not attempted":
        failures.append(f"{where}: untouched, the check said {report['untouched']}")
    if len(report["wrong"]) < minimum_wrong:
        failures.append(f"{where}: declares {len(report['wrong'])} wrong answers; at least {minimum_wrong} are needed")
    for number, wrong in enumerate(report["wrong"], 1):
        if wrong["outcome"] != "incorrect" or wrong["expected"] not in wrong["message"]:
            failures.append(f"{where}: wrong answer {number} ({wrong['why'] or 'no why'}) gave {wrong['outcome']}: "
                            f"{wrong['message']!r}; expected Incorrect mentioning {wrong['expected']!r}")
    if report["solution"]["outcome"] != "correct":
        failures.append(f"{where}: the solution, run in the notebook's namespace, gave {report['solution']}")

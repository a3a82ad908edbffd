"""tools/notebooks.py (navigation cell, Binder badge, output stripping) and the rules every
committed notebook follows."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Lessons are `NN_topic.ipynb`; appendix notebooks have no exercises.
LESSONS = [path for path in NOTEBOOKS if re.match(r"\d\d_", path.name)]
REPOSITORY = "labkit-course/redis-elasticache-course"


def _load_tool():
    spec = importlib.util.spec_from_file_location("labkit_notebook_tool", ROOT / "tools" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def _notebook(title: str, *cells: dict) -> dict:
    return {
        "cells": [{"cell_type": "markdown", "id": "title", "metadata": {}, "source": [f"# {title}"]}, *cells],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {"abc": {}}}},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _code(cell_id: str, source: str, *, tags: tuple[str, ...] = (), output: str = "out\n") -> dict:
    return {
        "cell_type": "code",
        "execution_count": 7,
        "id": cell_id,
        "metadata": {"tags": list(tags), "execution": {"iopub.status.busy": "2026-01-01T00:00:00Z"}},
        "outputs": [{"name": "stdout", "output_type": "stream", "text": [output]}],
        "source": [source],
    }


@pytest.fixture()
def course(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name, title in [("00_welcome", "Welcome"), ("01_strings_and_counters", "01 · Strings and counters"), ("appendix_live_views", "Appendix · Live views of a lab")]:
        notebook = _notebook(title, _code("a", "print(1)"), _code("b", "print(2)", tags=("nbval-check-output",), output="2\n"))
        (folder / f"{name}.ipynb").write_text(json.dumps(notebook, indent=2), encoding="utf-8")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f'[tool.labkit]\nbinder_repository = "{REPOSITORY}"\n', encoding="utf-8")
    return folder, pyproject


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _navigation(notebook: dict) -> str:
    cells = [cell for cell in notebook["cells"] if cell["metadata"].get("labkit") == "navigation"]
    assert len(cells) == 1
    assert notebook["cells"][1] is cells[0], "the navigation cell must come right after the title"
    return "".join(cells[0]["source"])


def test_second_run_changes_nothing(course):
    folder, pyproject = course
    assert tool.main(["--notebooks", str(folder), "--pyproject", str(pyproject)]) == 0
    first = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert tool.process(folder, REPOSITORY, write=True) == []
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == first
    assert tool.main(["--check", "--notebooks", str(folder), "--pyproject", str(pyproject)]) == 0


def test_idempotent_on_a_copy_of_the_real_notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    tool.process(folder, REPOSITORY, write=True)
    first = {path.name: path.read_bytes() for path in folder.glob("*.ipynb")}
    assert tool.process(folder, REPOSITORY, write=True) == []
    assert {path.name: path.read_bytes() for path in folder.glob("*.ipynb")} == first


def test_navigation_links_previous_and_next_in_name_order(course):
    folder, pyproject = course
    tool.main(["--notebooks", str(folder), "--pyproject", str(pyproject)])
    first = _navigation(_read(folder / "00_welcome.ipynb"))
    middle = _navigation(_read(folder / "01_strings_and_counters.ipynb"))
    last = _navigation(_read(folder / "appendix_live_views.ipynb"))

    binder = f"https://mybinder.org/v2/gh/{REPOSITORY}/main?urlpath=lab/tree/notebooks/01_strings_and_counters.ipynb"
    assert f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder})" in middle
    assert "[← 00 Welcome](00_welcome.ipynb)" in middle
    assert "[Appendix: Live views of a lab →](appendix_live_views.ipynb)" in middle
    assert "←" not in first and "[01 Strings and counters →](01_strings_and_counters.ipynb)" in first
    assert "→" not in last and "[← 01 Strings and counters](01_strings_and_counters.ipynb)" in last
    assert "notebooks/appendix_live_views.ipynb" in last


def test_adding_a_notebook_updates_its_neighbours_links(course):
    folder, pyproject = course
    tool.main(["--notebooks", str(folder), "--pyproject", str(pyproject)])
    (folder / "02_lists_and_queues.ipynb").write_text(json.dumps(_notebook("02 · Lists and queues")), encoding="utf-8")
    stale = tool.process(folder, REPOSITORY, write=True)
    assert [path.name for path in stale] == ["01_strings_and_counters.ipynb", "02_lists_and_queues.ipynb", "appendix_live_views.ipynb"]
    assert "[02 Lists and queues →](02_lists_and_queues.ipynb)" in _navigation(_read(folder / "01_strings_and_counters.ipynb"))


def test_a_moved_or_edited_navigation_cell_is_put_back(course):
    folder, pyproject = course
    tool.main(["--notebooks", str(folder), "--pyproject", str(pyproject)])
    path = folder / "01_strings_and_counters.ipynb"
    notebook = _read(path)
    navigation = notebook["cells"].pop(1)
    navigation["source"] = ["[hand-written](nowhere.ipynb)"]
    notebook["cells"].append(navigation)
    path.write_text(json.dumps(notebook), encoding="utf-8")
    assert tool.main(["--check", "--notebooks", str(folder), "--pyproject", str(pyproject)]) == 1
    assert _read(path) == notebook, "--check must not write"
    tool.main(["--notebooks", str(folder), "--pyproject", str(pyproject)])
    text = _navigation(_read(path))
    assert "nowhere" not in text and "[← 00 Welcome](00_welcome.ipynb)" in text


def test_named_files_limit_what_is_written_but_not_the_links(course):
    folder, pyproject = course
    middle = folder / "01_strings_and_counters.ipynb"
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert tool.main([str(middle), "--notebooks", str(folder), "--pyproject", str(pyproject)]) == 0
    assert (folder / "00_welcome.ipynb").read_bytes() == before["00_welcome.ipynb"]
    assert (folder / "appendix_live_views.ipynb").read_bytes() == before["appendix_live_views.ipynb"]
    text = _navigation(_read(middle))
    assert "[← 00 Welcome](00_welcome.ipynb)" in text and "[Appendix: Live views of a lab →](appendix_live_views.ipynb)" in text
    assert tool.main(["--check", str(middle), "--notebooks", str(folder), "--pyproject", str(pyproject)]) == 0
    assert tool.main(["--check", "--notebooks", str(folder), "--pyproject", str(pyproject)]) == 1


def test_naming_a_file_outside_the_folder_is_an_error(course, tmp_path, capsys):
    folder, pyproject = course
    stray = tmp_path / "elsewhere.ipynb"
    stray.write_text("{}", encoding="utf-8")
    assert tool.main([str(stray), "--notebooks", str(folder), "--pyproject", str(pyproject)]) == 2
    assert "elsewhere.ipynb" in capsys.readouterr().err


def test_outputs_are_stripped_except_in_checked_cells(course):
    folder, pyproject = course
    tool.main(["--notebooks", str(folder), "--pyproject", str(pyproject)])
    notebook = _read(folder / "00_welcome.ipynb")
    plain, checked = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert plain["outputs"] == [] and plain["execution_count"] is None
    assert checked["outputs"][0]["text"] == ["2\n"]
    assert checked["execution_count"] == 2, "a checked cell is numbered by its position: nbval refuses outputs without a count"
    assert "execution" not in plain["metadata"] and "execution" not in checked["metadata"]
    assert "widgets" not in notebook["metadata"]
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


def test_a_missing_binder_repository_is_reported(tmp_path, capsys):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[project]\nname = 'x'\n", encoding="utf-8")
    assert tool.main(["--check", "--notebooks", str(tmp_path), "--pyproject", str(pyproject)]) == 2
    assert "binder_repository" in capsys.readouterr().err


def test_the_binder_repository_is_the_readme_badges():
    assert tool.binder_repository(ROOT / "pyproject.toml") == REPOSITORY
    assert f"https://mybinder.org/v2/gh/{REPOSITORY}/main" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_committed_notebooks_are_current(capsys):
    code = tool.main(["--check"])
    assert code == 0, f"run .venv/bin/python tools/notebooks.py: {capsys.readouterr()}"


def _code_sources(notebook: dict) -> list[str]:
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_last_code_cell_stops_the_servers(path):
    last = _code_sources(_read(path))[-1]
    assert "stop_all()" in last or ".stop()" in last, f"{path.name}: the last code cell must stop its servers"


@pytest.mark.parametrize("path", LESSONS, ids=[path.name for path in LESSONS])
def test_lessons_have_at_least_three_exercise_checks(path):
    checks = sum(source.count(".check(") for source in _code_sources(_read(path)))
    assert checks >= 3, f"{path.name} has {checks} exercise checks; a lesson needs at least 3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_stored_outputs_are_only_in_checked_cells_and_numbered(path):
    for cell in _read(path)["cells"]:
        if cell["cell_type"] != "code" or not cell.get("outputs"):
            continue
        source = "".join(cell["source"])[:60]
        assert "nbval-check-output" in cell["metadata"].get("tags", []), f"{path.name}: untagged cell keeps outputs: {source!r}"
        # nbval fails a cell with outputs and no execution count ("Unrun reference cell has outputs").
        assert cell.get("execution_count") is not None, f"{path.name}: outputs without an execution count: {source!r}"


def test_a_label_is_the_notebook_title_else_its_file_name(tmp_path):
    titled = tmp_path / "05_sorted_sets.ipynb"
    titled.write_text(json.dumps(_notebook("05 · Sorted sets: leaderboards")), encoding="utf-8")
    untitled = tmp_path / "06_bitmaps_and_hll.ipynb"
    untitled.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")
    assert tool.label(titled) == "05 Sorted sets: leaderboards"
    assert tool.label(untitled) == "06 Bitmaps and hll"

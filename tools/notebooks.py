"""Keep the course notebooks current: navigation cell, Binder badge, no stray outputs.

For every `notebooks/*.ipynb`, in name order:

- a markdown cell right after the title cell (cell metadata ``{"labkit": "navigation"}``) holds the
  Binder badge and links to the previous and next notebook; it is generated, never typed by hand;
- code cells not tagged ``nbval-check-output`` lose their outputs and execution counts; tagged
  cells keep their outputs, numbered by their position among the code cells (nbval refuses
  outputs without a count, and fixed numbers keep re-executed notebooks free of noise in diffs);
- every cell loses the timing metadata that nbclient records;
- the notebook metadata loses any saved widget state.

Run it after editing a notebook; a second run changes nothing::

    .venv/bin/python tools/notebooks.py            # rewrite what is out of date
    .venv/bin/python tools/notebooks.py --check    # only report; exit 1 when something would change
    .venv/bin/python tools/notebooks.py notebooks/02_lists_and_queues.ipynb   # only these files

Links always come from the whole folder; naming files only limits what is checked or written.

The Binder repository (``owner/name`` on GitHub) is read from ``[tool.labkit] binder_repository``
in ``pyproject.toml``.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NAVIGATION = {"labkit": "navigation"}
NAVIGATION_CELL_ID = "navigation"
CHECKED_TAG = "nbval-check-output"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
# Cell metadata that records a run rather than the notebook (nbclient's timings, UI state).
RUN_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")


class NotebookToolError(Exception):
    """A notebook or the configuration cannot be processed; the message says what to fix."""


def binder_repository(pyproject: Path) -> str:
    """`owner/name` from `[tool.labkit] binder_repository` in `pyproject`."""
    try:
        config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise NotebookToolError(f"cannot read {pyproject}: {error}") from error
    repository = config.get("tool", {}).get("labkit", {}).get("binder_repository")
    if not isinstance(repository, str) or not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        raise NotebookToolError(
            f"{pyproject} needs [tool.labkit] binder_repository = \"owner/name\" (the GitHub repository Binder builds); "
            f"found {repository!r}"
        )
    return repository


def title_of(path: Path) -> str | None:
    """The notebook's own title: its first markdown heading without the number (`# 01 · Strings` -> `Strings`)."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return None
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            text = "".join(cell.get("source", ""))
            match = re.match(r"#\s+(?:\d\d\s*[·:.-]\s*|Appendix\s*[·:.-]\s*)?(.+)", text.strip())
            return match.group(1).strip() if match else None
    return None


def label(path: Path) -> str:
    """`01_strings_and_counters.ipynb` -> `01 Strings and counters` (its title when it has one); `appendix_x` -> `Appendix: x`."""
    number, _, rest = path.stem.partition("_")
    title = title_of(path)
    if title and re.fullmatch(r"\d\d", number):
        return f"{number} {title}"
    if title and number == "appendix":
        return f"Appendix: {title}"
    if re.fullmatch(r"\d\d", number) and rest:
        return f"{number} {rest.replace('_', ' ').capitalize()}"
    if number == "appendix" and rest:
        return f"Appendix: {rest.replace('_', ' ')}"
    return path.stem.replace("_", " ").capitalize()


def navigation_markdown(path: Path, previous: Path | None, following: Path | None, repository: str) -> str:
    binder = f"https://mybinder.org/v2/gh/{repository}/main?urlpath=lab/tree/notebooks/{path.name}"
    parts = [f"[![Binder]({BINDER_BADGE})]({binder})"]
    if previous is not None:
        parts.append(f"[← {label(previous)}]({previous.name})")
    if following is not None:
        parts.append(f"[{label(following)} →]({following.name})")
    return " · ".join(parts)


def _source_lines(text: str) -> list[str]:
    # The way nbformat stores sources: one string per line, each keeping its newline.
    return text.splitlines(keepends=True)


def _is_navigation(cell: dict[str, Any]) -> bool:
    return cell.get("metadata", {}).get("labkit") == NAVIGATION["labkit"]


def _tags(cell: dict[str, Any]) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return tags if isinstance(tags, list) else []


def updated(notebook: dict[str, Any], navigation: str) -> dict[str, Any]:
    """A copy of `notebook` with its navigation cell current and its run leftovers removed."""
    notebook = copy.deepcopy(notebook)
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise NotebookToolError("has no list of cells")
    old = [cell for cell in cells if _is_navigation(cell)]
    cells[:] = [cell for cell in cells if not _is_navigation(cell)]
    cell_id = old[0].get("id", NAVIGATION_CELL_ID) if old else NAVIGATION_CELL_ID
    if any(cell.get("id") == cell_id for cell in cells):
        raise NotebookToolError(f"another cell already has the id {cell_id!r} the navigation cell needs")
    nav_cell: dict[str, Any] = {"cell_type": "markdown", "metadata": dict(NAVIGATION), "source": _source_lines(navigation)}
    if notebook.get("nbformat", 4) > 4 or notebook.get("nbformat_minor", 0) >= 5:
        nav_cell["id"] = cell_id
    # Right after the title cell (the first cell).
    cells.insert(1 if cells else 0, nav_cell)

    position = 0
    for cell in cells:
        metadata = cell.setdefault("metadata", {})
        for key in RUN_METADATA:
            metadata.pop(key, None)
        if cell.get("cell_type") != "code":
            continue
        position += 1
        if CHECKED_TAG not in _tags(cell):
            cell["outputs"] = []
            cell["execution_count"] = None
        else:
            cell["execution_count"] = position
            for output in cell.get("outputs", []):
                if "execution_count" in output:
                    output["execution_count"] = position
    notebook.get("metadata", {}).pop("widgets", None)
    return notebook


def render(notebook: dict[str, Any]) -> str:
    """The file text, formatted as Jupyter and nbformat write it."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def notebook_paths(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.ipynb"), key=lambda path: path.name)


def process(directory: Path, repository: str, *, write: bool, only: list[Path] | None = None) -> list[Path]:
    """Bring the notebooks in `directory` (or just `only`) up to date when `write`; return those that were not."""
    paths = notebook_paths(directory)
    selected = None
    if only is not None:
        selected = {path.resolve() for path in only}
        unknown = selected - {path.resolve() for path in paths}
        if unknown:
            raise NotebookToolError(f"not notebooks in {directory}: {', '.join(sorted(map(str, unknown)))}")
    stale = []
    for index, path in enumerate(paths):
        if selected is not None and path.resolve() not in selected:
            continue
        previous = paths[index - 1] if index > 0 else None
        following = paths[index + 1] if index + 1 < len(paths) else None
        text = path.read_text(encoding="utf-8")
        try:
            notebook = json.loads(text)
            new = updated(notebook, navigation_markdown(path, previous, following, repository))
        except (json.JSONDecodeError, NotebookToolError) as error:
            raise NotebookToolError(f"{path}: {error}") from error
        if new != notebook:
            stale.append(path)
            if write:
                path.write_text(render(new), encoding="utf-8")
    return stale


def execute(path: Path, timeout: int = 600) -> None:
    """Run `path` top to bottom in a fresh kernel and save it with its outputs (the tidy-up strips the untested ones)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(notebook, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="only these notebooks (default: all of them)")
    parser.add_argument("--check", action="store_true", help="only report; exit 1 when a notebook is out of date")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="the notebook folder (default: notebooks/)")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml", help="where [tool.labkit] is read")
    parser.add_argument("--execute", action="store_true",
                        help="run the named notebooks first (a kernel per notebook) and keep the new outputs of their compared cells")
    options = parser.parse_args(argv)
    if options.execute:
        for path in options.paths:
            execute(path)
    try:
        repository = binder_repository(options.pyproject)
        stale = process(options.notebooks, repository, write=not options.check, only=options.paths or None)
    except NotebookToolError as error:
        print(f"tools/notebooks.py: {error}", file=sys.stderr)
        return 2
    for path in stale:
        print(f"{'out of date' if options.check else 'updated'}: {path.name}")
    if options.check and stale:
        print("Run `.venv/bin/python tools/notebooks.py` to update them.", file=sys.stderr)
        return 1
    if not stale:
        print(f"all {len(options.paths) or len(notebook_paths(options.notebooks))} notebooks are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())

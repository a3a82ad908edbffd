"""A learner's progress: the last outcome of every exercise check, kept in a small local file.

Nothing is sent anywhere. The file is `$LABKIT_PROGRESS_FILE`, else
`$XDG_DATA_HOME/labkit/progress.json` (`~/.local/share/labkit/progress.json`).

Example::

    import labkit
    labkit.progress()            # a table of every notebook's exercises: correct, tried, not yet
    labkit.progress().figure()   # the same as a bar chart
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ExerciseProgress", "Progress", "progress", "progress_file", "record_outcome"]

_ICONS = {"correct": "✅", "incorrect": "❌", "not attempted": "⏳", None: "·"}


def progress_file() -> Path:
    """Where outcomes are kept (override with $LABKIT_PROGRESS_FILE)."""
    explicit = os.environ.get("LABKIT_PROGRESS_FILE")
    if explicit:
        return Path(explicit)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "labkit" / "progress.json"


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_outcome(module: str, name: str, title: str, outcome: str) -> None:
    """Keep `outcome` as the last one of exercise `module.name` ("correct" stays once reached).

    Recording never breaks a check: a read-only home directory just means no progress is kept.
    """
    path = progress_file()
    key = f"{module.rsplit('.', 1)[-1]}.{name}"
    try:
        data = _load(path)
        entry = data.get(key, {})
        entry.update(title=title, last=outcome, at=time.time())
        if outcome == "correct":
            entry["solved"] = True
        data[key] = entry
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(handle.name, path)
    except OSError:
        pass  # progress is a convenience; the check's own result is what the learner sees


@dataclass(frozen=True)
class ExerciseProgress:
    """One exercise: where it is, and its last outcome (None when never checked)."""

    notebook: str
    name: str
    title: str
    last: str | None
    solved: bool


@dataclass(frozen=True)
class Progress:
    """Every exercise of the course with its last outcome; prints as a table, draws as a chart."""

    exercises: tuple[ExerciseProgress, ...]

    def by_notebook(self) -> dict[str, list[ExerciseProgress]]:
        grouped: dict[str, list[ExerciseProgress]] = {}
        for exercise in self.exercises:
            grouped.setdefault(exercise.notebook, []).append(exercise)
        return grouped

    @property
    def solved(self) -> int:
        return sum(exercise.solved for exercise in self.exercises)

    def __str__(self) -> str:
        lines = [f"{'notebook':<40} solved  exercises"]
        for notebook, exercises in self.by_notebook().items():
            marks = " ".join(f"{e.name}{'✅' if e.solved else _ICONS[e.last]}" for e in exercises)
            lines.append(f"{notebook:<40} {sum(e.solved for e in exercises):>2}/{len(exercises):<3}  {marks}")
        lines.append(f"{'total':<40} {self.solved:>2}/{len(self.exercises)}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{notebook}</td><td>{sum(e.solved for e in exercises)}/{len(exercises)}</td><td>"
            + " ".join(f"<span title='{e.title}'>{e.name}{'✅' if e.solved else _ICONS[e.last]}</span>" for e in exercises)
            + "</td></tr>"
            for notebook, exercises in self.by_notebook().items()
        )
        return (f"<table><tr><th>notebook</th><th>solved</th><th>exercises (✅ solved, ❌ last check incorrect, "
                f"⏳ not attempted, · never checked)</th></tr>{rows}<tr><td><b>total</b></td>"
                f"<td><b>{self.solved}/{len(self.exercises)}</b></td><td></td></tr></table>")

    def figure(self) -> Any:
        """A stacked bar chart per notebook: solved, tried but not solved yet, never checked."""
        import plotly.graph_objects as go

        grouped = self.by_notebook()
        names = list(grouped)
        solved = [sum(e.solved for e in grouped[n]) for n in names]
        tried = [sum((not e.solved) and e.last is not None for e in grouped[n]) for n in names]
        untouched = [sum(e.last is None for e in grouped[n]) for n in names]
        figure = go.Figure([
            go.Bar(name="solved", x=names, y=solved, marker_color="#2ca02c"),
            go.Bar(name="tried", x=names, y=tried, marker_color="#ff7f0e"),
            go.Bar(name="not yet", x=names, y=untouched, marker_color="#c7c7c7"),
        ])
        figure.update_layout(barmode="stack", title="Your progress", yaxis_title="exercises", height=360)
        return figure


def _course_exercises() -> list[tuple[str, str, str, str]]:
    """(module, notebook, name, title) of every exercise, in course order."""
    from . import core

    package = importlib.import_module(__package__ or "labkit.exercises")
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        notebook = getattr(module, "NOTEBOOK", None)
        if not notebook:
            continue
        for name, value in vars(module).items():
            if isinstance(value, core.Problem) and name.startswith("q") and name[1:].isdigit():
                found.append((info.name, notebook, name, value.title))
    return sorted(found, key=lambda item: (item[1], int(item[2][1:])))


def progress() -> Progress:
    """Every exercise of the course and its last outcome, read from `progress_file()`.

    Example::

        labkit.progress()
    """
    data = _load(progress_file())
    return Progress(tuple(
        ExerciseProgress(notebook, name, title, data.get(f"{module}.{name}", {}).get("last"),
                         bool(data.get(f"{module}.{name}", {}).get("solved")))
        for module, notebook, name, title in _course_exercises()
    ))

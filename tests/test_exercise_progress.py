"""A learner's progress: each check's outcome kept in a local file, shown as a table and a chart."""

from __future__ import annotations

import json
from pathlib import Path

import fakeredis
import pytest

import labkit
from labkit.exercises import Outcome
from labkit.exercises import strings
from labkit.exercises.progress import progress, progress_file, record_outcome


@pytest.fixture()
def store(tmp_path, monkeypatch):
    path = tmp_path / "labkit" / "progress.json"
    monkeypatch.setenv("LABKIT_PROGRESS_FILE", str(path))
    return path


def test_the_file_is_the_users_own_unless_told(monkeypatch, tmp_path):
    monkeypatch.delenv("LABKIT_PROGRESS_FILE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert progress_file() == tmp_path / "labkit" / "progress.json"


def test_a_check_records_its_outcome_and_correct_stays_solved(store):
    r = fakeredis.FakeRedis(decode_responses=True)
    assert strings.q2.check(client=r).outcome is Outcome.NOT_ATTEMPTED
    data = json.loads(store.read_text())
    assert data["strings.q2"]["last"] == "not attempted" and not data["strings.q2"].get("solved")
    record_outcome("labkit.exercises.strings", "q2", "t", "correct")
    record_outcome("labkit.exercises.strings", "q2", "t", "incorrect")
    entry = json.loads(store.read_text())["strings.q2"]
    assert entry["last"] == "incorrect" and entry["solved"] is True


def test_progress_lists_every_exercise_of_the_course_in_order(store):
    record_outcome("labkit.exercises.strings", "q1", "t", "correct")
    record_outcome("labkit.exercises.welcome", "q2", "t", "incorrect")
    table = labkit.progress()
    notebooks = [exercise.notebook for exercise in table.exercises]
    assert notebooks == sorted(notebooks) and notebooks[0] == "00_welcome"
    assert len(table.exercises) >= 3 * len({e.notebook for e in table.exercises})
    solved = {(e.notebook, e.name) for e in table.exercises if e.solved}
    assert solved == {("01_strings_and_counters", "q1")}
    text = str(table)
    assert "01_strings_and_counters" in text and f"total" in text and "q2❌" in text
    assert "<table>" in table._repr_html_()
    assert len(table.figure().data) == 3


def test_an_unreadable_or_unwritable_store_never_breaks_a_check(store):
    store.parent.mkdir(parents=True)
    store.write_text("not json")
    assert progress().solved == 0
    store.unlink()
    store.parent.chmod(0o500)
    try:
        record_outcome("labkit.exercises.strings", "q1", "t", "correct")  # must not raise
    finally:
        store.parent.chmod(0o700)


def test_every_lesson_notebook_has_its_exercises_in_the_table():
    lessons = {path.stem for path in (Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert {e.notebook for e in progress().exercises} == lessons

"""The data and helpers behind the exercises of notebooks 09, 10, 17 and 18 (no server needed)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from labkit.exercises import caching, pipelines, streams, time_series

REVIEWS = Path(__file__).resolve().parent.parent / "data" / "reviews.txt"


def _review_texts() -> list[str]:
    lines = REVIEWS.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_review_texts_are_distinct_and_cover_every_sentiment():
    texts = _review_texts()
    assert len(texts) >= 50
    assert len(set(texts)) == len(texts)
    assert set(Counter(pipelines.label(text) for text in texts)) == {"positive", "negative", "neutral"}


def test_label_uses_vader_thresholds():
    assert pipelines.label("I love it, wonderful!") == "positive"
    assert pipelines.label("I hate it, awful.") == "negative"
    assert pipelines.label("The lid is blue.") == "neutral"


def test_visitor_events_have_the_documented_number_of_distinct_visitors():
    assert len(pipelines.VISITOR_EVENTS) == 5000
    assert len(set(pipelines.VISITOR_EVENTS)) == 1200


def test_window_exercise_series_has_readings_on_both_window_ends():
    # q2's wrong answer (an excluded end) is only caught when a reading sits exactly on the end.
    times = {ts for ts, _ in time_series._irregular_series()}
    assert set(time_series.WINDOW) <= times


def test_readings_repeat_a_value_so_the_pitfall_can_happen():
    values = [value for _, value in time_series.READINGS]
    assert len(set(values)) < len(values)


def test_sensor_event_ids_increase():
    ids = [tuple(map(int, entry_id.split("-"))) for entry_id, _ in streams.SENSOR_EVENTS]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_counting_database_counts_reads_and_writes_and_returns_copies():
    db = caching.CountingDatabase()
    product = db.get_product(1)
    product["price"] = 0
    db.set_price(2, 3.5)
    assert db.get_product(1)["price"] == 25.0
    assert db.get_product(2)["price"] == 3.5
    assert (db.reads, db.writes) == (3, 1)
    assert db.get_product(99) is None

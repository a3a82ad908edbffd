"""The data and helpers behind the exercises of notebooks 09, 10, 17 and 18 (no server needed)."""

from __future__ import annotations

import random
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


def test_page_views_are_drawn_per_run():
    first, second = pipelines.page_views(random.Random(1)), pipelines.page_views(random.Random(2))
    assert len(first) == 5000 and 800 <= len({view["visitor"] for view in first}) <= 1600
    assert {view["visitor"] for view in first}.isdisjoint(view["visitor"] for view in second)


def test_low_battery_readings_hold_the_boundary_a_recharge_and_a_redelivery():
    rule = pipelines.LowBatteryRule()
    rule.rng = random.Random(3)
    readings, elsewhere = rule._readings()
    assert any(reading["battery"] == 20.0 for reading in readings)
    batteries = [reading["battery"] for reading in readings if reading["device"] == readings[0]["device"]]
    assert batteries[0] < 20 <= batteries[-1]
    assert readings[-2] == readings[1] and elsewhere not in {reading["device"] for reading in readings}


SEEDS = range(40)


def test_q1_readings_repeat_a_temperature_so_the_pitfall_can_happen():
    for seed in SEEDS:
        readings = time_series.draw_readings(random.Random(seed))
        values = [value for _, value in readings]
        assert max(Counter(values).values()) >= 3
        times = [ts for ts, _ in readings]
        assert times == sorted(set(times)) and times[0] % 60 == 0


def test_q2_window_has_readings_on_both_ends_and_is_small_next_to_the_series():
    # The excluded-end wrong answer is only caught when a reading sits exactly on the end; the bytes
    # check only tells a range query from a full read when the series dwarfs the window.
    for seed in SEEDS:
        series, (start, end) = time_series.draw_window(random.Random(seed))
        times = [ts for ts, _ in series]
        assert {start, end} <= set(times)
        inside = [ts for ts in times if start <= ts <= end]
        assert 40 <= len(inside) <= 91 and len(series) >= 20 * len(inside)


def test_q3_retention_series_has_a_reading_exactly_one_hour_before_the_newest():
    for seed in SEEDS:
        times = [ts for ts, _ in time_series.draw_retention(random.Random(seed))]
        assert times[-1] - 3600 in times and times[0] < times[-1] - 3600 and times == sorted(set(times))


def test_q4_downsample_data_has_two_minutes_with_the_same_average():
    for seed in SEEDS:
        readings = time_series.draw_downsample(random.Random(seed))
        averages = {}
        for ts, value in readings:
            averages.setdefault(ts - ts % 60, []).append(value)
        rounded = [f"{sum(values) / len(values):.2f}" for values in averages.values()]
        assert len(set(rounded)) < len(rounded)
        assert all(len(values) == 6 for values in averages.values())


def test_exercise_data_is_not_the_notebooks_fixed_series():
    # The sections print readings from November 2023 (T0 = 1_700_000_040); per-run data is elsewhere in time.
    for seed in SEEDS:
        assert time_series.draw_readings(random.Random(seed))[0][0] > 1_700_086_380 + 7200
        assert int(streams.draw_events(random.Random(seed))[0][0].split("-")[0]) > 1_700_000_002_000


def test_sensor_event_ids_increase_and_two_share_a_millisecond():
    for seed in SEEDS:
        ids = [tuple(map(int, entry_id.split("-"))) for entry_id, _ in streams.draw_events(random.Random(seed))]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert ids[0][0] == ids[1][0] and ids[1][1] == 1


def test_counting_database_draws_its_products_per_run():
    first, second = caching.CountingDatabase.drawn(random.Random(1)), caching.CountingDatabase.drawn(random.Random(2))
    assert len(first.products) == 3 and first.products != second.products
    assert all(product["id"] == pid and 2 <= product["price"] <= 90 for pid, product in first.products.items())


def test_counting_database_counts_reads_and_writes_and_returns_copies():
    db = caching.CountingDatabase()
    product = db.get_product(1)
    product["price"] = 0
    db.set_price(2, 3.5)
    assert db.get_product(1)["price"] == 25.0
    assert db.get_product(2)["price"] == 3.5
    assert (db.reads, db.writes) == (3, 1)
    assert db.get_product(99) is None

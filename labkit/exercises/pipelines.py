"""Exercises for notebook 18_streaming_pipelines: an IoT rule, idempotency keys, HyperLogLog, sentiment counts.

Example::

    from labkit.exercises import pipelines as ex
    ex.use(r)
    ex.q1.check(low_battery_rule)     # pass your rule function
"""

from __future__ import annotations

import random
from functools import lru_cache
from textwrap import dedent
from typing import Any

from .core import Problem, expect, expect_callable, expect_type, use

__all__ = ["NOTEBOOK", "REVIEWS", "VISITOR_EVENTS", "label", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "18_streaming_pipelines"

#: q3: page views as visitor ids, with repeat visits (1,200 distinct visitors in 5,000 events).
def _visitor_events() -> tuple[str, ...]:
    rng = random.Random(6)
    visits = list(range(1200)) + [rng.randrange(1200) for _ in range(3800)]
    rng.shuffle(visits)
    return tuple(f"visitor-{number}" for number in visits)


VISITOR_EVENTS: tuple[str, ...] = _visitor_events()

#: q4: the texts that the setup puts in the stream 'reviews'.
REVIEWS: tuple[str, ...] = (
    "Absolutely love this kettle, it boils in a minute!",
    "Terrible customer service, I am never ordering again.",
    "The package arrived on Tuesday.",
    "Great value and the colour is lovely.",
    "It broke after two days. Very disappointed.",
    "The manual is printed in English and French.",
    "Fast delivery, friendly driver, happy customer :)",
    "Worst purchase this year, a complete waste of money.",
    "The lid is blue.",
    "Not bad at all, I would buy it again.",
    "The handle gets hot and hurt my hand.",
    "The box is 30 cm wide and weighs 2 kg.",
)


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def label(text: str) -> str:
    """'positive', 'negative' or 'neutral' from VADER's compound score (the usual ±0.05 thresholds).

    Example::

        label("I love it")    # 'positive'
    """
    compound = _analyzer().polarity_scores(text)["compound"]
    if compound >= 0.05:
        return "positive"
    if compound <= -0.05:
        return "negative"
    return "neutral"



class LowBatteryRule(Problem):
    title = "Write the low-battery rule"
    takes_answer = True
    hints = (
        "Your rule gets one reading: a dict with 'device', 'ts', 'temperature' and 'battery' (a float, in %).",
        "Below 20 %: SADD devices:low_battery <device>. Otherwise SREM it, so a recharged device leaves the set.",
    )
    solution_code = dedent("""
        def low_battery_rule(r, reading):
            if reading['battery'] < 20:
                r.sadd('devices:low_battery', reading['device'])
            else:
                r.srem('devices:low_battery', reading['device'])

        answer = low_battery_rule
    """)
    wrong_code = dedent("""
        def low_battery_rule(r, reading):
            if reading['battery'] < 20:
                r.sadd('devices:low_battery', reading['device'])

        answer = low_battery_rule
    """)
    wrong_message = "should not be in devices:low_battery"
    readings = (
        {"device": "dev-1", "ts": 1700000000, "temperature": 21.0, "battery": 15.0},
        {"device": "dev-2", "ts": 1700000000, "temperature": 22.5, "battery": 55.0},
        {"device": "dev-3", "ts": 1700000000, "temperature": 20.1, "battery": 9.5},
        {"device": "dev-4", "ts": 1700000010, "temperature": 23.0, "battery": 19.9},
        {"device": "dev-5", "ts": 1700000010, "temperature": 19.4, "battery": 20.0},
        {"device": "dev-3", "ts": 1700000020, "temperature": 20.3, "battery": 80.0},
    )

    def verify(self, r: Any, answer: Any) -> str:
        rule = expect_callable(answer, "low_battery_rule")
        r.delete("devices:low_battery")
        latest: dict[str, float] = {}
        for reading in self.readings:
            rule(r, dict(reading))
            latest[reading["device"]] = reading["battery"]
        expected = {device for device, battery in latest.items() if battery < 20}
        found = r.smembers("devices:low_battery") if r.exists("devices:low_battery") else set()
        expect(r.type("devices:low_battery") in ("set", "none"), "'devices:low_battery' must be a set (SADD/SREM)")
        missing, extra = sorted(expected - found), sorted(found - expected)
        expect(not missing, f"{missing} reported a battery below 20 % but are not in devices:low_battery")
        expect(not extra, f"{extra} should not be in devices:low_battery: their latest battery reading is 20 % or more")
        return f"devices:low_battery = {sorted(expected)} after {len(self.readings)} readings (dev-3 recharged and left)"


class IdempotencyKeys(Problem):
    title = "Detect duplicates with expiring idempotency keys"
    takes_answer = True
    hints = (
        "SET with NX writes only if the key does not exist, and returns None (falsy) when it already did.",
        "return bool(r.set(f'seen:{event_id}', 1, nx=True, ex=600))",
    )
    solution_code = dedent("""
        def first_time(r, event_id):
            return bool(r.set(f'seen:{event_id}', 1, nx=True, ex=600))

        answer = first_time
    """)
    wrong_code = dedent("""
        def first_time(r, event_id):
            return bool(r.set(f'seen:{event_id}', 1, ex=600))

        answer = first_time
    """)
    wrong_message = "was accepted again"
    events = ("e1", "e2", "e1", "e3", "e2", "e1")

    def verify(self, r: Any, answer: Any) -> str:
        first_time = expect_callable(answer, "first_time")
        r.delete(*{f"seen:{event}" for event in self.events})
        seen: set[str] = set()
        for event in self.events:
            result = first_time(r, event)
            if event in seen:
                expect(not result, f"event {event!r} was accepted again: a second delivery must return False")
            else:
                expect(result, f"event {event!r} arrived for the first time but your function returned {result!r}")
            seen.add(event)
        expect(r.exists("seen:e1"), "no key 'seen:e1': keep one idempotency key per event, named f'seen:{event_id}'")
        ttl = r.ttl("seen:e1")
        expect(ttl > 0, "'seen:e1' has no TTL: idempotency keys must expire (ex=600), or they grow forever")
        expect(ttl <= 600, f"'seen:e1' lives {ttl} s; ten minutes (600 s) is the retry window here")
        return "duplicates rejected; every key expires after the retry window"


class HllUniques(Problem):
    title = "Count unique visitors in a HyperLogLog"
    keys = ("visitors:hll",)
    hints = (
        "r.pfadd('visitors:hll', *ex.VISITOR_EVENTS) adds every event; repeats change nothing.",
        "Then r.pfcount('visitors:hll') estimates the number of distinct visitors (about 0.81 % standard error).",
    )
    solution_code = dedent("""
        from labkit.exercises import pipelines as ex
        r.pfadd('visitors:hll', *ex.VISITOR_EVENTS)
    """)
    wrong_code = dedent("""
        from labkit.exercises import pipelines as ex
        r.sadd('visitors:hll', *ex.VISITOR_EVENTS)
    """)
    wrong_message = "create it with PFADD"

    def verify(self, r: Any, answer: Any) -> str:
        kind = r.type("visitors:hll")
        expect(kind == "string", f"'visitors:hll' holds a {kind}; a HyperLogLog is stored as a string: create it with PFADD")
        expect(r.getrange("visitors:hll", 0, 3) == "HYLL", "'visitors:hll' is a plain string, not a HyperLogLog: create it with PFADD")
        exact = len(set(VISITOR_EVENTS))
        estimate = r.pfcount("visitors:hll")
        expect(abs(estimate - exact) <= 0.03 * exact, f"the estimate is {estimate}, but there are {exact} distinct visitors: add every event in ex.VISITOR_EVENTS")
        return f"estimate {estimate} for {exact} distinct visitors"


class SentimentCounts(Problem):
    title = "Score the review stream in a consumer group"
    keys = ("sentiment:counts",)
    hints = (
        "r.xreadgroup('scorers', 'w1', {'reviews': '>'}, count=100) returns [[stream, [(id, fields), ...]]].",
        "For each entry: HINCRBY sentiment:counts ex.label(fields['text']) 1, then XACK reviews scorers id.",
    )
    solution_code = dedent("""
        from labkit.exercises import pipelines as ex
        for stream, entries in r.xreadgroup('scorers', 'w1', {'reviews': '>'}, count=100):
            for entry_id, fields in entries:
                r.hincrby('sentiment:counts', ex.label(fields['text']), 1)
                r.xack('reviews', 'scorers', entry_id)
    """)
    wrong_code = dedent("""
        from labkit.exercises import pipelines as ex
        for stream, entries in r.xreadgroup('scorers', 'w1', {'reviews': '>'}, count=100):
            for entry_id, fields in entries:
                r.hincrby('sentiment:counts', ex.label(fields['text']), 1)
    """)
    wrong_message = "still pending"

    def prepare(self, r: Any) -> None:
        r.delete("reviews", "sentiment:counts")
        for text in REVIEWS:
            r.xadd("reviews", {"text": text})
        r.xgroup_create("reviews", "scorers", id="0")

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "sentiment:counts", "hash")
        expected: dict[str, int] = {}
        for text in REVIEWS:
            expected[label(text)] = expected.get(label(text), 0) + 1
        found = {field: int(value) for field, value in r.hgetall("sentiment:counts").items()}
        expect(found == expected, f"sentiment:counts is {found}; scoring each review once with ex.label gives {expected}")
        pending = r.xpending("reviews", "scorers")["pending"]
        expect(pending == 0, f"{pending} reviews are still pending in 'scorers': XACK each one after counting it")
        return f"{len(REVIEWS)} reviews scored and acknowledged: {expected}"


q1 = LowBatteryRule()
q2 = IdempotencyKeys()
q3 = HllUniques()
q4 = SentimentCounts()

"""Exercises for notebook 09_time_series: readings in a sorted set with Unix time as the score.

Example::

    from labkit.exercises import time_series as ex
    ex.use(r)
    ex.q1.check()
"""

from __future__ import annotations

import random
from textwrap import dedent
from typing import Any

from .core import Incorrect, NotAttempted, Problem, expect, expect_type, use

__all__ = ["NOTEBOOK", "READINGS", "T0", "WINDOW", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "09_time_series"

#: The first minute of every series here (a multiple of 60, so minutes start on it).
T0 = 1_700_000_040

#: q1: (Unix time, temperature) readings of sensor 7; three of them are equal on purpose.
READINGS: tuple[tuple[int, float], ...] = ((T0, 21.5), (T0 + 60, 21.5), (T0 + 120, 21.7), (T0 + 180, 21.5))

#: q2: the window to query, both ends included.
WINDOW: tuple[int, int] = (T0 + 1800, T0 + 3600)


def _irregular_series() -> list[tuple[int, float]]:
    """Readings 20-100 s apart for about two hours, with readings exactly on both ends of WINDOW."""
    rng = random.Random(9)
    times, now = [], T0
    while now < T0 + 7200:
        times.append(now)
        now += rng.randint(20, 100)
    times = sorted(set(times) | set(WINDOW))
    return [(ts, round(20 + 3 * rng.random(), 1)) for ts in times]


def _member_value(member: str) -> float:
    """The temperature part of a member written as '<time>:<value>'."""
    return float(str(member).rsplit(":", 1)[-1])


def _write(r: Any, key: str, readings: list[tuple[int, float]]) -> None:
    r.delete(key)
    r.zadd(key, {f"{ts}:{value}": ts for ts, value in readings})


class RecordReadings(Problem):
    title = "Record four readings without losing the equal ones"
    keys = ("ts:sensor:7",)
    hints = (
        "A sorted set keeps one copy of each member: ZADD with a member that already exists only moves its score.",
        "Make every member unique by putting the time in it: f'{ts}:{value}', with the time as the score.",
    )
    solution_code = dedent("""
        from labkit.exercises import time_series as ex
        for ts, value in ex.READINGS:
            r.zadd('ts:sensor:7', {f'{ts}:{value}': ts})
    """)
    wrong_code = dedent("""
        from labkit.exercises import time_series as ex
        for ts, value in ex.READINGS:
            r.zadd('ts:sensor:7', {str(value): ts})
    """)
    wrong_message = "collapsed"

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "ts:sensor:7", "zset")
        stored = r.zrange("ts:sensor:7", 0, -1, withscores=True)
        expect(
            len(stored) == len(READINGS),
            f"'ts:sensor:7' holds {len(stored)} members but sensor 7 sent {len(READINGS)} readings: "
            "equal readings collapsed into one member. Put the time in the member, e.g. f'{ts}:{value}'.",
        )
        for (member, score), (ts, value) in zip(stored, READINGS):
            expect(int(score) == ts, f"the reading taken at {ts} is missing (found a score of {int(score)}); use the Unix time as the score")
            try:
                found = _member_value(member)
            except ValueError:
                raise Incorrect(f"member {member!r} does not end with the temperature; write members as f'{{ts}}:{{value}}'") from None
            expect(found == value, f"the reading at {ts} should be {value}, but its member {member!r} says {found}")
        return "four readings, four members: equal temperatures no longer collapse"


class WindowQuery(Problem):
    title = "Read the temperatures of a time window"
    takes_answer = True
    hints = (
        "ZRANGE key min max BYSCORE returns the members whose score lies between min and max, both included.",
        "The members are '<time>:<value>': split each on ':' and keep float(value).",
    )
    solution_code = dedent("""
        from labkit.exercises import time_series as ex
        start, end = ex.WINDOW
        members = r.zrange('ts:temp', start, end, byscore=True)
        answer = [float(member.split(':')[1]) for member in members]
    """)
    wrong_code = dedent("""
        from labkit.exercises import time_series as ex
        start, end = ex.WINDOW
        members = r.zrange('ts:temp', start, f'({end}', byscore=True)
        answer = [float(member.split(':')[1]) for member in members]
    """)
    wrong_message = "both ends included"

    def prepare(self, r: Any) -> None:
        _write(r, "ts:temp", _irregular_series())

    def verify(self, r: Any, answer: Any) -> str:
        start, end = WINDOW
        expected = [value for ts, value in _irregular_series() if start <= ts <= end]
        values = [_member_value(item) if isinstance(item, str) and ":" in item else float(item) for item in answer]
        expect(
            len(values) == len(expected),
            f"your answer has {len(values)} readings; the window [{start}, {end}] (both ends included) holds {len(expected)}",
        )
        expect(values == expected, "the readings are not those of the window in time order: use ZRANGE ... BYSCORE (not by rank)")
        return f"{len(expected)} readings between {start} and {end}"


class Retention(Problem):
    title = "Keep only the last hour"
    hints = (
        "ZREMRANGEBYSCORE key min max deletes by time. Find the newest time with ZRANGE key -1 -1 WITHSCORES.",
        "Delete scores strictly below newest - 3600: max is f'({newest - 3600}' (the '(' excludes the bound).",
    )
    solution_code = dedent("""
        newest = int(r.zrange('ts:temp', -1, -1, withscores=True)[0][1])
        r.zremrangebyscore('ts:temp', '-inf', f'({newest - 3600}')
    """)
    wrong_code = dedent("""
        newest = int(r.zrange('ts:temp', -1, -1, withscores=True)[0][1])
        r.zremrangebyscore('ts:temp', '-inf', newest - 3600)
    """)
    wrong_message = "inside the last hour"
    _readings = [(T0 + 60 * i, round(20 + (i % 7) / 10, 1)) for i in range(121)]

    def prepare(self, r: Any) -> None:
        _write(r, "ts:temp", self._readings)

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "ts:temp", "zset")
        if r.zcard("ts:temp") == len(self._readings):
            raise NotAttempted(f"{self.title}: 'ts:temp' still holds all {len(self._readings)} readings; delete the old ones with ZREMRANGEBYSCORE.")
        newest = self._readings[-1][0]
        stored = r.zrange("ts:temp", 0, -1, withscores=True)
        expect(stored and int(stored[-1][1]) == newest, "the newest reading was deleted: retention removes only the old end")
        expect(int(stored[0][1]) >= newest - 3600, f"'ts:temp' still holds readings older than one hour before the newest ({newest})")
        keep = sum(1 for ts, _ in self._readings if ts >= newest - 3600)
        expect(len(stored) == keep, f"{keep - len(stored)} reading(s) inside the last hour were deleted too: exclude the bound with '('")
        return f"{keep} readings left, none older than an hour"


class Downsample(Problem):
    title = "Downsample 10-second readings to one-minute averages"
    keys = ("ts:temp:1m",)
    hints = (
        "Read each minute with ZRANGE ts:temp start start+59 BYSCORE, starting at the first reading's time (a whole minute).",
        "Store each average with ZADD ts:temp:1m {f'{start}:{average:.2f}': start}.",
    )
    solution_code = dedent("""
        first = int(r.zrange('ts:temp', 0, 0, withscores=True)[0][1])
        last = int(r.zrange('ts:temp', -1, -1, withscores=True)[0][1])
        for start in range(first, last + 1, 60):
            values = [float(m.split(':')[1]) for m in r.zrange('ts:temp', start, start + 59, byscore=True)]
            if values:
                average = sum(values) / len(values)
                r.zadd('ts:temp:1m', {f'{start}:{average:.2f}': start})
    """)
    wrong_code = dedent("""
        first = int(r.zrange('ts:temp', 0, 0, withscores=True)[0][1])
        last = int(r.zrange('ts:temp', -1, -1, withscores=True)[0][1])
        for start in range(first, last + 1, 60):
            values = [float(m.split(':')[1]) for m in r.zrange('ts:temp', start, start + 60, byscore=True)]
            average = sum(values) / len(values)
            r.zadd('ts:temp:1m', {f'{start}:{average:.2f}': start})
    """)
    wrong_message = "the average of the minute"

    @staticmethod
    def _raw() -> list[tuple[int, float]]:
        rng = random.Random(4)
        return [(T0 + 10 * i, round(18 + i / 20 + rng.random(), 1)) for i in range(60)]

    def prepare(self, r: Any) -> None:
        _write(r, "ts:temp", self._raw())

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "ts:temp:1m", "zset")
        buckets: dict[int, list[float]] = {}
        for ts, value in self._raw():
            buckets.setdefault(ts - ts % 60, []).append(value)
        stored = r.zrange("ts:temp:1m", 0, -1, withscores=True)
        expect(len(stored) == len(buckets), f"'ts:temp:1m' holds {len(stored)} members; the 10 minutes of data need {len(buckets)}, one per minute")
        for member, score in stored:
            start = int(score)
            expect(start in buckets, f"score {start} is not the start of a minute of data; use the minute's first second as the score")
            average = sum(buckets[start]) / len(buckets[start])
            try:
                found = _member_value(member)
            except ValueError:
                raise Incorrect(f"member {member!r} does not end with the average; write f'{{start}}:{{average:.2f}}'") from None
            expect(abs(found - average) < 0.006, f"the average of the minute starting at {start} is {average:.2f}, but you stored {found}")
        return "ten one-minute averages: 6x fewer points, same shape"


q1 = RecordReadings()
q2 = WindowQuery()
q3 = Retention()
q4 = Downsample()

"""Exercises for notebook 09_time_series: readings in a sorted set with Unix time as the score.

Each exercise draws its own data when its cell runs `ex.qN.prepare()`, so no answer can be read off
an earlier output; the checks read the server (the sorted sets, and `INFO commandstats` / `INFO stats`
for how the learner got there).

Example::

    from labkit.exercises import time_series as ex
    ex.use(r)
    ex.q1.prepare()
    for ts, value in ex.q1.readings:
        r.zadd("ts:sensor:7", {f"{ts}:{value}": ts})
    ex.q1.check()
"""

from __future__ import annotations

import random
from textwrap import dedent
from typing import Any

from redis.cluster import RedisCluster

from .core import Incorrect, NotAttempted, Problem, Wrong, as_text, expect, expect_type, use

__all__ = ["NOTEBOOK", "draw_downsample", "draw_readings", "draw_retention", "draw_window", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "09_time_series"

# Per-run start times are whole minutes in 2024-2025: far from the notebook's own T0 (November
# 2023), so a time copied from the sections above is never one of an exercise's.
_FIRST_MINUTE, _LAST_MINUTE = 1_704_067_200 // 60, 1_767_225_600 // 60


def _start_minute(rng: random.Random) -> int:
    return 60 * rng.randint(_FIRST_MINUTE, _LAST_MINUTE)


def _value(member: Any) -> float:
    """The temperature part of a member written as '<time>:<value>'."""
    return float(as_text(member).rsplit(":", 1)[-1])


def _write(r: Any, key: str, readings: list[tuple[int, float]]) -> None:
    r.delete(key)
    r.zadd(key, {f"{ts}:{value}": ts for ts, value in readings})


class _EveryPrimary:
    """INFO summed over every primary of a cluster client (a RedisCluster sends INFO to one node)."""

    def __init__(self, client: RedisCluster) -> None:
        self.client = client

    def info(self, section: str) -> Any:
        return self.client.info(section, target_nodes=RedisCluster.PRIMARIES)


class _SeriesProblem(Problem):
    """Counts commands on every primary when the notebook runs against a cluster endpoint."""

    def _evidence_target(self) -> Any:
        target = super()._evidence_target()
        return _EveryPrimary(target) if isinstance(target, RedisCluster) else target

    def _untouched(self) -> NotAttempted:
        """What an untouched exercise says (for checks whose keys exist from the start, so 'create ...' does not apply)."""
        return NotAttempted(f"{self.title}: write your code under {self._call('prepare()')} in the exercise cell, run it, then run this check.")

    def _output_bytes(self) -> int | None:
        """Bytes the server has sent to its clients (`INFO stats` total_net_output_bytes, over every primary)."""
        target = self._evidence_target()
        if callable(getattr(target, "nodes", None)):
            return None  # a labkit topology: this module's checks are bound to a client
        info = target.info("stats")
        nodes = info.values() if info and all(isinstance(value, dict) for value in info.values()) else [info]
        counts = [node.get("total_net_output_bytes") for node in nodes]
        return None if any(count is None for count in counts) else sum(int(count) for count in counts)


# -- the data each exercise draws (pure functions of a random generator, tested without a server) ----

def draw_readings(rng: random.Random) -> list[tuple[int, float]]:
    """q1: 5-8 readings a minute apart, three of them with the same temperature."""
    count = rng.randint(5, 8)
    start = _start_minute(rng)
    base = round(rng.uniform(18.0, 26.0), 1)
    others = [round(base + step / 10, 1) for step in (-3, -2, -1, 1, 2, 3)]
    values = [base] * 3 + rng.sample(others, count - 3)
    rng.shuffle(values)
    return [(start + 60 * index, value) for index, value in enumerate(values)]


def draw_window(rng: random.Random) -> tuple[list[tuple[int, float]], tuple[int, int]]:
    """q2: about a day of readings 10-30 s apart (thousands), and a window of 40-90 readings with a reading on each end."""
    now, value, series = _start_minute(rng), round(rng.uniform(18.0, 24.0), 1), []
    for _ in range(rng.randint(4500, 5500)):
        series.append((now, value))
        now += rng.randint(10, 30)
        value = round(min(30.0, max(10.0, value + rng.choice((-0.1, 0.0, 0.1)))), 1)
    first = rng.randint(100, len(series) - 200)
    last = first + rng.randint(40, 90)
    return series, (series[first][0], series[last][0])


def draw_retention(rng: random.Random) -> list[tuple[int, float]]:
    """q3: 2-3 hours of readings 20-100 s apart, with one taken exactly an hour before the newest."""
    now, series = _start_minute(rng), []
    end = now + rng.randint(120, 180) * 60
    while now <= end:
        series.append(now)
        now += rng.randint(20, 100)
    series = sorted(set(series) | {series[-1] - 3600})
    return [(ts, round(rng.uniform(18.0, 24.0), 1)) for ts in series]


def draw_downsample(rng: random.Random) -> list[tuple[int, float]]:
    """q4: 8-12 minutes of readings every 10 s from a whole minute; two minutes share the same average."""
    start, minutes = _start_minute(rng), rng.randint(8, 12)
    per_minute = [[round(rng.uniform(18.0, 24.0), 1) for _ in range(6)] for _ in range(minutes)]
    twin, copy = rng.sample(range(minutes), 2)
    per_minute[copy] = rng.sample(per_minute[twin], 6)  # same readings, other order: the same average
    return [(start + 60 * minute + 10 * index, value) for minute, values in enumerate(per_minute) for index, value in enumerate(values)]


def _minute_averages(readings: list[tuple[int, float]]) -> dict[int, float]:
    buckets: dict[int, list[float]] = {}
    for ts, value in readings:
        buckets.setdefault(ts - ts % 60, []).append(value)
    return {start: sum(values) / len(values) for start, values in buckets.items()}


# -- the exercises -----------------------------------------------------------------------------------

class RecordReadings(_SeriesProblem):
    title = "Record sensor 7's readings without losing the equal ones"
    keys = ("ts:sensor:7",)
    hints = (
        "A sorted set keeps one copy of each member: a ZADD of a member that already exists only moves its score.",
        "Make every member unique by putting the time in it, f'{ts}:{value}', and keep the Unix time (seconds) as the score.",
        "for ts, value in ex.q1.readings: r.zadd('ts:sensor:7', {f'{ts}:{value}': ts})",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        for ts, value in ex.q1.readings:
            r.zadd("ts:sensor:7", {f"{ts}:{value}": ts})
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            for ts, value in ex.q1.readings:
                r.zadd("ts:sensor:7", {str(value): ts})
        """), "collapsed", why="the reading itself as the member: the pitfall"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.zadd("ts:sensor:7", {"1700000040:21.5": 1700000040, "1700000100:21.7": 1700000100, "1700000160:21.5": 1700000160})
        """), "not the time of any of this run's readings", why="the fixed series printed in the section, copied"),
        Wrong(dedent("""
            ex.q1.prepare()
            for ts, value in ex.q1.readings:
                r.zadd("ts:sensor:7", {f"{ts}:{value}": ts * 1000})
        """), "milliseconds", why="scores in milliseconds"),
        Wrong(dedent("""
            ex.q1.prepare()
            for ts, value in ex.q1.readings:
                r.zadd("ts:sensor:7", {str(ts): ts})
        """), "does not end with the temperature", why="unique members that lost the value"),
    )

    def setup(self, r: Any) -> None:
        self.readings = draw_readings(self.rng)

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "ts:sensor:7", "zset")
        stored = [(as_text(member), int(score)) for member, score in r.zrange("ts:sensor:7", 0, -1, withscores=True)]
        times = {ts for ts, _ in self.readings}
        for member, score in stored:
            if score not in times:
                unit = " (it looks like milliseconds: the score is the Unix time in seconds)" if score // 1000 in times else ""
                raise Incorrect(f"score {score} is not the time of any of this run's readings (ex.q1.readings){unit}; "
                                "write the readings that ex.q1.prepare() drew, each with its Unix time as the score")
        missing = sorted(times - {score for _, score in stored})
        expect(not missing, f"'ts:sensor:7' holds {len(stored)} members for {len(self.readings)} readings: the readings taken at "
                            f"{missing} are gone, collapsed into a later equal member (a ZADD of an existing member only moves "
                            "its score). Put the time in the member, e.g. f'{ts}:{value}'.")
        expect(len(stored) == len(self.readings), f"'ts:sensor:7' holds {len(stored)} members for {len(self.readings)} readings: one member per reading")
        wanted = dict(self.readings)
        for member, score in stored:
            try:
                found = _value(member)
            except ValueError:
                raise Incorrect(f"member {member!r} does not end with the temperature; write members as f'{{ts}}:{{value}}'") from None
            expect(":" in member and found == wanted[score],
                   f"member {member!r} does not end with the temperature of the reading at {score} ({wanted[score]}); "
                   "write members as f'{ts}:{value}'")
        return f"{len(self.readings)} readings, {len(self.readings)} members: equal temperatures no longer collapse"


class WindowQuery(_SeriesProblem):
    title = "Read the temperatures of a time window with one range query"
    takes_answer = True
    hints = (
        "ZRANGE key min max BYSCORE (byscore=True in redis-py) returns the members whose score lies between min and max, both included.",
        "Let the server pick the window: reading the whole series and filtering it in Python sends thousands of readings over the network.",
        "start, end = ex.q2.window; answer = [float(m.split(':')[1]) for m in r.zrange('ts:temp', start, end, byscore=True)]",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        start, end = ex.q2.window
        members = r.zrange("ts:temp", start, end, byscore=True)
        answer = [float(member.split(":")[1]) for member in members]
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            start, end = ex.q2.window
            members = r.zrange("ts:temp", start, f"({end}", byscore=True)
            answer = [float(member.split(":")[1]) for member in members]
        """), "both ends included", why="the end excluded with '('"),
        Wrong(dedent("""
            ex.q2.prepare()
            start, end = ex.q2.window
            rows = r.zrange("ts:temp", 0, -1, withscores=True)
            answer = [float(member.split(":")[1]) for member, score in rows if start <= score <= end]
        """), "filtered it in Python", why="the whole series read and filtered on the client"),
        Wrong(dedent("""
            ex.q2.prepare()
            start, end = ex.q2.window
            members = r.zrange("ts:temp", start, end)
            answer = [float(member.split(":")[1]) for member in members]
        """), "by rank", why="ZRANGE without BYSCORE reads by index"),
        Wrong("ex.q2.prepare()\nanswer = window", "this run's window", why="the window computed in the section above"),
    )

    def setup(self, r: Any) -> None:
        series, self.window = draw_window(self.rng)
        _write(r, "ts:temp", series)
        start, end = self.window
        self.expected = [value for ts, value in series if start <= ts <= end]
        # What reading the whole series costs in reply bytes (RESP: $<len>\r\n<member>\r\n per member).
        self.full_read_bytes = sum(len(f"{ts}:{value}") + 6 for ts, value in series)
        self.bytes_at_setup = self._output_bytes()

    def cleanup(self, r: Any) -> None:
        r.delete("ts:temp")

    def verify(self, r: Any, answer: Any) -> str:
        start, end = self.window
        expect(isinstance(answer, (list, tuple)), f"answer should be the list of temperatures; got a {type(answer).__name__}")
        try:
            values = [_value(item) for item in answer]
        except (TypeError, ValueError):
            raise Incorrect("answer should hold the temperatures as numbers (or the members '<time>:<value>')") from None
        by_rank = " ZRANGE without BYSCORE reads by rank (index), not by time." if not values else ""
        expect(len(values) == len(self.expected),
               f"your answer has {len(values)} readings, but this run's window [{start}, {end}] (both ends included) holds "
               f"{len(self.expected)}.{by_rank}")
        expect(values == self.expected, f"your readings are not those of this run's window [{start}, {end}] in time order")
        calls = self.commands_since_prepare()
        expect(calls.get("zrange", 0) + calls.get("zrangebyscore", 0) >= 1,
               "the server saw no ZRANGE: read the window from 'ts:temp' with ZRANGE ... BYSCORE")
        sent = self._output_bytes()
        if sent is not None and self.bytes_at_setup is not None:
            expect(sent - self.bytes_at_setup < self.full_read_bytes / 2,
                   f"the server sent {sent - self.bytes_at_setup:,} bytes since ex.q2.prepare(), as much as the whole series "
                   f"({r.zcard('ts:temp'):,} readings): you read it all and filtered it in Python. Let the server select the "
                   "window with ZRANGE ... BYSCORE (if you only looked at the whole series first, run the exercise cell again without that read).")
        return f"{len(self.expected)} readings between {start} and {end}, selected by the server"


class Retention(_SeriesProblem):
    title = "Keep only the last hour, with one ZREMRANGEBYSCORE"
    hints = (
        "ZREMRANGEBYSCORE key min max deletes by time. The newest time: r.zrange('ts:temp', -1, -1, withscores=True).",
        "Delete the scores strictly below latest - 3600: max is f'({latest - 3600}' (the '(' excludes the bound, so the reading "
        "taken exactly one hour before the newest stays).",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        latest = int(r.zrange("ts:temp", -1, -1, withscores=True)[0][1])
        r.zremrangebyscore("ts:temp", "-inf", f"({latest - 3600}")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            r.zremrangebyscore("ts:temp", "-inf", f"({newest - 3600}")
        """), "older than one hour", why="the section's `newest` (sensor 1), not this series' newest"),
        Wrong(dedent("""
            ex.q3.prepare()
            latest = int(r.zrange("ts:temp", -1, -1, withscores=True)[0][1])
            r.zremrangebyscore("ts:temp", "-inf", latest - 3600)
        """), "exactly one hour before the newest was deleted", why="the bound included"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.zremrangebyrank("ts:temp", 0, -(60 + 1))
        """), "ZREMRANGEBYRANK", why="a cap by count: 60 readings are not an hour of irregular readings"),
        Wrong(dedent("""
            ex.q3.prepare()
            latest = int(r.zrange("ts:temp", -1, -1, withscores=True)[0][1])
            for member, score in r.zrange("ts:temp", 0, -1, withscores=True):
                if score < latest - 3600:
                    r.zrem("ts:temp", member)
        """), "one by one", why="a client-side loop of ZREM"),
    )

    #: Commands that write the series another way than trimming it in place.
    _REWRITES = ("zadd", "del", "unlink", "expire", "pexpire", "zrangestore", "zunionstore", "zinterstore", "zdiffstore", "rename")
    _WRITES = ("zremrangebyscore", "zremrangebyrank", "zremrangebylex", "zrem", "zpopmin", "zpopmax", "zmpop", *_REWRITES)

    def setup(self, r: Any) -> None:
        self.readings = draw_retention(self.rng)
        _write(r, "ts:temp", self.readings)

    def cleanup(self, r: Any) -> None:
        r.delete("ts:temp")

    def attempted(self, r: Any, answer: Any) -> bool:
        calls = self.commands_since_prepare()
        if not any(calls.get(command) for command in self._WRITES):
            raise self._untouched()
        return True

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect(not calls.get("zremrangebyrank"),
               "ZREMRANGEBYRANK deletes by position, not by time: with irregular readings no count of members is one hour. "
               "Use ZREMRANGEBYSCORE with the time bound.")
        expect(not any(calls.get(command) for command in ("zrem", "zremrangebylex", "zpopmin", "zpopmax", "zmpop")),
               "you deleted old readings one by one: one ZREMRANGEBYSCORE deletes the whole old range on the server")
        rewrites = sorted(command.upper() for command in self._REWRITES if calls.get(command))
        expect(not rewrites, f"you rewrote the series ({', '.join(rewrites)}): trim it in place with one ZREMRANGEBYSCORE")
        expect(calls.get("zremrangebyscore", 0) == 1,
               f"the server saw {calls.get('zremrangebyscore', 0)} ZREMRANGEBYSCORE commands; one is enough for retention")
        expect_type(r, "ts:temp", "zset")
        newest = self.readings[-1][0]
        cutoff = newest - 3600
        stored = [int(score) for _, score in r.zrange("ts:temp", 0, -1, withscores=True)]
        expect(stored and stored[-1] == newest, "the newest reading was deleted: retention removes only the old end")
        expect(stored[0] >= cutoff, f"'ts:temp' still holds readings older than one hour before the newest ({newest}): "
                                    f"the oldest left is at {stored[0]}, {(cutoff - stored[0]) // 60} min too old")
        expect(cutoff in stored, f"the reading taken exactly one hour before the newest was deleted (at {cutoff}): "
                                 "exclude the bound with '(' so that exactly one hour old stays")
        keep = sum(1 for ts, _ in self.readings if ts >= cutoff)
        expect(len(stored) == keep, f"'ts:temp' holds {len(stored)} readings; the last hour has {keep}")
        return f"{keep} readings left, none older than an hour, deleted by one ZREMRANGEBYSCORE"


class Downsample(_SeriesProblem):
    title = "Downsample 10-second readings to one-minute averages"
    keys = ("ts:temp:1m",)
    hints = (
        "Read each minute with ZRANGE ts:temp start start+59 BYSCORE, starting at the first reading's time (a whole minute).",
        "Store each average with ZADD ts:temp:1m {f'{start}:{average:.2f}': start}: the minute's start in the member keeps "
        "two minutes with the same average apart.",
    )
    solution_code = dedent("""
        ex.q4.prepare()
        first = int(r.zrange("ts:temp", 0, 0, withscores=True)[0][1])
        last = int(r.zrange("ts:temp", -1, -1, withscores=True)[0][1])
        for start in range(first, last + 1, 60):
            values = [float(m.split(":")[1]) for m in r.zrange("ts:temp", start, start + 59, byscore=True)]
            if values:
                r.zadd("ts:temp:1m", {f"{start}:{sum(values) / len(values):.2f}": start})
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q4.prepare()
            first = int(r.zrange("ts:temp", 0, 0, withscores=True)[0][1])
            last = int(r.zrange("ts:temp", -1, -1, withscores=True)[0][1])
            for start in range(first, last + 1, 60):
                values = [float(m.split(":")[1]) for m in r.zrange("ts:temp", start, start + 60, byscore=True)]
                r.zadd("ts:temp:1m", {f"{start}:{sum(values) / len(values):.2f}": start})
        """), "the average of the minute starting at", why="start + 60 included: each minute takes the next one's first reading"),
        Wrong(dedent("""
            ex.q4.prepare()
            first = int(r.zrange("ts:temp", 0, 0, withscores=True)[0][1])
            last = int(r.zrange("ts:temp", -1, -1, withscores=True)[0][1])
            for start in range(first, last + 1, 60):
                values = [float(m.split(":")[1]) for m in r.zrange("ts:temp", start, start + 59, byscore=True)]
                r.zadd("ts:temp:1m", {f"{sum(values) / len(values):.2f}": start})
        """), "collapsed", why="the average alone as the member: the pitfall again"),
        Wrong(dedent("""
            ex.q4.prepare()
            first = int(r.zrange("ts:temp", 0, 0, withscores=True)[0][1])
            last = int(r.zrange("ts:temp", -1, -1, withscores=True)[0][1])
            for start in range(first, last + 1, WINDOW):
                values = [float(m.split(":")[1]) for m in r.zrange("ts:temp", start, start + WINDOW - 1, byscore=True)]
                r.zadd("ts:temp:1m", {f"{start}:{sum(values) / len(values):.2f}": start})
        """), "one per minute", why="the section's 15-minute WINDOW"),
    )

    def setup(self, r: Any) -> None:
        self.readings = draw_downsample(self.rng)
        _write(r, "ts:temp", self.readings)

    def cleanup(self, r: Any) -> None:
        r.delete("ts:temp", "ts:temp:1m")

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "ts:temp:1m", "zset")
        averages = _minute_averages(self.readings)
        stored = [(as_text(member), int(score)) for member, score in r.zrange("ts:temp:1m", 0, -1, withscores=True)]
        for member, start in stored:
            expect(start in averages, f"score {start} is not the first second of a minute of this run's data; "
                                      "use each minute's start as the score")
        missing = sorted(set(averages) - {start for _, start in stored})
        if missing:
            kept = set()
            for member, _ in stored:
                try:
                    kept.add(round(_value(member), 2))
                except ValueError:
                    pass
            collapsed = [start for start in missing if round(averages[start], 2) in kept]
            note = (f" The minute starting at {collapsed[0]} has the same average as another one: with the average alone as "
                    "the member, the two collapsed into one. Put the minute's start in the member.") if collapsed else ""
            raise Incorrect(f"'ts:temp:1m' holds {len(stored)} point(s); the {len(averages)} minutes of data need "
                            f"{len(averages)}, one per minute.{note}")
        for member, start in stored:
            expect(member.startswith(f"{start}:"), f"member {member!r} should be f'{{start}}:{{average:.2f}}', starting with {start}:")
            try:
                found = _value(member)
            except ValueError:
                raise Incorrect(f"member {member!r} does not end with the average; write f'{{start}}:{{average:.2f}}'") from None
            expect(abs(found - averages[start]) < 0.006,
                   f"the average of the minute starting at {start} is {averages[start]:.2f}, but you stored {found}")
        return f"{len(averages)} one-minute averages: 6x fewer points, same shape"


q1 = RecordReadings()
q2 = WindowQuery()
q3 = Retention()
q4 = Downsample()

"""Exercises for notebook 18_streaming_pipelines: an IoT rule, idempotency keys, HyperLogLog on a
stream, and a consumer group that scores reviews. They work on one server or a cluster (the keys
of q4 share a hash tag).

Example::

    from labkit.exercises import pipelines as ex
    ex.use(r)
    ex.q1.check(low_battery_rule)     # pass your rule function itself
"""

from __future__ import annotations

import threading
from functools import lru_cache
from textwrap import dedent
from typing import Any

from .core import (
    Incorrect, NotAttempted, Problem, Wrong, as_text, call_learner, command_calls, expect, expect_callable, expect_type, use,
)

__all__ = ["NOTEBOOK", "REVIEWS", "label", "page_views", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "18_streaming_pipelines"

#: q4: the texts that its prepare() draws the stream '{feedback}:in' from.
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


def page_views(rng: Any, count: int = 5000) -> list[dict[str, str]]:
    """q3's data: `count` page views by a drawn number (800-1,600) of visitors with drawn ids, in random order.

    Example::

        views = page_views(random.Random(1))
        len(views), len({view["visitor"] for view in views})     # (5000, <drawn>)
    """
    distinct = rng.randint(800, 1600)
    visitors = [f"v{rng.getrandbits(40):010x}" for _ in range(distinct)]
    order = visitors + [rng.choice(visitors) for _ in range(count - distinct)]
    rng.shuffle(order)
    pages = ("/", "/pricing", "/docs", "/blog", "/signup")
    return [{"visitor": visitor, "page": rng.choice(pages)} for visitor in order]


class LowBatteryRule(Problem):
    title = "Write the low-battery rule"
    takes_answer = True
    keys = ("devices:low_battery",)
    hints = (
        "Your rule gets one reading: a dict with 'device', 'ts', 'temperature' and 'battery' (a float, in %).",
        "Below 20 %: SADD devices:low_battery <device>. Otherwise SREM it, so that a recharged device leaves the set. "
        "Touch only the reading's own device: other routers may be adding theirs.",
    )
    solution_code = dedent("""
        def low_battery_rule(r, reading):
            if reading["battery"] < 20:
                r.sadd("devices:low_battery", reading["device"])
            else:
                r.srem("devices:low_battery", reading["device"])
    """)
    wrong_answers = (
        Wrong(dedent("""
            def low_battery_rule(r, reading):
                if reading["battery"] < 20:
                    r.sadd("devices:low_battery", reading["device"])
        """), "should not be in devices:low_battery", why="never removes a recharged device"),
        Wrong(dedent("""
            def low_battery_rule(r, reading):
                if reading["battery"] <= 20:
                    r.sadd("devices:low_battery", reading["device"])
                else:
                    r.srem("devices:low_battery", reading["device"])
        """), "latest battery 20.0 %", why="off by one: 20 % counts as low"),
        Wrong(dedent("""
            def low_battery_rule(r, reading):
                if reading["battery"] < 20:
                    r.rpush("devices:low_battery", reading["device"])
                else:
                    r.lrem("devices:low_battery", 0, reading["device"])
        """), "needs a set", why="a list: duplicates on redelivery"),
        Wrong(dedent("""
            low_devices = set()

            def low_battery_rule(r, reading):
                if reading["battery"] < 20:
                    low_devices.add(reading["device"])
                else:
                    low_devices.discard(reading["device"])
                r.delete("devices:low_battery")
                if low_devices:
                    r.sadd("devices:low_battery", *low_devices)
        """), "no reading here concerned", why="state kept in Python, the whole set rewritten"),
    )

    def _readings(self) -> tuple[list[dict], str]:
        """Readings from 6 drawn devices: some low, one exactly 20 %, one recharged, one delivered twice."""
        rng = self.rng
        devices = [f"dev-{number:02d}" for number in rng.sample(range(10, 99), 7)]
        elsewhere, devices = devices[0], devices[1:]
        ts = rng.randrange(1_700_000_000, 1_800_000_000)
        batteries = [round(rng.uniform(2, 19.8), 1), round(rng.uniform(2, 19.8), 1), 20.0,
                     round(rng.uniform(21, 100), 1), round(rng.uniform(2, 19.8), 1), round(rng.uniform(21, 100), 1)]
        readings = [{"device": device, "ts": ts, "temperature": round(rng.uniform(18, 26), 1), "battery": battery}
                    for device, battery in zip(devices, batteries)]
        readings.append({**readings[0], "ts": ts + 10, "battery": round(rng.uniform(60, 100), 1)})   # recharged
        readings.append(dict(readings[1]))                                                            # delivered again
        readings.append({**readings[4], "ts": ts + 10})                                               # still low
        return readings, elsewhere

    def verify(self, r: Any, answer: Any) -> str:
        rule = expect_callable(answer, "low_battery_rule")
        readings, elsewhere = self._readings()
        r.delete("devices:low_battery")
        r.sadd("devices:low_battery", elsewhere)  # reported low by another router, for a reading not in this batch
        latest: dict[str, float] = {}
        for reading in readings:
            try:
                call_learner(rule, r, dict(reading))
            except Incorrect as failure:
                if "WRONGTYPE" not in str(failure):
                    raise
                raise Incorrect(f"'devices:low_battery' needs a set (SADD/SREM): another router had already added a device to it, "
                                f"and your rule's command does not work on a set ({failure.__cause__})") from failure
            latest[reading["device"]] = reading["battery"]
        kind = as_text(r.type("devices:low_battery"))
        expect(kind in ("set", "none"), f"'devices:low_battery' holds a {kind}; this rule needs a set (SADD/SREM), which also ignores a reading delivered twice")
        found = {as_text(member) for member in r.smembers("devices:low_battery")}
        expect(elsewhere in found,
               f"{elsewhere!r} was in devices:low_battery before, and no reading here concerned it, but your rule removed it: "
               f"touch only the reading's own device (other routers add theirs)")
        expected = {device for device, battery in latest.items() if battery < 20} | {elsewhere}
        missing, extra = sorted(expected - found), sorted(found - expected)
        expect(not missing, f"{missing} reported a battery below 20 % but are not in devices:low_battery")
        expect(not extra, "; ".join(f"{device} (latest battery {latest.get(device)} %)" for device in extra)
               + " should not be in devices:low_battery: only a battery below 20 % is low")
        return f"devices:low_battery holds the {len(expected)} low devices after {len(readings)} readings (a recharged one left)"


class IdempotencyKeys(Problem):
    title = "Detect duplicates with expiring idempotency keys"
    takes_answer = True
    hints = (
        "SET with NX writes only if the key does not exist, and returns None (falsy) when it already did: the check and the "
        "write are one step on the server.",
        "return bool(r.set(f'seen:{event_id}', 1, nx=True, ex=600))",
    )
    solution_code = dedent("""
        def first_time(r, event_id):
            return bool(r.set(f"seen:{event_id}", 1, nx=True, ex=600))
    """)
    wrong_answers = (
        Wrong(dedent("""
            def first_time(r, event_id):
                return bool(r.set(f"seen:{event_id}", 1, ex=600))
        """), "was accepted again", why="skips NX"),
        Wrong(dedent("""
            def first_time(r, event_id):
                if r.exists(f"seen:{event_id}"):
                    return False
                r.set(f"seen:{event_id}", 1, ex=600)
                return True
        """), "check-then-set", why="EXISTS then SET: two steps, racy"),
        Wrong(dedent("""
            def first_time(r, event_id):
                return bool(r.set(f"seen:{event_id}", 1, nx=True))
        """), "has no TTL", why="skips EX: the keys pile up forever"),
        Wrong(dedent("""
            def first_time(r, event_id):
                return bool(r.set(f"seen:{event_id}", 1, nx=True, ex=60))
        """), "600 s", why="a one-minute window instead of ten"),
        Wrong(dedent("""
            def first_time(r, event_id):
                if r.setnx(f"seen:{event_id}", 1):
                    r.expire(f"seen:{event_id}", 600)
                    return True
                return False
        """), "two commands", why="SETNX then EXPIRE"),
        Wrong(dedent("""
            seen_ids = set()

            def first_time(r, event_id):
                if event_id in seen_ids:
                    return False
                seen_ids.add(event_id)
                return True
        """), "no key", why="remembers in Python: lost on restart, not shared"),
    )

    def cleanup(self, r: Any) -> None:
        for key in getattr(self, "_keys", ()):
            r.delete(key)

    def verify(self, r: Any, answer: Any) -> str:
        first_time = expect_callable(answer, "first_time")
        rng = self.rng
        ids = [f"evt-{rng.getrandbits(40):010x}" for _ in range(4)]
        together = f"evt-{rng.getrandbits(40):010x}"
        self._keys = [f"seen:{event_id}" for event_id in (*ids, together)]
        self.cleanup(r)
        events = [ids[0], ids[1], ids[0], ids[2], ids[1], ids[0], ids[3]]

        before = command_calls(r)
        seen: set[str] = set()
        for event in events:
            result = call_learner(first_time, r, event)
            if event in seen:
                expect(not result, f"event {event!r} was accepted again: a second delivery within 10 minutes must return False")
            else:
                expect(result, f"event {event!r} arrived for the first time but your function returned {result!r}")
            seen.add(event)
        # The same event delivered to 8 consumers at the same moment: exactly one may take it.
        answers: list[Any] = []
        failures: list[Exception] = []
        barrier = threading.Barrier(8)

        def deliver() -> None:
            try:
                barrier.wait(timeout=5)
                answers.append(call_learner(first_time, r, together))
            except Exception as failure:  # reported below, never lost in a thread
                failures.append(failure)

        threads = [threading.Thread(target=deliver, daemon=True) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        after = command_calls(r)
        if failures:
            raise failures[0] if isinstance(failures[0], (Incorrect, NotAttempted)) else Incorrect(f"a delivery failed: {failures[0]!r}")
        calls = {name: count - before.get(name, 0) for name, count in after.items() if count > before.get(name, 0)}

        key = f"seen:{ids[0]}"
        expect(r.exists(key), f"no key {key!r}: keep one idempotency key per event in Redis, named f'seen:{{event_id}}', "
                              f"so that every consumer (and a restarted one) sees it")
        expect(not calls.get("setnx"),
               "SETNX then EXPIRE is two commands: a consumer that dies between them leaves a key that never expires. "
               "One SET with NX and EX does both")
        expect(not calls.get("exists") and not calls.get("get"),
               "your function reads the key before it writes it (check-then-set): two consumers can both see it missing and "
               "both accept the event. SET ... NX decides on the server, in one step")
        accepted = sum(bool(answer) for answer in answers)
        expect(accepted == 1, f"{accepted} of 8 simultaneous deliveries of the same event were accepted; exactly one should be")
        ttl = r.ttl(key)
        expect(ttl > 0, f"{key!r} has no TTL: idempotency keys must expire after the retry window (ex=600), or they pile up forever")
        expect(540 <= ttl <= 600, f"{key!r} lives {ttl} s; the retry window here is ten minutes: 600 s")
        return "duplicates rejected, one of 8 simultaneous deliveries accepted; every key expires after the retry window"


class HllUniques(Problem):
    title = "Count the distinct visitors of a stream in a HyperLogLog"
    keys = ("visitors:hll",)
    stream = "pageviews"
    hints = (
        "r.xrange('pageviews') returns [(entry_id, {'visitor': ..., 'page': ...}), ...]: all 5,000 page views.",
        "r.pfadd('visitors:hll', *[fields['visitor'] for _, fields in r.xrange('pageviews')]); repeats change nothing. "
        "r.pfcount('visitors:hll') then estimates the number of distinct visitors.",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        visitors = [fields["visitor"] for _, fields in r.xrange("pageviews")]
        r.pfadd("visitors:hll", *visitors)
        print("distinct visitors, estimated:", r.pfcount("visitors:hll"))
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            r.sadd("visitors:hll", *[fields["visitor"] for _, fields in r.xrange("pageviews")])
        """), "create it with PFADD", why="an exact set instead of a HyperLogLog"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.pfadd("visitors:hll", *[fields["visitor"] for _, fields in r.xrange("pageviews", count=1000)])
        """), "add the visitor of every entry", why="only the first 1,000 entries"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.pfadd("visitors:hll", *[entry_id for entry_id, _ in r.xrange("pageviews")])
        """), "not the entry id", why="counts entries, not visitors"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.pfadd("visitors:hll", *[f"visitor-{number}" for number in range(1200)])
        """), "does not hold the visitors", why="ids guessed from an earlier run (1,200 visitors)"),
    )

    def setup(self, r: Any) -> None:
        views = page_views(self.rng)
        self.visitors = {view["visitor"] for view in views}
        self.entries = len(views)
        with r.pipeline(transaction=False) as pipe:
            for view in views:
                pipe.xadd(self.stream, view)
            pipe.execute()

    def cleanup(self, r: Any) -> None:
        for key in (*self.keys, self.stream, "{visitors:hll}:check"):
            r.delete(key)

    def verify(self, r: Any, answer: Any) -> str:
        if not getattr(self, "visitors", None) or not r.exists(self.stream):
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare()')}: it writes the stream 'pageviews'")
        calls = self.commands_since_prepare()
        kind = as_text(r.type("visitors:hll"))
        expect(kind == "string", f"'visitors:hll' holds a {kind}; a HyperLogLog is stored as a string: create it with PFADD")
        expect(as_text(r.getrange("visitors:hll", 0, 3)) == "HYLL", "'visitors:hll' is a plain string, not a HyperLogLog: create it with PFADD")
        expect(calls.get("pfadd", 0) >= 1, "the server saw no PFADD since ex.q3.prepare(): add the visitors with PFADD")
        exact, estimate = len(self.visitors), r.pfcount("visitors:hll")
        # Add the real visitors to a copy: the count grows by about the number of ids in the sketch that are not visitors.
        probe = "{visitors:hll}:check"
        r.delete(probe)
        r.pfmerge(probe, "visitors:hll")
        r.pfadd(probe, *sorted(self.visitors))
        merged = r.pfcount(probe)
        r.delete(probe)
        if merged - exact > 0.03 * exact:
            expect(abs(estimate - self.entries) > 0.03 * self.entries,
                   f"'visitors:hll' counts {estimate:,}, about the number of entries ({self.entries:,}): add the field 'visitor' of "
                   f"each entry, not the entry id")
            raise Incorrect(f"'visitors:hll' does not hold the visitors of 'pageviews': adding them to a copy raised its count from "
                            f"{estimate:,} to {merged:,}. Add the field 'visitor' of every entry of the stream")
        expect(abs(estimate - exact) <= 0.03 * exact,
               f"the estimate is {estimate:,}, but there are {exact:,} distinct visitors among the {self.entries:,} entries: "
               f"add the visitor of every entry in 'pageviews'")
        return f"estimate {estimate:,} for {exact:,} distinct visitors, in {r.memory_usage('visitors:hll'):,} bytes"


class SentimentCounts(Problem):
    title = "Score the review stream in a consumer group"
    stream, counts, group, consumer = "{feedback}:in", "{feedback}:counts", "scorers", "w1"
    keys = ("{feedback}:counts",)
    hints = (
        "r.xreadgroup('scorers', 'w1', {'{feedback}:in': '>'}, count=10) returns [[stream, [(id, fields), ...]]], "
        "or an empty reply once everything was delivered: loop until then.",
        "For each batch, in one transaction (with r.pipeline(transaction=True) as pipe: ... pipe.execute()): for each entry "
        "HINCRBY {feedback}:counts ex.label(fields['text']) 1 and XACK {feedback}:in scorers <id>.",
    )
    solution_code = dedent("""
        ex.q4.prepare()
        while True:
            reply = r.xreadgroup("scorers", "w1", {"{feedback}:in": ">"}, count=10)
            if not reply or not reply[0][1]:
                break
            with r.pipeline(transaction=True) as pipe:
                for entry_id, fields in reply[0][1]:
                    pipe.hincrby("{feedback}:counts", ex.label(fields["text"]), 1)
                    pipe.xack("{feedback}:in", "scorers", entry_id)
                pipe.execute()
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q4.prepare()
            for entry_id, fields in r.xrange("{feedback}:in"):
                r.hincrby("{feedback}:counts", ex.label(fields["text"]), 1)
        """), "delivered nothing", why="reads the stream directly: no group, no delivery, no ack"),
        Wrong(dedent("""
            ex.q4.prepare()
            for review in ex.REVIEWS:
                r.hincrby("{feedback}:counts", ex.label(review), 1)
        """), "delivered nothing", why="counts the module's list, not the stream"),
        Wrong(dedent("""
            ex.q4.prepare()
            while True:
                reply = r.xreadgroup("scorers", "w1", {"{feedback}:in": ">"}, count=10)
                if not reply or not reply[0][1]:
                    break
                for entry_id, fields in reply[0][1]:
                    r.hincrby("{feedback}:counts", ex.label(fields["text"]), 1)
        """), "still pending", why="never acknowledges"),
        Wrong(dedent("""
            ex.q4.prepare()
            while True:
                reply = r.xreadgroup("scorers", "w1", {"{feedback}:in": ">"}, count=10)
                if not reply or not reply[0][1]:
                    break
                for entry_id, fields in reply[0][1]:
                    r.hincrby("{feedback}:counts", ex.label(fields["text"]), 1)
                    r.xack("{feedback}:in", "scorers", entry_id)
        """), "one MULTI/EXEC", why="counts and acks outside a transaction"),
        Wrong(dedent("""
            ex.q4.prepare()
            reply = r.xreadgroup("scorers", "w1", {"{feedback}:in": ">"}, count=10)
            with r.pipeline(transaction=True) as pipe:
                for entry_id, fields in reply[0][1]:
                    pipe.hincrby("{feedback}:counts", ex.label(fields["text"]), 1)
                    pipe.xack("{feedback}:in", "scorers", entry_id)
                pipe.execute()
        """), "were delivered", why="one batch of 10 only"),
        Wrong(dedent("""
            ex.q4.prepare()
            while True:
                reply = r.xreadgroup("scorers", "w1", {"{feedback}:in": ">"}, count=10)
                if not reply or not reply[0][1]:
                    break
                for entry_id, fields in reply[0][1]:
                    r.hincrby("{feedback}:counts", ex.label(fields["text"]), 1)
            r.xgroup_delconsumer("{feedback}:in", "scorers", "w1")
        """), "DELCONSUMER", why="clears the pending list by deleting the consumer instead of acking"),
    )

    def setup(self, r: Any) -> None:
        """A drawn number of reviews, drawn from REVIEWS (with repeats), and the group 'scorers' at the start."""
        count = self.rng.randint(24, 36)
        self.texts = [self.rng.choice(REVIEWS) for _ in range(count)]
        with r.pipeline(transaction=False) as pipe:
            for text in self.texts:
                pipe.xadd(self.stream, {"text": text})
            pipe.execute()
        r.xgroup_create(self.stream, self.group, id="0")

    def cleanup(self, r: Any) -> None:
        r.delete(self.stream)
        r.delete(self.counts)

    def verify(self, r: Any, answer: Any) -> str:
        if not getattr(self, "texts", None) or not r.exists(self.stream):
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare()')}: it writes the stream '{self.stream}'")
        calls = self.commands_since_prepare()
        expect_type(r, self.counts, "hash")
        groups = {as_text(group["name"]): group for group in r.xinfo_groups(self.stream)}
        expect(self.group in groups, f"the group {self.group!r} is gone from {self.stream!r}: run {self._call('prepare()')} again, and read through it")
        group = groups[self.group]
        total = len(self.texts)
        last_id = as_text(r.xrevrange(self.stream, count=1)[0][0])
        delivered_up_to = as_text(group["last-delivered-id"])
        expect(calls.get("xreadgroup", 0) and delivered_up_to != "0-0",
               f"the group {self.group!r} delivered nothing: read the reviews with XREADGROUP as consumer {self.consumer!r}, "
               f"so that the group knows what was delivered and redelivers what is not acknowledged")
        read = group.get("entries-read")
        expect(delivered_up_to == last_id,
               f"only {read if read is not None else 'some'} of the {total} reviews were delivered to the group: keep reading "
               f"with '>' until the reply is empty")
        consumers = {as_text(consumer["name"]): consumer for consumer in r.xinfo_consumers(self.stream, self.group)}
        expect(not calls.get("xgroup|delconsumer"),
               f"a consumer was deleted (XGROUP DELCONSUMER): that discards its pending entries without acknowledging them. "
               f"Acknowledge each entry with XACK once it is counted")
        expect(set(consumers) == {self.consumer}, f"the group's consumers are {sorted(consumers)}; read as consumer {self.consumer!r}")
        pending = r.xpending(self.stream, self.group)["pending"]
        expect(pending == 0, f"{pending} reviews are still pending in {self.group!r}: XACK each one after counting it")
        expected: dict[str, int] = {}
        for text in self.texts:
            expected[label(text)] = expected.get(label(text), 0) + 1
        found = {as_text(field): int(value) for field, value in r.hgetall(self.counts).items()}
        expect(sum(found.values()) == total,
               f"{self.counts} adds up to {sum(found.values())} reviews, but {total} were delivered: count each review exactly once")
        expect(found == expected, f"{self.counts} is {found}; scoring each review with ex.label gives {expected}")
        expect(calls.get("exec", 0) >= 1 and calls.get("multi", 0) >= 1,
               "you counted and acknowledged outside a transaction: a worker that dies between HINCRBY and XACK gets the review "
               "again and counts it twice. Send each batch's counts and acks in one MULTI/EXEC (r.pipeline(transaction=True))")
        return f"{total} reviews delivered, scored and acknowledged in transactions: {expected}"


q1 = LowBatteryRule()
q2 = IdempotencyKeys()
q3 = HllUniques()
q4 = SentimentCounts()

"""Exercises for notebook 21_observability_and_performance: a big key, a slow command, a hot key.

Each exercise's data is drawn anew by `prepare()`, so the answer cannot be read off an earlier output;
the checks also read the server's command counters, to see *how* the answer was found.

Example::

    from labkit.exercises import observability as ex
    ex.use(r)
    ex.q1.prepare()
    ex.q1.check(answer)
"""

from __future__ import annotations

import random
from textwrap import dedent
from typing import Any

from .core import Problem, Wrong, as_text, current_client, expect, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "21_observability_and_performance"


class BiggestKey(Problem):
    title = "Find the key that uses the most memory, with SCAN and MEMORY USAGE"
    takes_answer = True
    hints = (
        "r.scan_iter('inventory:*') walks the keys in small batches without blocking the server (KEYS would block it).",
        "r.memory_usage(key) is the number of bytes a key and its value take. Keep the key with the largest.",
        "answer = max(r.scan_iter('inventory:*', count=100), key=r.memory_usage)",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        answer = max(r.scan_iter("inventory:*", count=100), key=r.memory_usage)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            answer = max(r.keys("inventory:*"), key=r.memory_usage)
        """), "KEYS", why="KEYS walks every key in one blocking call"),
        Wrong(dedent("""
            ex.q1.prepare()
            def length(key):
                kind = r.type(key)
                return {"list": r.llen, "hash": r.hlen, "set": r.scard, "zset": r.zcard, "string": r.strlen}[kind](key)
            answer = max(r.scan_iter("inventory:*", count=100), key=length)
        """), "MEMORY USAGE", why="most elements is not most bytes"),
        Wrong(dedent("""
            ex.q1.prepare()
            answer = "inventory:big"
        """), "no key", why="a guessed name"),
    )

    def setup(self, r: Any) -> None:
        for key in list(r.scan_iter("inventory:*", count=500)):
            r.delete(key)
        rng = self.rng
        names = rng.sample(range(1000, 9999), 120)
        pipe = r.pipeline(transaction=False)
        for number in names[:-2]:
            kind = rng.choice(("string", "hash", "list", "set"))
            key = f"inventory:{number}"
            if kind == "string":
                pipe.set(key, "x" * rng.randint(10, 400))
            elif kind == "hash":
                pipe.hset(key, mapping={f"f{i}": "v" * rng.randint(1, 30) for i in range(rng.randint(2, 40))})
            elif kind == "list":
                pipe.rpush(key, *[str(i) for i in range(rng.randint(2, 60))])
            else:
                pipe.sadd(key, *[str(i) for i in range(rng.randint(2, 60))])
        # Two candidates: one with many tiny elements, one with few large ones (the biggest in bytes).
        many, heavy = names[-2], names[-1]
        pipe.rpush(f"inventory:{many}", *["1"] * 900)
        pipe.hset(f"inventory:{heavy}", mapping={f"photo{i}": "p" * 6000 for i in range(6)})
        pipe.execute()
        self._biggest = max(r.scan_iter("inventory:*", count=500), key=r.memory_usage)  # private: the answer

    def cleanup(self, r: Any) -> None:
        for key in list(r.scan_iter("inventory:*", count=500)):
            r.delete(key)

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect(not calls.get("keys"), "you used KEYS: it walks every key in one call and blocks the server meanwhile; "
                                      "walk them with SCAN (r.scan_iter) instead")
        name = as_text(answer)
        expect(r.exists(name), f"there is no key {name!r}: pass the name of the biggest inventory:* key")
        expect(calls.get("scan", 0) >= 1, "the server saw no SCAN: find the keys with SCAN (r.scan_iter)")
        expect(calls.get("memory|usage", 0) >= 2, "the server saw no MEMORY USAGE: compare the keys by the bytes they take")
        expect(name == self._biggest, f"{name!r} takes {r.memory_usage(name):,} bytes; another key takes more: compare MEMORY USAGE")
        return f"{name} takes {r.memory_usage(name):,} bytes: found by sampling, without blocking the server"


class SlowCommand(Problem):
    title = "Catch the slow command with SLOWLOG"
    takes_answer = True
    hints = (
        "CONFIG SET slowlog-log-slower-than 5000 logs every command that takes more than 5,000 µs (5 ms); SLOWLOG RESET empties the log.",
        "Run ex.q2.run_workload() after setting the threshold, then read r.slowlog_get(): each entry has 'command' (the command and its arguments) and 'duration' (µs).",
        "Keep the entry with the largest duration; the command's name is the first word of its 'command'.",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        r.config_set("slowlog-log-slower-than", 5000)
        r.slowlog_reset()
        ex.q2.run_workload()
        entries = r.slowlog_get(10)
        slowest = max(entries, key=lambda entry: entry["duration"])
        answer = slowest["command"].split()[0]
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            ex.q2.run_workload()
            answer = "EVAL"
        """), "slowlog-log-slower-than", why="no threshold set, a guessed name"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.config_set("slowlog-log-slower-than", 0)
            r.slowlog_reset()
            ex.q2.run_workload()
            answer = r.slowlog_get(10)[0]["command"].split()[0]
        """), "took longest", why="0 µs logs every command; the newest entry is a fast one, not the slowest"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.config_set("slowlog-log-slower-than", 5000)
            r.slowlog_reset()
            ex.q2.run_workload()
            answer = "slowlog"
        """), "SLOWLOG GET", why="never read the log"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.config_set("slowlog-log-slower-than", 5000)
            r.slowlog_reset()
            ex.q2.run_workload()
            r.slowlog_get(10)
            answer = "SORT"
        """), "took longest", why="the literal printed in the notebook above (its slow command was a SORT)"),
        Wrong(dedent("""
            ex.q2.prepare()
            ex.q2.run_workload()
            r.config_set("slowlog-log-slower-than", 5000)
            r.slowlog_reset()
            entries = r.slowlog_get(10)
            answer = entries[0]["command"].split()[0] if entries else "GET"
        """), "before the workload", why="a near miss: the threshold set after the workload ran, so nothing was logged"),
    )
    #: What the workload may make slow; one is drawn per run. Not SORT: the section above shows a SORT.
    SLOW_KINDS = ("SUNIONSTORE", "ZUNIONSTORE", "SDIFFSTORE", "ZRANGESTORE")

    def setup(self, r: Any) -> None:
        self._slow = self.rng.choice(self.SLOW_KINDS)  # private: the answer
        self.threshold_at_workload: int | None = None
        self._saved = r.config_get("slowlog-log-slower-than").get("slowlog-log-slower-than", "10000")
        r.config_set("slowlog-log-slower-than", 10_000_000)  # the learner sets the threshold
        for key in list(r.scan_iter("{workload}:*", count=1000)):
            r.delete(key)
        pipe = r.pipeline(transaction=False)
        for start in range(0, 200_000, 10_000):
            batch = range(start, start + 10_000)
            if self._slow in ("SUNIONSTORE", "SDIFFSTORE"):
                pipe.sadd("{workload}:a" if start % 20_000 else "{workload}:b", *batch)
            else:
                pipe.zadd("{workload}:za" if start % 20_000 else "{workload}:zb", {str(n): n for n in batch})
            pipe.execute()

    def run_workload(self) -> None:
        """Hundreds of fast commands and one slow one (which one was drawn by prepare())."""
        r = self._learner_client()
        self.threshold_at_workload = int(as_text(r.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]))
        for number in range(300):
            if number == 150:
                if self._slow == "SUNIONSTORE":
                    r.sunionstore("{workload}:out", ["{workload}:a", "{workload}:b"])
                elif self._slow == "SDIFFSTORE":
                    r.sdiffstore("{workload}:out", ["{workload}:a", "{workload}:b"])
                elif self._slow == "ZUNIONSTORE":
                    r.zunionstore("{workload}:out", ["{workload}:za", "{workload}:zb"])
                else:
                    r.execute_command("ZRANGESTORE", "{workload}:out", "{workload}:za", 0, -1)
            r.set(f"{{workload}}:fast:{number}", number)
            r.get(f"{{workload}}:fast:{number}")

    def _learner_client(self) -> Any:
        return self._client if self._client is not None else current_client()

    def cleanup(self, r: Any) -> None:
        for key in list(r.scan_iter("{workload}:*", count=1000)):
            r.delete(key)
        if getattr(self, "_saved", None) is not None:
            r.config_set("slowlog-log-slower-than", self._saved)

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        threshold = int(r.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"])
        expect(calls.get("config|set", 0) >= 1 and 0 <= threshold <= 20_000,
               f"slowlog-log-slower-than is {threshold:,} µs: set it to 5000 (5 ms) with CONFIG SET before the workload, "
               "or nothing slow is logged")
        at_workload = self.threshold_at_workload
        expect(at_workload is not None, "run ex.q2.run_workload() after setting the threshold, then read the slow log")
        expect(0 <= at_workload <= 20_000, f"the workload ran while slowlog-log-slower-than was {at_workload:,} µs, so its slow "
                                           "command was not logged: set the threshold before the workload, then run it again")
        expect(calls.get("slowlog|get", 0) >= 1, "the server saw no SLOWLOG GET: read the log to find the slow command")
        name = as_text(answer).strip().upper()
        expect(name == self._slow, f"{name!r} is not the command that took longest: read the entries of SLOWLOG GET (their 'command' and 'duration')")
        return f"{self._slow} was logged by SLOWLOG: one slow command among hundreds of fast ones"


class HotKey(Problem):
    title = "Find the hot key with OBJECT FREQ (LFU)"
    takes_answer = True
    hints = (
        "With an LFU eviction policy (CONFIG SET maxmemory-policy allkeys-lfu) the server keeps a small access counter per key; "
        "OBJECT FREQ key reads it.",
        "Set the policy, then run ex.q3.run_traffic(); walk the product:* keys with SCAN and keep the one with the highest OBJECT FREQ.",
        "answer = max(r.scan_iter('product:*', count=100), key=lambda key: r.object('freq', key))",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        r.config_set("maxmemory-policy", "allkeys-lfu")
        ex.q3.run_traffic()
        answer = max(r.scan_iter("product:*", count=100), key=lambda key: r.object("freq", key))
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            ex.q3.run_traffic()
            answer = max(r.scan_iter("product:*", count=100), key=lambda key: r.object("idletime", key) * -1)
        """), "maxmemory-policy", why="no LFU policy: OBJECT FREQ is not available, IDLETIME is not a frequency"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.config_set("maxmemory-policy", "allkeys-lfu")
            ex.q3.run_traffic()
            answer = min(r.scan_iter("product:*", count=100), key=lambda key: r.object("freq", key))
        """), "not the most used", why="the coldest key instead of the hottest"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.config_set("maxmemory-policy", "allkeys-lfu")
            ex.q3.run_traffic()
            answer = "product:1"
        """), "OBJECT FREQ", why="a guess"),
        Wrong(dedent("""
            ex.q3.prepare()
            ex.q3.run_traffic()
            r.config_set("maxmemory-policy", "allkeys-lfu")
            answer = max(r.scan_iter("product:*", count=100), key=lambda key: r.object("freq", key))
        """), "did not count", why="a near miss: LFU switched on after the traffic, so the counters saw none of it"),
    )

    def setup(self, r: Any) -> None:
        self._saved = r.config_get("maxmemory-policy").get("maxmemory-policy", "noeviction")
        r.config_set("maxmemory-policy", "noeviction")
        for key in list(r.scan_iter("product:*", count=500)):
            r.delete(key)
        self.ids = self.rng.sample(range(1, 500), 60)
        self._hot = f"product:{self.rng.choice(self.ids)}"  # private: the answer
        self.policy_at_traffic: str | None = None
        pipe = r.pipeline(transaction=False)
        for number in self.ids:
            pipe.set(f"product:{number}", "d" * 60)
        pipe.execute()

    def run_traffic(self) -> None:
        """Reads spread over the products, with one of them (drawn by prepare()) read far more often."""
        r = self._learner_client()
        self.policy_at_traffic = as_text(r.config_get("maxmemory-policy")["maxmemory-policy"])
        rng = random.Random()
        pipe = r.pipeline(transaction=False)
        for number in self.ids:  # written again, so that each key's counter starts under the current policy
            pipe.set(f"product:{number}", "d" * 60)
        for _ in range(3000):
            pipe.get(self._hot if rng.random() < 0.4 else f"product:{rng.choice(self.ids)}")
        pipe.execute()

    def _learner_client(self) -> Any:
        return self._client if self._client is not None else current_client()

    def cleanup(self, r: Any) -> None:
        for key in list(r.scan_iter("product:*", count=500)):
            r.delete(key)
        if getattr(self, "_saved", None) is not None:
            r.config_set("maxmemory-policy", self._saved)

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        policy = r.config_get("maxmemory-policy")["maxmemory-policy"]
        expect("lfu" in policy, f"maxmemory-policy is {policy}: OBJECT FREQ needs an LFU policy (CONFIG SET maxmemory-policy allkeys-lfu)")
        traffic_policy = self.policy_at_traffic
        expect(traffic_policy is not None, "run ex.q3.run_traffic() after switching to an LFU policy, then compare OBJECT FREQ")
        expect("lfu" in traffic_policy, f"the traffic ran under maxmemory-policy {traffic_policy}, so the server did not count "
                                        "its reads: switch to an LFU policy first, then run ex.q3.run_traffic() again")
        expect(calls.get("object|freq", 0) >= 2, "the server saw no OBJECT FREQ: compare the keys' access frequencies with OBJECT FREQ")
        name = as_text(answer)
        expect(name == self._hot, f"{name!r} is not the most used key: the hot key has the highest OBJECT FREQ")
        return f"{name} is the hot key: found from the server's own LFU counters"


q1 = BiggestKey()
q2 = SlowCommand()
q3 = HotKey()

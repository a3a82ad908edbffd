"""Exercises for `01_strings_and_counters`: SET options, MSET/MGET, counters, and cache-aside.

Example::

    from labkit.exercises import strings as ex
    ex.use(r)
    ex.q1.check()
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from .core import Problem, Wrong, expect, expect_ttl, expect_type, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "01_strings_and_counters"


class RateLimitWindow(Problem):
    title = "Open rate-limit windows with one SET each: only if absent, with a 60 s expiry"
    keys = ("ratelimit:alice", "ratelimit:bob")
    hints = (
        "One SET can do both: NX (only if the key does not exist) and EX (seconds to live).",
        "alice already has a window: a SET without NX would reset her count. Send the same SET for both users.",
        "r.set('ratelimit:alice', 1, nx=True, ex=60) and the same for bob",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        for user in ("alice", "bob"):
            r.set(f"ratelimit:{user}", 1, nx=True, ex=60)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            for user in ("alice", "bob"):
                r.set(f"ratelimit:{user}", 1, ex=60)
        """), "reset alice's window", why="skips NX"),
        Wrong(dedent("""
            ex.q1.prepare()
            for user in ("alice", "bob"):
                r.set(f"ratelimit:{user}", 1, nx=True)
        """), "has no TTL", why="skips EX"),
        Wrong(dedent("""
            ex.q1.prepare()
            for user in ("alice", "bob"):
                if not r.exists(f"ratelimit:{user}"):
                    r.set(f"ratelimit:{user}", 1, ex=60)
        """), "check-then-set", why="EXISTS then SET: two round trips, racy"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.set("ratelimit:bob", 1, nx=True, ex=60)
        """), "one SET per user", why="only bob"),
    )

    def setup(self, r: Any) -> None:
        """alice already has an open window: a count drawn per run, 60 s to live."""
        self.alice_count = self.rng.randint(2, 9)
        r.set("ratelimit:alice", self.alice_count, ex=60)

    def attempted(self, r: Any, answer: Any) -> bool:
        return bool(r.exists("ratelimit:bob"))

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect(not calls.get("exists") and not calls.get("get"),
               "you read the key before writing it (check-then-set): two round trips, and another client can slip in "
               "between them; SET ... NX decides on the server, in one step")
        expect(calls.get("set", 0) == 2, f"the server saw {calls.get('set', 0)} SET commands; send one SET per user (alice and bob)")
        expect(not calls.get("expire") and not calls.get("pexpire"), "EXPIRE after SET is a second command: give SET its EX option")
        alice = r.get("ratelimit:alice")
        expect(alice == str(self.alice_count),
               f"'ratelimit:alice' holds {alice!r} but held {self.alice_count}: your SET reset alice's window; NX leaves an existing key alone")
        expect_type(r, "ratelimit:bob", "string")
        expect(r.get("ratelimit:bob") == "1", f"'ratelimit:bob' holds {r.get('ratelimit:bob')!r}; a new window starts at 1")
        expect_ttl(r, "ratelimit:bob", 1, 60)
        return "SET NX EX: created once, never reset, expires by itself"


class ManyAtOnce(Problem):
    title = "MSET three names, MGET four"
    keys = ("user:1:name", "user:2:name", "user:3:name")
    takes_answer = True
    hints = (
        "r.mset({...}) takes a dict of key -> value; r.mget([...]) takes a list of keys and returns their values in the same order.",
        "A key that does not exist comes back from MGET as None, in its place.",
        "r.mset({'user:1:name': 'Ada', 'user:2:name': 'Grace', 'user:3:name': 'Edsger'}); "
        "answer = r.mget(['user:1:name', 'user:2:name', 'user:3:name', 'user:4:name'])",
    )
    solution_code = dedent("""
        r.mset({"user:1:name": "Ada", "user:2:name": "Grace", "user:3:name": "Edsger"})
        answer = r.mget(["user:1:name", "user:2:name", "user:3:name", "user:4:name"])
    """)
    wrong_code = dedent("""
        r.mset({"user:1:name": "Ada", "user:2:name": "Grace", "user:3:name": "Edsger"})
        answer = [value for value in r.mget(["user:1:name", "user:2:name", "user:3:name", "user:4:name"]) if value]
    """)
    wrong_message = "answer has 3 values"

    expected = {"user:1:name": "Ada", "user:2:name": "Grace", "user:3:name": "Edsger"}

    def verify(self, r: Any, answer: Any) -> str:
        for key, name in self.expected.items():
            expect_type(r, key, "string")
            value = r.get(key)
            expect(value == name, f"{key!r} holds {value!r}; expected {name!r}")
        expect(not r.exists("user:4:name"), "'user:4:name' should not exist: the point is to see what MGET returns for a missing key")
        expect(isinstance(answer, list), f"answer should be the list MGET returned; got a {type(answer).__name__}")
        expect(len(answer) == 4, f"answer has {len(answer)} values; MGET of four keys returns four, with None for a missing key")
        expect(answer == ["Ada", "Grace", "Edsger", None],
               f"answer is {answer!r}; MGET returns the values in the order of the keys you asked for, None for 'user:4:name'")
        return "MGET keeps the order of the keys and answers None for a missing one"


class StockAndPrice(Problem):
    title = "Atomic counters: sell 3 widgets, raise the price by 0.25"
    keys = ("stock:widget", "price:widget")
    hints = (
        "Start with r.set('stock:widget', 10) and r.set('price:widget', '2.50'), then change them only with atomic commands.",
        "DECRBY subtracts an integer: r.decrby('stock:widget', 3). INCRBYFLOAT adds a decimal: r.incrbyfloat('price:widget', 0.25).",
    )
    solution_code = dedent("""
        r.set("stock:widget", 10)
        r.set("price:widget", "2.50")
        r.decrby("stock:widget", 3)
        r.incrbyfloat("price:widget", 0.25)
    """)
    wrong_code = dedent("""
        r.set("stock:widget", 10)
        r.set("price:widget", "2.50")
        r.incrby("stock:widget", 3)
        r.incrbyfloat("price:widget", 0.25)
    """)
    wrong_message = "10 widgets minus 3 sold is 7"

    def attempted(self, r: Any, answer: Any) -> bool:
        return bool(r.exists("stock:widget") or r.exists("price:widget"))

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "stock:widget", "string")
        stock = r.get("stock:widget")
        expect(stock == "7", f"'stock:widget' holds {stock!r}; 10 widgets minus 3 sold is 7")
        expect_type(r, "price:widget", "string")
        price = r.get("price:widget")
        try:
            value = float(price)
        except ValueError:
            value = None
        expect(value is not None, f"'price:widget' holds {price!r}, which is not a number")
        expect(abs(value - 2.75) < 1e-9, f"'price:widget' is {price}; 2.50 + 0.25 is 2.75")
        return "DECRBY and INCRBYFLOAT change the value on the server, in one atomic step each"


class CacheAside(Problem):
    title = "Cache-aside: a cached square() with a 30 s TTL"
    takes_answer = True
    hints = (
        "Pass the function itself: answer = cached_square (no parentheses).",
        "Read the cache first: value = r.get(f'cache:square:{n}'); if it is not None, return int(value).",
        "On a miss compute n * n, store it with r.set(key, result, ex=30), and return it.",
    )
    solution_code = dedent("""
        def cached_square(n):
            key = f"cache:square:{n}"
            cached = r.get(key)
            if cached is not None:
                return int(cached)
            result = n * n
            r.set(key, result, ex=30)
            return result

        answer = cached_square
    """)
    wrong_code = dedent("""
        def cached_square(n):
            key = f"cache:square:{n}"
            cached = r.get(key)
            if cached is not None:
                return int(cached)
            result = n * n
            r.set(key, result)
            return result

        answer = cached_square
    """)
    wrong_message = "has no TTL"

    def verify(self, r: Any, answer: Any) -> str:
        expect(callable(answer), f"answer should be your function (answer = cached_square); got a {type(answer).__name__}")
        key = "cache:square:12"
        r.delete(key)
        first = answer(12)
        expect(first is not None and str(first) == "144", f"cached_square(12) returned {first!r} on a miss; expected 144")
        expect(r.exists(key), f"after a miss, cached_square(12) should store the result under {key!r}, but that key does not exist")
        stored = r.get(key)
        expect(stored == "144", f"{key!r} holds {stored!r} after a miss; expected '144'")
        expect_ttl(r, key, 1, 30)
        # Plant a different value: a function that reads the cache first must return it.
        r.set(key, 999, ex=30)
        second = answer(12)
        r.delete(key)
        expect(second is not None and str(second) == "999",
               f"with {key!r} holding 999, cached_square(12) returned {second!r}: it must read the cache before computing")
        return "misses fill the cache with a TTL; hits are served from the cache"


q1 = RateLimitWindow()
q2 = ManyAtOnce()
q3 = StockAndPrice()
q4 = CacheAside()

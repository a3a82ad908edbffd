"""Exercises for `01_strings_and_counters`: SET options, MSET/MGET, counters, and cache-aside.

Example::

    from labkit.exercises import strings as ex
    ex.use(r)
    ex.q1.check()
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from .core import NotAttempted, Problem, Wrong, call_learner, expect, expect_callable, expect_ttl, expect_type, use
from .welcome import ServerEvidence

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "01_strings_and_counters"


class RateLimitWindow(ServerEvidence):
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
        Wrong(dedent("""
            ex.q1.prepare()
            for user in ("alice", "bob"):
                r.set(f"ratelimit:{user}", 1, nx=True, ex=3600)
        """), "TTL of 3600", why="an hour instead of 60 s"),
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


PIONEERS = ("Hedy", "Alan", "Barbara", "Katherine", "Dennis", "Frances", "Ken", "Margaret", "Radia", "Donald",
            "Annie", "Tim", "Sophie", "Guido", "Jean", "Niklaus", "Lynn", "John", "Adele", "Shafi")
USER_KEYS = tuple(f"{{user}}:{n}:name" for n in range(1, 5))


class ManyAtOnce(ServerEvidence):
    title = "MSET this run's three names, MGET four"
    keys = USER_KEYS
    takes_answer = True
    hints = (
        "r.mset(mapping) takes a dict of key -> value, and ex.q2.names is such a dict; r.mget([...]) takes a list of keys "
        "and returns their values in the same order.",
        "A key that does not exist comes back from MGET as None, in its place.",
        "r.mset(ex.q2.names); answer = r.mget(['{user}:1:name', '{user}:2:name', '{user}:3:name', '{user}:4:name'])",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        r.mset(ex.q2.names)
        answer = r.mget(["{user}:1:name", "{user}:2:name", "{user}:3:name", "{user}:4:name"])
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            r.mset(ex.q2.names)
            answer = ["Ada", "Grace", "Edsger", None]
        """), "no MGET", why="a list typed by hand (the names of an earlier version of this exercise)"),
        Wrong(dedent("""
            ex.q2.prepare()
            for key, name in ex.q2.names.items():
                r.set(key, name)
            answer = r.mget(["{user}:1:name", "{user}:2:name", "{user}:3:name", "{user}:4:name"])
        """), "one MSET", why="three SETs instead of one MSET"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.mset(ex.q2.names)
            answer = [r.get(key) for key in ["{user}:1:name", "{user}:2:name", "{user}:3:name", "{user}:4:name"]]
        """), "4 GETs", why="four GETs, four round trips"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.mset(ex.q2.names)
            answer = [value for value in r.mget(["{user}:1:name", "{user}:2:name", "{user}:3:name", "{user}:4:name"]) if value]
        """), "answer has 3 values", why="drops the None of the missing key"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.mset(ex.q2.names)
            answer = r.mget(["{user}:3:name", "{user}:2:name", "{user}:1:name", "{user}:4:name"])
        """), "order of the keys", why="asks for the keys in another order than the task's"),
    )

    def setup(self, r: Any) -> None:
        """Three names drawn for this run, in `self.names` (key -> name); the learner stores them."""
        drawn = self.rng.sample(PIONEERS, 3)
        self.names = dict(zip(USER_KEYS[:3], drawn))
        print(f"ex.q2.names for this run: {self.names}")

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect(calls.get("mset", 0) >= 1,
               f"the server saw no MSET{' but ' + str(calls['set']) + ' SETs' if calls.get('set') else ''}: store the three names with one MSET")
        expect(not calls.get("set"), f"the server saw {calls.get('set')} SETs besides your MSET: store all three names with one MSET")
        expect(calls.get("mget", 0) >= 1,
               f"the server saw no MGET{' but ' + str(calls['get']) + ' GETs' if calls.get('get') else ''}: read the four keys "
               "with one MGET and pass the list it returned")
        names = getattr(self, "names", {})
        for key, name in names.items():
            expect_type(r, key, "string")
            value = r.get(key)
            expect(value == name, f"{key!r} holds {value!r}; this run's name for it is {name!r} (see ex.q2.names)")
        expect(not r.exists(USER_KEYS[3]), f"{USER_KEYS[3]!r} should not exist: the point is to see what MGET returns for a missing key")
        expect(isinstance(answer, list), f"answer should be the list MGET returned; got a {type(answer).__name__}")
        expect(len(answer) == 4, f"answer has {len(answer)} values; MGET of four keys returns four, with None for a missing key")
        expected = [names.get(key) for key in USER_KEYS]
        expect(answer == expected,
               f"answer is {answer!r}; MGET returns the values in the order of the keys you asked for, None for {USER_KEYS[3]!r}")
        return "MGET keeps the order of the keys and answers None for a missing one"


class StockAndPrice(ServerEvidence):
    title = "Atomic counters: sell 3 widgets, raise the price by 0.25"
    keys = ("stock:widget", "price:widget")
    hints = (
        "ex.q3.prepare() sets both keys; change them only with commands that compute on the server, no SET.",
        "DECRBY subtracts an integer: r.decrby('stock:widget', 3). INCRBYFLOAT adds a floating-point number: "
        "r.incrbyfloat('price:widget', 0.25).",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        r.decrby("stock:widget", 3)
        r.incrbyfloat("price:widget", 0.25)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            r.set("stock:widget", 7)
            r.set("price:widget", "2.75")
        """), "no SET", why="the literal of an earlier version (10 - 3, 2.50 + 0.25), written with SET"),
        Wrong(dedent("""
            ex.q3.prepare()
            stock, price = int(r.get("stock:widget")), float(r.get("price:widget"))
            r.set("stock:widget", stock - 3)
            r.set("price:widget", price + 0.25)
        """), "read-modify-write", why="GET + SET: right values, lost updates under concurrency"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.incrby("stock:widget", 3)
            r.incrbyfloat("price:widget", 0.25)
        """), "minus 3 sold", why="wrong sign: adds 3"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.decrby("stock:widget", 3)
        """), "INCRBYFLOAT", why="the price is not changed"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.decrby("stock:widget", 3)
            r.incrbyfloat("price:widget", 25)
        """), "plus 0.25", why="cents instead of the currency unit"),
    )

    def setup(self, r: Any) -> None:
        """This run's stock (an integer) and price (a decimal string), so the results cannot be copied."""
        self.stock = self.rng.randint(12, 60)
        self.price = f"{self.rng.randint(30, 195) * 5 / 100:.2f}"
        r.set("stock:widget", self.stock)
        r.set("price:widget", self.price)
        print(f"this run: stock:widget = {self.stock}, price:widget = {self.price!r}")

    def attempted(self, r: Any, answer: Any) -> bool:
        if not hasattr(self, "stock"):
            return bool(r.exists("stock:widget") or r.exists("price:widget"))
        if r.get("stock:widget") == str(self.stock) and r.get("price:widget") == self.price:
            raise NotAttempted("'stock:widget' and 'price:widget' still hold this run's starting values: sell 3 widgets and raise the price")
        return True

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        gets = calls.get("get", 0)
        expect(not calls.get("set"),
               (f"the server saw {gets} GETs and {calls['set']} SETs: a read-modify-write from the client, which loses updates "
                "when two clients do it at once; " if gets else f"the server saw {calls.get('set')} SETs: ")
               + "change the values on the server, with no SET after ex.q3.prepare() (DECRBY, INCRBYFLOAT)")
        expect(calls.get("decrby", 0) + calls.get("decr", 0) + calls.get("incrby", 0) >= 1,
               "the server saw no DECRBY (or DECR/INCRBY) since ex.q3.prepare(): sell the widgets with an atomic counter command")
        expect_type(r, "stock:widget", "string")
        stock = r.get("stock:widget")
        expect(stock == str(self.stock - 3), f"'stock:widget' holds {stock!r}; {self.stock} widgets minus 3 sold is {self.stock - 3}")
        expect(calls.get("incrbyfloat", 0) >= 1,
               "the server saw no INCRBYFLOAT since ex.q3.prepare(): raise the price with INCRBYFLOAT")
        expect_type(r, "price:widget", "string")
        price = r.get("price:widget")
        try:
            value = float(price)
        except ValueError:
            value = None
        expect(value is not None, f"'price:widget' holds {price!r}, which is not a number")
        target = float(self.price) + 0.25
        expect(abs(value - target) < 1e-9, f"'price:widget' is {price}; {self.price} plus 0.25 is {target:.2f}")
        return "DECRBY and INCRBYFLOAT change the value on the server, in one atomic step each"


class CacheAside(Problem):
    title = "Cache-aside: a cached square() with a 30 s TTL"
    takes_answer = True
    hints = (
        "Read the cache first: cached = r.get(f'cache:square:{n}'); if it is not None, return int(cached) (the server stores strings).",
        "On a miss compute n * n, store it with r.set(key, result, ex=30), and return it.",
        "Pass the function itself: answer = cached_square (no parentheses).",
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
    wrong_answers = (
        Wrong(dedent("""
            def cached_square(n):
                key = f"cache:square:{n}"
                cached = r.get(key)
                if cached is not None:
                    return int(cached)
                result = n * n
                r.set(key, result)
                return result

            answer = cached_square
        """), "has no TTL", why="skips EX"),
        Wrong(dedent("""
            def cached_square(n):
                result = n * n
                r.set(f"cache:square:{n}", result, ex=30)
                return result

            answer = cached_square
        """), "must read the cache before computing", why="writes the cache but never reads it"),
        Wrong(dedent("""
            def cached_square(n):
                key = f"cache:square:{n}"
                cached = r.get(key)
                if cached is not None:
                    return cached
                result = n * n
                r.set(key, result, ex=30)
                return result

            answer = cached_square
        """), "convert it with int()", why="a hit returns the stored string"),
        Wrong(dedent("""
            def cached_square(n):
                key = f"cache:square:{n}"
                cached = r.get(key)
                if cached is not None:
                    return int(cached)
                result = n * n
                r.set(key, result, ex=3600)
                return result

            answer = cached_square
        """), "TTL of 3600", why="an hour instead of 30 s"),
        Wrong(dedent("""
            def cached_square(n):
                key = f"cache:square:{n}"
                cached = r.get(key)
                if cached is not None:
                    return int(cached)
                result = n * n
                r.set(key, result, ex=30)
                return result

            answer = cached_square(12)
        """), "pass your function itself", why="passes a result, not the function"),
        Wrong(dedent("""
            def cached_square(n):
                key = f"cache:square:{n}"
                cached = r.get(key)
                if cached is None:
                    r.set(key, n * n, ex=30)
                return int(cached)

            answer = cached_square
        """), "raised TypeError", why="on a miss, returns int() of the None it read"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        function = expect_callable(answer, "cached_square")
        n = self.rng.randint(11, 99)
        key = f"cache:square:{n}"
        r.delete(key)
        try:
            first = call_learner(function, n)
            expect(first == n * n and isinstance(first, int), f"cached_square({n}) returned {first!r} on a miss; expected the int {n * n}")
            expect(r.exists(key), f"after a miss, cached_square({n}) should store the result under {key!r}, but that key does not exist")
            stored = r.get(key)
            expect(stored == str(n * n), f"{key!r} holds {stored!r} after a miss; expected '{n * n}'")
            expect_ttl(r, key, 1, 30)
            # Plant a different value: a function that reads the cache first must return it.
            planted = n * n + self.rng.randint(1, 9)
            r.set(key, planted, ex=30)
            second = call_learner(function, n)
            expect(second is not None and str(second) == str(planted),
                   f"with {key!r} holding {planted}, cached_square({n}) returned {second!r}: it must read the cache before computing")
            expect(isinstance(second, int),
                   f"on a hit cached_square({n}) returned {second!r}, a {type(second).__name__}: the server stores strings, "
                   "convert it with int()")
        finally:
            r.delete(key)
        return "misses fill the cache with a TTL; hits are served from the cache"


q1 = RateLimitWindow()
q2 = ManyAtOnce()
q3 = StockAndPrice()
q4 = CacheAside()

"""Exercises for notebook 17_caching_patterns: cache-aside, TTL jitter, a stampede lock, write-through.

The functions you write take `r` (a client) and `db`, an object with the notebook's slow database
interface: `db.get_product(product_id) -> dict | None` and `db.set_price(product_id, price)`. The
checks pass a database of their own whose products are drawn per run and which counts its queries.

Example::

    from labkit.exercises import caching as ex
    ex.use(r)
    ex.q1.check(get_product)      # pass your function itself
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from textwrap import dedent, indent
from typing import Any, Callable

import redis

from .core import Incorrect, NotAttempted, Problem, Wrong, call_learner, command_calls, expect, expect_callable, use

__all__ = ["NOTEBOOK", "CountingDatabase", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "17_caching_patterns"

_NAMES = ("Kettle", "Teapot", "Mug", "Toaster", "Whisk", "Ladle", "Colander", "Grater", "Sieve", "Skillet")


class CountingDatabase:
    """A stand-in for the notebook's slow database that counts its queries.

    Example::

        db = CountingDatabase()
        db.get_product(1)["price"]      # 25.0; db.reads == 1
    """

    def __init__(self, products: dict[int, dict] | None = None) -> None:
        self.products = products if products is not None else {
            1: {"id": 1, "name": "Kettle", "price": 25.0},
            2: {"id": 2, "name": "Teapot", "price": 18.5},
            3: {"id": 3, "name": "Mug", "price": 10.0},
        }
        self.reads = 0
        self.writes = 0
        #: Called with (product_id, price) just before a write lands (the checks look at the cache then).
        self.before_write: Callable[[int, float], None] | None = None

    @classmethod
    def drawn(cls, rng: Any, count: int = 3) -> "CountingDatabase":
        """A database of `count` products whose ids, names and prices are drawn with `rng`."""
        ids = rng.sample(range(100, 1000), count)
        names = rng.sample(_NAMES, count)
        return cls({pid: {"id": pid, "name": name, "price": round(rng.uniform(2, 90), 2)} for pid, name in zip(ids, names)})

    def get_product(self, product_id: int) -> dict | None:
        self.reads += 1
        product = self.products.get(int(product_id))
        return dict(product) if product else None

    def set_price(self, product_id: int, price: float) -> None:
        if self.before_write is not None:
            self.before_write(int(product_id), float(price))
        self.writes += 1
        self.products[int(product_id)]["price"] = float(price)


def _cached_json(r: Any, key: str) -> Any:
    raw = r.get(key)
    try:
        return json.loads(raw) if raw is not None else None
    except (TypeError, ValueError):
        return raw


class CacheAside(Problem):
    title = "Cache-aside with a TTL"
    takes_answer = True
    hints = (
        "Try the cache first: cached = r.get(f'product:{product_id}'). On a hit, return json.loads(cached).",
        "On a miss, read db.get_product(product_id), store json.dumps(product) with ex=300, and return the product.",
    )
    solution_code = dedent("""
        def get_product(r, db, product_id):
            key = f"product:{product_id}"
            cached = r.get(key)
            if cached is not None:
                return json.loads(cached)
            product = db.get_product(product_id)
            r.set(key, json.dumps(product), ex=300)
            return product
    """)
    wrong_answers = (
        Wrong(dedent("""
            def get_product(r, db, product_id):
                return db.get_product(product_id)
        """), "did not return the cached copy", why="no cache at all"),
        Wrong(dedent("""
            local_cache = {}

            def get_product(r, db, product_id):
                if product_id not in local_cache:
                    local_cache[product_id] = db.get_product(product_id)
                    r.set(f"product:{product_id}", json.dumps(local_cache[product_id]), ex=300)
                return local_cache[product_id]
        """), "did not return the cached copy", why="a Python dict as the cache; Redis only written"),
        Wrong(dedent("""
            def get_product(r, db, product_id):
                return {'id': 42, 'name': 'product 42', 'price': 75.45}
        """), "your function returned", why="the product printed above, copied"),
        Wrong(dedent("""
            def get_product(r, db, product_id):
                key = f"product:{product_id}"
                cached = r.get(key)
                if cached is not None:
                    return cached
                product = db.get_product(product_id)
                r.set(key, json.dumps(product), ex=300)
                return product
        """), "on a hit", why="returns the raw JSON text on a hit"),
        Wrong(dedent("""
            def get_product(r, db, product_id):
                key = f"product:{product_id}"
                cached = r.get(key)
                if cached is not None:
                    return json.loads(cached)
                product = db.get_product(product_id)
                r.set(key, json.dumps(product))
                return product
        """), "has no TTL", why="skips EX"),
        Wrong(dedent("""
            def get_product(r, db, product_id):
                key = f"product:{product_id}"
                cached = r.get(key)
                if cached is not None:
                    return json.loads(cached)
                product = db.get_product(product_id)
                r.set(key, json.dumps(product), ex=86400)
                return product
        """), "an hour or less", why="a day-long TTL"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        get_product = expect_callable(answer, "get_product")
        db = CountingDatabase.drawn(self.rng)
        first, second, planted_id = list(db.products)
        r.delete(*(f"product:{pid}" for pid in db.products))
        # Another server cached `planted_id` earlier, at a price the database no longer has: a
        # function that reads the cache first returns this copy, and does not query the database.
        planted = {**db.products[planted_id], "price": round(db.products[planted_id]["price"] + self.rng.randint(1, 9), 2)}
        r.set(f"product:{planted_id}", json.dumps(planted), ex=300)

        calls = [(first, call_learner(get_product, r, db, first))]
        calls.append((first, call_learner(get_product, r, db, first)))
        calls.append((second, call_learner(get_product, r, db, second)))
        from_cache = call_learner(get_product, r, db, planted_id)

        for number, (pid, result) in enumerate(calls):
            if number == 1 and isinstance(result, (str, bytes)):
                raise Incorrect(f"on a hit your function returned the text {result!r}: turn the cached JSON back into a dict with json.loads")
            expect(result == db.products[pid], f"for product {pid} your function returned {result!r}; expected {db.products[pid]!r}")
        expect(from_cache == planted,
               f"product {planted_id} was already cached under 'product:{planted_id}', but your function did not return the cached copy "
               f"(it returned {from_cache!r}): read the cache first (GET), and go to the database only on a miss")
        expect(db.reads == 2, f"4 calls (product {first} twice, {second}, and the cached {planted_id}) read the database {db.reads} times; "
                              f"only the two misses should")
        stored = _cached_json(r, f"product:{first}")
        expect(stored == db.products[first], f"after a miss, 'product:{first}' should hold the product as JSON; it holds {r.get(f'product:{first}')!r}")
        ttl = r.ttl(f"product:{first}")
        expect(ttl > 0, f"'product:{first}' has no TTL: give cached entries an expiry (ex=...) so stale data ages out")
        expect(ttl <= 3600, f"'product:{first}' lives {ttl} s; keep cache TTLs to an hour or less here")
        return "2 database reads for 4 calls: the repeat and the already-cached product were hits"


class JitteredTtl(Problem):
    title = "Spread expiries with TTL jitter"
    keys = tuple(f"jitter:{number}" for number in range(50))
    hints = (
        "Set 50 keys jitter:0 ... jitter:49, each with ex=300 + random.randint(0, 60).",
        "The point: keys cached at the same moment must not all expire in the same second.",
    )
    solution_code = dedent("""
        for number in range(50):
            r.set(f"jitter:{number}", "cached", ex=300 + random.randint(0, 60))
    """)
    wrong_answers = (
        Wrong(dedent("""
            for number in range(50):
                r.set(f"jitter:{number}", "cached", ex=300)
        """), "expire within the same second", why="no jitter"),
        Wrong(dedent("""
            for number in range(50):
                r.set(f"jitter:{number}", "cached")
        """), "has no TTL", why="skips EX"),
        Wrong(dedent("""
            for number in range(50):
                r.set(f"jitter:{number}", "cached", ex=300 + random.randint(0, 600))
        """), "300 s plus 0-60 s", why="jitter ten times too wide"),
        Wrong(dedent("""
            for number in range(1, 50):
                r.set(f"jitter:{number}", "cached", ex=300 + random.randint(0, 60))
        """), "'jitter:0' is missing", why="off by one: 49 keys"),
    )

    def attempted(self, r: Any, answer: Any) -> bool:
        if not any(r.exists(key) for key in self.keys):
            raise NotAttempted(f"{self.title}: set the 50 keys jitter:0 ... jitter:49.")
        return True

    def verify(self, r: Any, answer: Any) -> str:
        ttls = []
        for key in self.keys:
            expect(r.exists(key), f"{key!r} is missing: set all 50 keys jitter:0 ... jitter:49")
            ttl_ms = r.pttl(key)
            expect(ttl_ms > 0, f"{key!r} has no TTL: give each key ex=300 plus its jitter")
            expect(290_000 <= ttl_ms <= 361_000, f"{key!r} expires in {ttl_ms / 1000:.0f} s; use 300 s plus 0-60 s of jitter")
            ttls.append(round(ttl_ms / 1000))
        distinct, busiest = len(set(ttls)), max(Counter(ttls).values())
        expect(distinct >= 10 and busiest <= 10,
               f"the 50 keys expire within the same second or few ({distinct} distinct seconds, up to {busiest} keys in one): "
               f"add a random jitter to each key's TTL")
        return f"50 keys spread over {distinct} different seconds, at most {busiest} in one"


LOCK, REPORT = "lock:report:daily", "report:daily"
#: Commands that compare and delete in one step on the server (a script, a function, DELIFEQ/DELEX, a WATCHed transaction).
ONE_STEP_RELEASES = ("eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "delifeq", "delex", "exec")


class _CheckOver(Exception):
    """Raised into a learner's thread that is still running when the check has given up on it."""


class _Client(redis.Redis):
    """A client of its own (its own connections) that counts what it sends and can be switched off."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: Counter[str] = Counter()
        self.stopped = False

    @classmethod
    def like(cls, r: Any) -> "_Client":
        pool = r.connection_pool
        return cls(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **pool.connection_kwargs))

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if self.stopped:
            raise _CheckOver("the check has finished; this request is abandoned")
        self.sent[str(args[0]).lower()] += 1
        return super().execute_command(*args, **options)


_COMPARE_AND_DELETE = ("r.eval(\"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end\",\n"
                       "       1, \"lock:report:daily\", token)")


def _locked_report(release: str = _COMPARE_AND_DELETE, token: str = "uuid.uuid4().hex", options: str = "nx=True, px=5000") -> str:
    """q3's solution, or (with one part changed) one of its near misses: how the lock is released, its token, its SET options."""
    return dedent("""
        def get_report(r, build):
            token = {token}
            while True:
                cached = r.get("report:daily")
                if cached is not None:
                    return cached
                if r.set("lock:report:daily", token, {options}):
                    try:
                        cached = r.get("report:daily")      # filled just before we won the lock?
                        if cached is not None:
                            return cached
                        report = build()
                        r.set("report:daily", report, ex=300)
                        return report
                    finally:
        {release}
                time.sleep(0.02)
    """).format(token=token, options=options, release=indent(release, " " * 16))


class StampedeLock(Problem):
    title = "Stop a cache stampede with a Redis lock"
    takes_answer = True
    keys = (REPORT, LOCK)
    hints = (
        "Loop: return r.get('report:daily') if it is there; otherwise try "
        "r.set('lock:report:daily', token, nx=True, px=5000) with token = uuid.uuid4().hex, a value only this caller knows.",
        "The winner looks at the cache once more (another caller may have filled it just before), then calls build(), caches "
        "the result under 'report:daily' (with a TTL) and releases the lock; the others sleep ~20 ms and look at the cache again.",
        "Release only your own lock, in one step on the server: "
        "r.eval(\"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end\", 1, "
        "'lock:report:daily', token). A plain DEL would delete another caller's lock if yours had expired.",
    )
    solution_code = _locked_report()
    wrong_answers = (
        Wrong(dedent("""
            def get_report(r, build):
                cached = r.get("report:daily")
                if cached is None:
                    cached = build()
                    r.set("report:daily", cached, ex=300)
                return cached
        """), "was built 8 times", why="no lock: the stampede itself"),
        Wrong(dedent("""
            report_lock = threading.Lock()

            def get_report(r, build):
                with report_lock:
                    cached = r.get("report:daily")
                    if cached is None:
                        cached = build()
                        r.set("report:daily", cached, ex=300)
                    return cached
        """), "Redis held no 'lock:report:daily'", why="a Python lock: it stops threads of one process only"),
        Wrong(_locked_report(release='r.delete("lock:report:daily")'), "deleted a lock it no longer owned", why="releases with a plain DEL"),
        Wrong(_locked_report(release='if r.get("lock:report:daily") == token:\n    r.delete("lock:report:daily")'),
              "in two steps", why="GET, compare in Python, then DEL: not atomic"),
        Wrong(_locked_report(token='"1"'), "the same value", why="every caller's lock holds '1': no owner token"),
        Wrong(_locked_report(options="nx=True"), "has no expiry", why="skips PX: a crashed holder keeps the lock forever"),
    )
    requests = 8
    timeout_s = 10.0

    def _run(self, get_report: Any, clients: list[_Client], build: Callable[[], str]) -> list[Any]:
        """Call get_report(client, build) once per client, all at the same moment, each in its own thread."""
        results: list[Any] = [None] * len(clients)
        failures: list[Exception] = []
        barrier = threading.Barrier(len(clients))

        def request(number: int) -> None:
            try:
                barrier.wait(timeout=5)
                results[number] = call_learner(get_report, clients[number], build)
            except Incorrect as failure:
                if not isinstance(failure.__cause__, _CheckOver):
                    failures.append(failure)
            except Exception as failure:  # NotAttempted, a broken barrier: reported below, never lost in a thread
                failures.append(failure)

        threads = [threading.Thread(target=request, args=(number,), daemon=True) for number in range(len(clients))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + self.timeout_s
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        stuck = any(thread.is_alive() for thread in threads)
        for client in clients:
            client.stopped = True  # a learner's loop that is still running ends at its next command
        for failure in failures:
            if isinstance(failure, NotAttempted):
                raise failure
        if failures:
            first = failures[0]
            raise first if isinstance(first, Incorrect) else Incorrect(f"a request failed: {first!r}")
        expect(not stuck, f"get_report did not return within {self.timeout_s:.0f} s: do the waiting callers read the cache again?")
        return results

    def verify(self, r: Any, answer: Any) -> str:
        get_report = expect_callable(answer, "get_report")
        check = _Client.like(r)
        everyone: list[_Client] = [check]
        try:
            return self._verify(get_report, r, check, everyone)
        finally:
            for client in everyone:
                client.stopped = True
                client.close()
            r.delete(LOCK)

    def _clients(self, r: Any, count: int, everyone: list[_Client]) -> list[_Client]:
        clients = [_Client.like(r) for _ in range(count)]
        everyone.extend(clients)
        return clients

    def _verify(self, get_report: Any, r: Any, check: _Client, everyone: list[_Client]) -> str:
        def drawn() -> str:
            return f"report-{self.rng.randrange(16 ** 8):08x}"

        before = command_calls(r)

        # 1. The stampede: 8 callers, each with its own connection, miss at the same moment.
        check.delete(REPORT, LOCK)
        fresh, builds, seen = drawn(), [], {}

        def build() -> str:
            builds.append(1)
            if "token" not in seen:
                seen["token"], seen["pttl"] = check.get(LOCK), check.pttl(LOCK)
            time.sleep(0.3)  # a slow query: long enough for every caller to miss
            return fresh

        results = self._run(get_report, self._clients(r, self.requests, everyone), build)
        expect(len(builds) == 1,
               f"the report was built {len(builds)} times by {self.requests} simultaneous requests: only the caller that wins "
               f"SET lock:report:daily <token> NX PX ... may call build() (and once it holds the lock, it looks at the cache again: "
               f"another caller may have filled it just before)")
        expect(seen["token"] is not None,
               "while build() ran, Redis held no 'lock:report:daily': a lock in Python (threading.Lock) only stops threads of one "
               "process; other application servers never see it. Take the lock in Redis with SET ... NX PX")
        expect(seen["pttl"] > 0, "'lock:report:daily' has no expiry: a holder that crashes would keep it forever; give it PX (milliseconds)")
        expect(seen["pttl"] <= 60_000, f"'lock:report:daily' would live {seen['pttl'] / 1000:.0f} s; a few seconds (PX 5000) is plenty here")
        expect(all(result == fresh for result in results), f"the requests returned {results}; each should return what build() returned")
        expect(not check.exists(LOCK), "the lock 'lock:report:daily' is still held after the report was built: release it")
        expect(check.ttl(REPORT) > 0, "'report:daily' was cached without a TTL: give it one (ex=...)")

        # 2. Another application server holds the lock: nobody here may build; they wait for its report.
        check.delete(REPORT)
        theirs, their_report, built_here = uuid.uuid4().hex, drawn(), []
        check.set(LOCK, theirs, px=5000)

        def other_server_finishes() -> None:
            time.sleep(0.3)
            check.set(REPORT, their_report, ex=300)
            time.sleep(0.5)  # still holding the lock while the waiting callers find the report
            if check.get(LOCK) == theirs:
                check.delete(LOCK)

        finisher = threading.Thread(target=other_server_finishes, daemon=True)
        finisher.start()
        results = self._run(get_report, self._clients(r, 4, everyone), lambda: built_here.append(1) or drawn())
        finisher.join(timeout=5)
        expect(not built_here,
               "your function built the report while another server held 'lock:report:daily' (the check took it with SET NX PX "
               "first): every caller must respect the lock in Redis, and wait for the cache")
        expect(all(result == their_report for result in results),
               f"the requests returned {results}; while another server builds, wait and return what it cached")

        # 3. The holder is slow: its lock expires during build() and the next caller takes it.
        check.delete(REPORT, LOCK)
        nexts, late = uuid.uuid4().hex, drawn()

        def slow_build() -> str:
            seen["second token"] = check.get(LOCK)
            check.pexpire(LOCK, 1)
            for _ in range(100):
                if check.set(LOCK, nexts, nx=True, px=5000):
                    break
                time.sleep(0.005)
            return late

        self._run(get_report, self._clients(r, 1, everyone), slow_build)
        holder = check.get(LOCK)
        expect(holder == nexts,
               "your function deleted a lock it no longer owned: its lock expired while build() ran, the next caller took "
               "'lock:report:daily', and your release removed that caller's lock. Release only if the lock still holds your "
               "token, in one step: EVAL of a compare-and-delete script (or DELIFEQ where the engine has it)")
        expect(seen["token"] != seen.get("second token"),
               f"every caller's lock holds the same value {seen['token']!r}: give each caller a token of its own (uuid.uuid4().hex), "
               f"or a caller cannot tell its lock from another's")

        # The server's counters (minus the check's own commands): how the lock was released.
        after = command_calls(r)
        learner = {name: after.get(name, 0) - before.get(name, 0) - check.sent.get(name, 0) for name in after}
        expect(not learner.get("setnx"),
               "SETNX then (P)EXPIRE takes the lock in two commands: a crash between them leaves a lock without expiry. Use one SET ... NX PX")
        one_step = sum(learner.get(name, 0) for name in ONE_STEP_RELEASES)
        expect(not (learner.get("del", 0) + learner.get("unlink", 0)) or one_step,
               "your function releases the lock in two steps (GET, compare in Python, then DEL): the lock can expire and be taken "
               "by another caller between them. Compare and delete in one step on the server: EVAL ... (or DELIFEQ)")
        return f"{self.requests} simultaneous requests, 1 build; another server's lock respected; a late holder released only its own lock"


class WriteThrough(Problem):
    title = "Write-through: update the database, then the cache"
    takes_answer = True
    hints = (
        "Write the database first: db.set_price(product_id, price).",
        "Then put the updated product (db.get_product(product_id)) as JSON in f'product:{product_id}' with a TTL (ex=300).",
    )
    solution_code = dedent("""
        def update_price(r, db, product_id, price):
            db.set_price(product_id, price)
            product = db.get_product(product_id)
            r.set(f"product:{product_id}", json.dumps(product), ex=300)
    """)
    wrong_answers = (
        Wrong(dedent("""
            def update_price(r, db, product_id, price):
                db.set_price(product_id, price)
                r.delete(f"product:{product_id}")
        """), "deleting it is invalidation", why="invalidates instead of writing through"),
        Wrong(dedent("""
            def update_price(r, db, product_id, price):
                product = db.get_product(product_id)
                r.set(f"product:{product_id}", json.dumps({**product, "price": price}), ex=300)
        """), "the database holds", why="skips the database write"),
        Wrong(dedent("""
            def update_price(r, db, product_id, price):
                product = db.get_product(product_id)
                r.set(f"product:{product_id}", json.dumps({**product, "price": price}), ex=300)
                db.set_price(product_id, price)
        """), "before the database", why="cache first, then the database"),
        Wrong(dedent("""
            def update_price(r, db, product_id, price):
                db.set_price(product_id, price)
                r.set(f"product:{product_id}", json.dumps(db.get_product(product_id)))
        """), "has no TTL", why="skips EX"),
        Wrong(dedent("""
            def update_price(r, db, product_id, price):
                db.set_price(product_id, 12.5)
                r.set(f"product:{product_id}", json.dumps(db.get_product(product_id)), ex=300)
        """), "the database holds", why="the price 12.5 of the demo above, copied"),
        Wrong(dedent("""
            def update_price(r, db, product_id, price):
                product = db.get_product(product_id)
                db.set_price(product_id, price)
                r.set(f"product:{product_id}", json.dumps(product), ex=300)
        """), "the cache holds", why="caches the product as it was before the write"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        update_price = expect_callable(answer, "update_price")
        db = CountingDatabase.drawn(self.rng)
        pid = self.rng.choice(list(db.products))
        key = f"product:{pid}"
        old = dict(db.products[pid])
        price = round(old["price"] + self.rng.choice((-1, 1)) * self.rng.uniform(0.5, 1.5), 2)
        r.set(key, json.dumps(old), ex=300)  # the product was cached before the update
        cache_at_write: list[Any] = []
        db.before_write = lambda _pid, _price: cache_at_write.append(_cached_json(r, key))

        call_learner(update_price, r, db, pid, price)
        expect(db.products[pid]["price"] == price,
               f"the database holds price {db.products[pid]['price']} for product {pid}; update_price(r, db, {pid}, {price}) must "
               f"store {price} there: call db.set_price(product_id, price)")
        cached_before = cache_at_write[0] if cache_at_write else None
        expect(not (isinstance(cached_before, dict) and cached_before.get("price") == price),
               "you wrote the cache before the database: if the database write fails, readers get a price the database never had. "
               "Write the database first, then the cache")
        expect(r.exists(key), f"{key!r} is not in the cache any more: write-through puts the new value in the cache (deleting it is invalidation)")
        cached = _cached_json(r, key)
        expect(cached == {**old, "price": price}, f"the cache holds {r.get(key)!r}; it should hold the product with its new price {price}")
        expect(r.ttl(key) > 0, f"{key!r} has no TTL: keep one as a safety net against writes that bypass this code")
        return "the database and the cache agree on the new price, and the next read is a hit"


q1 = CacheAside()
q2 = JitteredTtl()
q3 = StampedeLock()
q4 = WriteThrough()

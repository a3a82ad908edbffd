"""Exercises for notebook 17_caching_patterns: cache-aside, TTL jitter, stampede lock, write-through.

The functions you write take `db`, an object with the notebook's slow database interface:
`db.get_product(product_id) -> dict | None` and `db.set_price(product_id, price)`.

Example::

    from labkit.exercises import caching as ex
    ex.use(r)
    ex.q1.check(get_product)      # pass your function
"""

from __future__ import annotations

import json
import threading
import time
from textwrap import dedent
from typing import Any

from .core import NotAttempted, Problem, expect, expect_callable, use

__all__ = ["NOTEBOOK", "CountingDatabase", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "17_caching_patterns"


class CountingDatabase:
    """A stand-in for the notebook's slow database that counts its queries.

    Example::

        db = CountingDatabase()
        db.get_product(1)["price"]      # 25.0; db.reads == 1
    """

    def __init__(self) -> None:
        self.products = {
            1: {"id": 1, "name": "Kettle", "price": 25.0},
            2: {"id": 2, "name": "Teapot", "price": 18.5},
            3: {"id": 3, "name": "Mug", "price": 10.0},
        }
        self.reads = 0
        self.writes = 0

    def get_product(self, product_id: int) -> dict | None:
        self.reads += 1
        product = self.products.get(int(product_id))
        return dict(product) if product else None

    def set_price(self, product_id: int, price: float) -> None:
        self.writes += 1
        self.products[int(product_id)]["price"] = float(price)



class CacheAside(Problem):
    title = "Cache-aside with a TTL"
    takes_answer = True
    hints = (
        "Try the cache first: r.get(f'product:{product_id}'). On a hit, return json.loads of it.",
        "On a miss, read db.get_product(product_id), store json.dumps(product) with ex=300, and return the product.",
    )
    solution_code = dedent("""
        import json

        def get_product(r, db, product_id):
            key = f'product:{product_id}'
            cached = r.get(key)
            if cached is not None:
                return json.loads(cached)
            product = db.get_product(product_id)
            r.set(key, json.dumps(product), ex=300)
            return product

        answer = get_product
    """)
    wrong_code = dedent("""
        def get_product(r, db, product_id):
            return db.get_product(product_id)

        answer = get_product
    """)
    wrong_message = "read the database 3 times"

    def verify(self, r: Any, answer: Any) -> str:
        get_product = expect_callable(answer, "get_product")
        r.delete("product:1", "product:2")
        db = CountingDatabase()
        results = [get_product(r, db, 1), get_product(r, db, 1), get_product(r, db, 2)]
        for result, product_id in zip(results, (1, 1, 2)):
            expect(result == db.products[product_id], f"for product {product_id} your function returned {result!r}, expected {db.products[product_id]!r}")
        expect(db.reads == 2, f"3 calls for 2 products read the database {db.reads} times; the second call for product 1 must be a cache hit")
        expect(r.exists("product:1"), "after a miss the product must be stored under 'product:1'")
        ttl = r.ttl("product:1")
        expect(ttl > 0, "'product:1' has no TTL: give cached entries an expiry (ex=...) so stale data ages out")
        expect(ttl <= 3600, f"'product:1' lives {ttl} s; keep cache TTLs to an hour or less here")
        return "2 database reads for 3 calls: the second read of product 1 was a hit"


class JitteredTtl(Problem):
    title = "Spread expiries with TTL jitter"
    names = tuple(f"jitter:{number}" for number in range(50))
    hints = (
        "Set 50 keys jitter:0 ... jitter:49, each with ex=300 + random.randint(0, 60).",
        "The point: keys cached at the same moment must not all expire in the same second.",
    )
    solution_code = dedent("""
        import random
        for number in range(50):
            r.set(f'jitter:{number}', 'cached', ex=300 + random.randint(0, 60))
    """)
    wrong_code = dedent("""
        for number in range(50):
            r.set(f'jitter:{number}', 'cached', ex=300)
    """)
    wrong_message = "expire within the same second"

    def verify(self, r: Any, answer: Any) -> str:
        if not any(r.exists(key) for key in self.names):
            raise NotAttempted(f"{self.title}: set the 50 keys jitter:0 ... jitter:49.")
        ttls = []
        for key in self.names:
            expect(r.exists(key), f"{key!r} is missing: set all 50 keys jitter:0 ... jitter:49")
            ttl_ms = r.pttl(key)
            expect(ttl_ms > 0, f"{key!r} has no TTL")
            expect(290_000 <= ttl_ms <= 361_000, f"{key!r} expires in {ttl_ms / 1000:.0f} s; use 300 s plus 0-60 s of jitter")
            ttls.append(round(ttl_ms / 1000))
        distinct = len(set(ttls))
        expect(distinct >= 10, f"the 50 keys expire within the same second or few ({distinct} distinct TTLs): add random jitter to each TTL")
        return f"50 keys spread over {distinct} different seconds"


class StampedeLock(Problem):
    title = "Stop a cache stampede with a lock"
    takes_answer = True
    hints = (
        "Loop: return r.get('report:daily') if it is there; otherwise try r.set('lock:report:daily', '1', nx=True, px=5000).",
        "The one that gets the lock calls build(), caches the result under 'report:daily' and deletes the lock; "
        "the others sleep ~20 ms and look at the cache again.",
    )
    solution_code = dedent("""
        import time

        def get_report(r, build):
            while True:
                cached = r.get('report:daily')
                if cached is not None:
                    return cached
                if r.set('lock:report:daily', '1', nx=True, px=5000):
                    try:
                        report = build()
                        r.set('report:daily', report, ex=300)
                        return report
                    finally:
                        r.delete('lock:report:daily')
                time.sleep(0.02)

        answer = get_report
    """)
    wrong_code = dedent("""
        def get_report(r, build):
            cached = r.get('report:daily')
            if cached is None:
                cached = build()
                r.set('report:daily', cached, ex=300)
            return cached

        answer = get_report
    """)
    wrong_message = "was built 8 times"
    requests = 8

    def verify(self, r: Any, answer: Any) -> str:
        get_report = expect_callable(answer, "get_report")
        r.delete("report:daily", "lock:report:daily")
        builds = []
        results: list[Any] = [None] * self.requests
        errors: list[BaseException] = []
        start = threading.Barrier(self.requests)

        def build() -> str:
            builds.append(1)
            time.sleep(0.2)  # a slow query: long enough for every request to miss
            return "report-v1"

        def request(number: int) -> None:
            try:
                start.wait(timeout=5)
                results[number] = get_report(r, build)
            except BaseException as error:  # reported below, never lost in a thread
                errors.append(error)

        threads = [threading.Thread(target=request, args=(n,), daemon=True) for n in range(self.requests)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        expect(not any(thread.is_alive() for thread in threads), "your function did not return within 10 s: do waiting requests look at the cache again?")
        expect(not errors, f"your function raised {errors[0]!r}" if errors else "")
        expect(all(result == "report-v1" for result in results), f"the requests returned {results}; each should return 'report-v1'")
        expect(len(builds) == 1, f"the report was built {len(builds)} times by {self.requests} simultaneous requests; take a lock with SET NX PX so only one builds it")
        expect(not r.exists("lock:report:daily"), "the lock 'lock:report:daily' is still held: delete it after building")
        return f"{self.requests} simultaneous requests, 1 build"


class WriteThrough(Problem):
    title = "Write-through: update the database and the cache together"
    takes_answer = True
    hints = (
        "Write the database first: db.set_price(product_id, price).",
        "Then write the new product (db.get_product, or the cached one with the new price) to f'product:{product_id}' with a TTL.",
    )
    solution_code = dedent("""
        import json

        def update_price(r, db, product_id, price):
            db.set_price(product_id, price)
            product = db.get_product(product_id)
            r.set(f'product:{product_id}', json.dumps(product), ex=300)

        answer = update_price
    """)
    wrong_code = dedent("""
        def update_price(r, db, product_id, price):
            db.set_price(product_id, price)
            r.delete(f'product:{product_id}')

        answer = update_price
    """)
    wrong_message = "write-through puts the new value in the cache"

    def verify(self, r: Any, answer: Any) -> str:
        update_price = expect_callable(answer, "update_price")
        db = CountingDatabase()
        r.set("product:3", json.dumps(db.products[3]), ex=300)
        update_price(r, db, 3, 12.5)
        expect(db.products[3]["price"] == 12.5, f"the database still says {db.products[3]['price']}: call db.set_price first")
        expect(r.exists("product:3"), "'product:3' is not in the cache any more: write-through puts the new value in the cache (deleting it is invalidation)")
        try:
            cached = json.loads(r.get("product:3"))
        except (TypeError, ValueError):
            cached = None
        expect(isinstance(cached, dict) and cached.get("price") == 12.5, f"the cache holds {r.get('product:3')!r}; its price should be 12.5")
        expect(r.ttl("product:3") > 0, "'product:3' has no TTL: keep one as a safety net against missed updates")
        return "the database and the cache agree on the new price, and the next read is a hit"


q1 = CacheAside()
q2 = JitteredTtl()
q3 = StampedeLock()
q4 = WriteThrough()

"""Exercises for notebook 20_transactions_scripting_and_functions: WATCH, a Lua script, a function,
and a transaction in cluster mode.

Example::

    from labkit.exercises import transactions as ex
    ex.use(r)
    ex.q1.prepare()              # first line of the exercise cell
    ex.q1.check(transfer)        # pass your function
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

import redis
from redis.client import Pipeline

from .core import Problem, Wrong, call_learner, expect, expect_callable, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "20_transactions_scripting_and_functions"


def _interfering_client(r: Any, key: str, change: int) -> redis.Redis:
    """A client for `r`'s server that meets another client's write once: right after its first
    `GET key` answers (in a pipeline or not), another connection runs `INCRBY key change`, as a
    concurrent customer would between a read and the write that depends on it."""
    def new_pool() -> redis.ConnectionPool:
        return redis.ConnectionPool(connection_class=r.connection_pool.connection_class, **r.connection_pool.connection_kwargs)

    side = redis.Redis(connection_pool=new_pool())
    fired: list[bool] = []

    def after(args: tuple) -> None:
        if not fired and len(args) > 1 and str(args[0]).upper() == "GET" and args[1] == key:
            fired.append(True)
            side.incrby(key, change)

    class InterferingPipeline(Pipeline):
        def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
            result = super().immediate_execute_command(*args, **options)
            after(args)
            return result

    class InterferingClient(redis.Redis):
        def execute_command(self, *args: Any, **options: Any) -> Any:
            result = super().execute_command(*args, **options)
            after(args)
            return result

        def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
            return InterferingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)

    client = InterferingClient(connection_pool=new_pool())
    client.fired = fired  # type: ignore[attr-defined]
    return client


class WatchedTransfer(Problem):
    title = "A transfer that never overdraws, with WATCH / MULTI / EXEC"
    takes_answer = True
    hints = (
        "Open a pipeline, pipe.watch(src), read the balance with pipe.get(src) (it runs at once while watching), "
        "then pipe.multi(), queue DECRBY and INCRBY, and pipe.execute().",
        "If another client changes src between WATCH and EXEC, execute() raises redis.WatchError and nothing ran: "
        "loop and try again (re-reading the balance).",
        "Return False without writing anything when the balance is below the amount (call pipe.unwatch() or just leave the pipeline).",
    )
    solution_code = dedent("""
        ex.q1.prepare()

        def transfer(r, src, dst, amount):
            with r.pipeline() as pipe:
                while True:
                    try:
                        pipe.watch(src)
                        balance = int(pipe.get(src) or 0)
                        if balance < amount:
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        pipe.decrby(src, amount)
                        pipe.incrby(dst, amount)
                        pipe.execute()
                        return True
                    except redis.WatchError:
                        continue
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()

            def transfer(r, src, dst, amount):
                balance = int(r.get(src) or 0)
                if balance < amount:
                    return False
                with r.pipeline() as pipe:
                    pipe.decrby(src, amount)
                    pipe.incrby(dst, amount)
                    pipe.execute()
                return True
        """), "below zero", why="MULTI/EXEC without WATCH: the balance it checked is stale"),
        Wrong(dedent("""
            ex.q1.prepare()

            def transfer(r, src, dst, amount):
                with r.pipeline() as pipe:
                    try:
                        pipe.watch(src)
                        balance = int(pipe.get(src) or 0)
                        if balance < amount:
                            return False
                        pipe.multi()
                        pipe.decrby(src, amount)
                        pipe.incrby(dst, amount)
                        pipe.execute()
                        return True
                    except redis.WatchError:
                        return False
        """), "retry", why="WATCH without a retry: a transfer is lost when another client touched the balance"),
        Wrong(dedent("""
            ex.q1.prepare()
            import threading
            transfer_lock = threading.Lock()

            def transfer(r, src, dst, amount):
                with transfer_lock:
                    balance = int(r.get(src) or 0)
                    if balance < amount:
                        return False
                    r.decrby(src, amount)
                    r.incrby(dst, amount)
                    return True
        """), "below zero", why="a Python lock guards only this process, not the server"),
        Wrong(dedent("""
            ex.q1.prepare()

            def transfer(client, src, dst, amount):
                with r.pipeline() as pipe:
                    while True:
                        try:
                            pipe.watch(src)
                            balance = int(pipe.get(src) or 0)
                            if balance < amount:
                                pipe.unwatch()
                                return False
                            pipe.multi()
                            pipe.decrby(src, amount)
                            pipe.incrby(dst, amount)
                            pipe.execute()
                            return True
                        except redis.WatchError:
                            continue
        """), "the client it is given", why="a near miss: uses the notebook's r instead of the client passed in"),
    )

    def attempted(self, r: Any, answer: Any) -> bool:
        return callable(answer) or super().attempted(r, answer)

    def verify(self, r: Any, answer: Any) -> str:
        transfer = expect_callable(answer, "transfer")
        amount = self.rng.randint(20, 80)

        # 1. Another client spends 10 from alice right after you read her balance: she can no longer pay.
        r.set("{acct}:alice", amount + 5)
        r.set("{acct}:bob", 0)
        client = _interfering_client(r, "{acct}:alice", -10)
        moved = call_learner(transfer, client, "{acct}:alice", "{acct}:bob", amount)
        alice, bob = int(r.get("{acct}:alice")), int(r.get("{acct}:bob"))
        expect(client.fired, "transfer() never read the balance with GET through the client it is given (its first argument): "
                             "read it there, inside WATCH, before deciding")
        expect(alice >= 0, f"alice's balance went below zero ({alice}): another client spent 10 between your read and your "
                           "write, and the transfer still ran. WATCH the balance so that EXEC fails when it changed, then retry.")
        expect(not moved and bob == 0, f"transfer() returned {moved!r} and bob has {bob}: once the other client had spent 10, alice "
                                       f"had {amount - 5} for a transfer of {amount}; it should return False and move nothing")

        # 2. Another client pays alice 7 right after you read her balance: retry, and the transfer goes through.
        r.set("{acct}:alice", amount)
        r.set("{acct}:bob", 0)
        client = _interfering_client(r, "{acct}:alice", 7)
        moved = call_learner(transfer, client, "{acct}:alice", "{acct}:bob", amount)
        alice, bob = int(r.get("{acct}:alice")), int(r.get("{acct}:bob"))
        expect(moved and bob == amount and alice == 7,
               f"a deposit to alice arrived between your read and EXEC; EXEC failed with WatchError and the transfer was lost "
               f"(returned {moved!r}, bob has {bob}): retry the whole read-check-write until EXEC succeeds")
        calls = self.commands_since_prepare(until_now=True)  # your function ran inside this check
        expect(calls.get("watch", 0) >= 2 and calls.get("exec", 0) >= 1,
               f"the server saw {calls.get('watch', 0)} WATCH and {calls.get('exec', 0)} EXEC: use WATCH and MULTI/EXEC")
        return "WATCH + MULTI/EXEC + retry: optimistic locking, checked against a concurrent writer"

    def cleanup(self, r: Any) -> None:
        for key in ("{acct}:alice", "{acct}:bob"):
            r.delete(key)


class ScriptedRateLimit(Problem):
    title = "A fixed-window rate limit in one Lua script"
    takes_answer = True
    hints = (
        "In the script: local count = redis.call('INCR', KEYS[1]); if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end; return count",
        "Register it once with r.register_script(source) (EVALSHA, falling back to EVAL), or call r.eval(source, 1, key, 60) each time.",
        "The window's TTL is set on the first hit only; later hits must not push it back.",
    )
    solution_code = dedent("""
        HIT = r.register_script(\"\"\"
        local count = redis.call('INCR', KEYS[1])
        if count == 1 then
            redis.call('EXPIRE', KEYS[1], ARGV[1])
        end
        return count
        \"\"\")

        def hit(user):
            return HIT(keys=[f"rate:{user}"], args=[60])
    """)
    wrong_answers = (
        Wrong(dedent("""
            def hit(user):
                count = r.incr(f"rate:{user}")
                if count == 1:
                    r.expire(f"rate:{user}", 60)
                return count
        """), "one script call per hit", why="INCR then EXPIRE from the client: two round trips, and a crash between them leaves no TTL"),
        Wrong(dedent("""
            HIT = r.register_script(\"\"\"
            local count = redis.call('INCR', KEYS[1])
            redis.call('EXPIRE', KEYS[1], ARGV[1])
            return count
            \"\"\")

            def hit(user):
                return HIT(keys=[f"rate:{user}"], args=[60])
        """), "pushed the window", why="EXPIRE on every hit: the window never closes for a busy user"),
        Wrong(dedent("""
            HIT = r.register_script("return redis.call('INCR', KEYS[1])")

            def hit(user):
                return HIT(keys=[f"rate:{user}"], args=[60])
        """), "no TTL", why="no EXPIRE at all: the window never ends"),
        Wrong(dedent("""
            HIT = r.register_script(\"\"\"
            local count = redis.call('INCR', KEYS[1])
            if count == 1 then
                redis.call('EXPIRE', KEYS[1], ARGV[1])
            end
            return count
            \"\"\")

            def hit(user):
                return HIT(keys=[f"rate:{user}"], args=[60_000])
        """), "the window is 60 seconds", why="a near miss: 60,000 (milliseconds) passed to EXPIRE, which counts seconds"),
    )

    def attempted(self, r: Any, answer: Any) -> bool:
        return callable(answer) or super().attempted(r, answer)

    def verify(self, r: Any, answer: Any) -> str:
        hit = expect_callable(answer, "hit")
        user = f"user{self.rng.randint(1000, 9999)}"
        key = f"rate:{user}"
        r.delete(key)
        before = self._scripted_calls(r)
        counts = [call_learner(hit, user) for _ in range(3)]
        scripted = self._scripted_calls(r) - before
        expect([int(c) if c is not None else None for c in counts] == [1, 2, 3], f"hit({user!r}) three times returned {counts}; expected 1, 2, 3")
        expect(scripted == 3, f"the server saw {scripted} EVAL/EVALSHA/FCALL for 3 hits: make one script call per hit, so the "
                              "count and its expiry happen atomically in one round trip")
        ttl = r.ttl(key)
        expect(ttl != -1, f"{key!r} has no TTL after three hits: EXPIRE the window on the first hit")
        expect(55 <= ttl <= 60, f"{key!r} expires in {ttl} s after three quick hits; the window is 60 seconds from the first hit "
                                "(EXPIRE key 60: seconds, not milliseconds)")
        r.expire(key, 20)
        call_learner(hit, user)
        ttl = r.ttl(key)
        r.delete(key)
        expect(0 < ttl <= 20, f"a hit pushed the window's end back (TTL {ttl} s after a hit, was 20 s): set the TTL on the first hit only")
        return "INCR and EXPIRE in one script: atomic, one round trip, and the window ends on time"

    @staticmethod
    def _scripted_calls(r: Any) -> int:
        """Script calls that ran (an EVALSHA refused with NOSCRIPT, which register_script retries, does not count)."""
        stats = r.info("commandstats")
        ran = 0
        for name in ("eval", "evalsha", "fcall"):
            entry = stats.get(f"cmdstat_{name}", {})
            ran += int(entry.get("calls", 0)) - int(entry.get("failed_calls", 0)) - int(entry.get("rejected_calls", 0))
        return ran

    def cleanup(self, r: Any) -> None:
        for key in r.scan_iter("rate:user*"):
            r.delete(key)


class StockFunction(Problem):
    title = "A function library: stock_take in `course`, called with FCALL"
    keys = ()
    hints = (
        "The library's first line is the shebang `#!lua name=course`; register with "
        "redis.register_function('stock_take', function(keys, args) ... end).",
        "Inside: local stock = tonumber(redis.call('GET', keys[1]) or '0'); if stock < tonumber(args[1]) then return -1 end; "
        "return redis.call('DECRBY', keys[1], args[1])",
        "Load it with r.function_load(code, replace=True), then r.fcall('stock_take', 1, 'stock:{shop}:kettle', 3).",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        COURSE_LIBRARY = \"\"\"#!lua name=course
        redis.register_function('stock_take', function(keys, args)
            local stock = tonumber(redis.call('GET', keys[1]) or '0')
            local wanted = tonumber(args[1])
            if stock < wanted then
                return -1
            end
            return redis.call('DECRBY', keys[1], wanted)
        end)
        \"\"\"
        r.function_load(COURSE_LIBRARY, replace=True)
        print(r.fcall("stock_take", 1, "stock:{shop}:kettle", 3))
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            r.decrby("stock:{shop}:kettle", 3)
        """), "library named 'course'", why="DECRBY from the client: no function at all"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.function_load(\"\"\"#!lua name=course
            redis.register_function('stock_take', function(keys, args)
                return redis.call('DECRBY', keys[1], args[1])
            end)
            \"\"\", replace=True)
            r.fcall("stock_take", 1, "stock:{shop}:kettle", 3)
        """), "below zero", why="no check for enough stock"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.function_load(\"\"\"#!lua name=course
            redis.register_function('take', function(keys, args)
                local stock = tonumber(redis.call('GET', keys[1]) or '0')
                if stock < tonumber(args[1]) then return -1 end
                return redis.call('DECRBY', keys[1], args[1])
            end)
            \"\"\", replace=True)
            r.fcall("take", 1, "stock:{shop}:kettle", 3)
        """), "no function 'stock_take'", why="the function has another name"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.function_load(\"\"\"#!lua name=shop
            redis.register_function('stock_take', function(keys, args)
                local stock = tonumber(redis.call('GET', keys[1]) or '0')
                if stock < tonumber(args[1]) then return -1 end
                return redis.call('DECRBY', keys[1], args[1])
            end)
            \"\"\", replace=True)
            r.fcall("stock_take", 1, "stock:{shop}:kettle", 3)
        """), "no library named 'course'", why="the shebang copied from the section above: the library is named shop"),
    )

    def setup(self, r: Any) -> None:
        self.stock = self.rng.randint(5, 40)
        r.set("stock:{shop}:kettle", self.stock)

    def cleanup(self, r: Any) -> None:
        r.delete("stock:{shop}:kettle", "stock:{shop}:probe")
        # The library `course`, and any library an attempt put stock_take in (a copied shebang), which would
        # otherwise make the next FUNCTION LOAD fail with "Function stock_take already exists".
        for library in r.function_list():
            functions = {self._text(f.get("name") if isinstance(f, dict) else f[1]) for f in self._field(library, "functions")}
            name = self._text(self._field(library, "library_name"))
            if name == "course" or "stock_take" in functions:
                r.function_delete(name)

    def attempted(self, r: Any, answer: Any) -> bool:
        libraries = r.function_list(library="course")
        return bool(libraries) or self.commands_since_prepare().get("decrby", 0) > 0

    def verify(self, r: Any, answer: Any) -> str:
        libraries = r.function_list(library="course")
        expect(libraries, "there is no library named 'course': FUNCTION LOAD a library whose first line is '#!lua name=course'")
        functions = {self._text(f.get("name") if isinstance(f, dict) else f[1]) for f in self._field(libraries[0], "functions")}
        expect("stock_take" in functions, f"the library 'course' has {sorted(functions)} but no function 'stock_take'")
        calls = self.commands_since_prepare()
        expect(calls.get("fcall", 0) >= 1, "you loaded the library but never called it: FCALL stock_take once on stock:{shop}:kettle")
        expect(r.get("stock:{shop}:kettle") == str(self.stock - 3),
               f"stock:{{shop}}:kettle holds {r.get('stock:{shop}:kettle')!r}; it started at {self.stock}, and one stock_take of 3 leaves {self.stock - 3}")
        # The function itself, on a key of the check's own: never below zero.
        r.set("stock:{shop}:probe", 2)
        refused = r.fcall("stock_take", 1, "stock:{shop}:probe", 5)
        left = r.get("stock:{shop}:probe")
        r.delete("stock:{shop}:probe")
        expect(str(refused) == "-1" and left == "2",
               f"stock_take of 5 from a stock of 2 returned {refused!r} and left {left!r}: it must refuse (-1) rather than go below zero")
        return "a named function, loaded once, kept with the data and replicated, called by name"

    @staticmethod
    def _text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    @classmethod
    def _field(cls, library: Any, name: str) -> Any:
        if isinstance(library, dict):
            return library.get(name) or library.get(name.encode(), [])
        items = list(library)
        for index in range(0, len(items) - 1, 2):
            if cls._text(items[index]) == name:
                return items[index + 1]
        return []


class ClusterTransaction(Problem):
    title = "A transaction in cluster mode: both keys in one slot"
    needs = "cluster"
    hints = (
        "A transaction (and a script) may only touch keys of one slot. Put the same hash tag in both keys: "
        "only the part between { and } is hashed.",
        "With the order id from ex.q4.order_id: cart key f'cart:{{{order}}}' and order key f'order:{{{order}}}'.",
        "pipe = rc.pipeline(transaction=True); pipe.set(cart_key, 'checked-out'); pipe.set(order_key, 'paid'); pipe.execute()",
    )
    solution_code = dedent("""
        ex.q4.prepare(topology=cluster)
        order = ex.q4.order_id
        pipe = rc.pipeline(transaction=True)
        pipe.set(f"cart:{{{order}}}", "checked-out")
        pipe.set(f"order:{{{order}}}", "paid")
        pipe.execute()
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q4.prepare(topology=cluster)
            order = ex.q4.order_id
            rc.set(f"cart:{{{order}}}", "checked-out")
            rc.set(f"order:{{{order}}}", "paid")
        """), "MULTI/EXEC", why="two separate writes: another client can see one without the other"),
        Wrong(dedent("""
            ex.q4.prepare(topology=cluster)
            order = ex.q4.order_id
            pipe = rc.pipeline(transaction=True)
            pipe.set(f"cart:{{{order}}}", "checked-out")
            pipe.set(f"order:{{{order}}}", "pending")
            pipe.execute()
        """), "'paid'", why="a near miss: the wrong value"),
        Wrong(dedent("""
            ex.q4.prepare(topology=cluster)
            order = ex.q4.order_id
            rc.set(f"cart:{order}", "checked-out")
            rc.set(f"order:{order}", "paid")
        """), "hash tag", why="no hash tag: the keys land in different slots"),
        Wrong(dedent("""
            ex.q4.prepare(topology=cluster)
            order = ex.q4.order_id
            rc.mset({f"cart:{{{order}}}": "checked-out", f"order:{{{order}}}": "paid"})
        """), "MULTI/EXEC", why="one MSET: atomic, but not the transaction the task asks for"),
        Wrong(dedent("""
            ex.q4.prepare(topology=cluster)
            pipe = rc.pipeline(transaction=True)
            pipe.set("cart:{7}", "checked-out")
            pipe.set("order:{7}", "paid")
            pipe.execute()
        """), "expected", why="the keys of the example above, not this run's order id"),
    )

    def setup(self, r: Any) -> None:
        self.order_id = f"o{self.rng.randint(10000, 99999)}"

    def _keys(self) -> tuple[str, str]:
        order = getattr(self, "order_id", "")
        return f"cart:{{{order}}}", f"order:{{{order}}}"

    def cleanup(self, r: Any) -> None:
        order = getattr(self, "order_id", None)
        if order:
            for key in (*self._keys(), f"cart:{order}", f"order:{order}"):
                r.delete(key)

    def attempted(self, r: Any, answer: Any) -> bool:
        order = getattr(self, "order_id", None)
        if bool(order) and any(r.exists(key) for key in (*self._keys(), f"cart:{order}", f"order:{order}")):
            return True
        # Writes to other keys (the example's cart:{7}, say) are an attempt too: judged, not "not attempted".
        calls = self.commands_since_prepare() if self._baseline is not None else {}
        return any(calls.get(command, 0) for command in ("set", "mset", "multi", "exec"))

    def verify(self, r: Any, answer: Any) -> str:
        cart, order = self._keys()
        if not (r.exists(cart) and r.exists(order)):
            expect(False, f"expected {cart!r} and {order!r}: give both keys the hash tag {{{self.order_id}}} so they share a slot")
        calls = self.commands_since_prepare()
        expect(calls.get("exec", 0) >= 1 and calls.get("multi", 0) >= 1,
               f"the cluster's primaries saw {calls.get('multi', 0)} MULTI and {calls.get('exec', 0)} EXEC: write both keys in one "
               "MULTI/EXEC transaction (rc.pipeline(transaction=True))")
        expect(r.get(cart) == "checked-out" and r.get(order) == "paid",
               f"{cart!r} holds {r.get(cart)!r} and {order!r} holds {r.get(order)!r}; expected 'checked-out' and 'paid'")
        return "one hash tag, one slot, one transaction: it works in cluster mode"


q1 = WatchedTransfer()
q2 = ScriptedRateLimit()
q3 = StockFunction()
q4 = ClusterTransaction()

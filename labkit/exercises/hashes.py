"""Exercises for `03_hashes_and_sessions`: a user profile hash, a sliding-expiry session, and encodings.

Example::

    from labkit.exercises import hashes as ex
    ex.use(r)
    ex.q1.prepare()
    ex.q1.check()
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

import redis

from .core import NotAttempted, Problem, Wrong, call_learner, expect, expect_callable, expect_type, use
from .welcome import ServerEvidence, local_lab_server

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "03_hashes_and_sessions"

SESSION_TTL_S = 1800
#: The engine's own default (Redis 7 and Valkey); a server's configuration may differ, so read CONFIG GET.
DEFAULT_LISTPACK_ENTRIES = 512


class UserProfile(ServerEvidence):
    title = "A user profile hash: HINCRBY, HDEL, HSET on one field each"
    keys = ("user:1000",)
    hints = (
        "r.hincrby(key, field, n) adds n to one field on the server; r.hdel(key, field) removes one; "
        "r.hset(key, field, value) sets one.",
        "r.hincrby('user:1000', 'visits', 3); r.hdel('user:1000', 'email'); r.hset('user:1000', 'plan', 'pro')",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        r.hincrby("user:1000", "visits", 3)
        r.hdel("user:1000", "email")
        r.hset("user:1000", "plan", "pro")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            import json
            r.set("user:1000", json.dumps({"name": "Ada", "visits": 3, "plan": "pro"}))
        """), "holds a string, but this exercise needs a hash", why="a JSON string instead of a hash"),
        Wrong(dedent("""
            ex.q1.prepare()
            visits = int(r.hget("user:1000", "visits"))
            r.hset("user:1000", "visits", visits + 3)
            r.hdel("user:1000", "email")
            r.hset("user:1000", "plan", "pro")
        """), "HINCRBY", why="read-modify-write instead of HINCRBY"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.hincrby("user:1000", "visits", 3)
            r.hset("user:1000", mapping={"email": "", "plan": "pro"})
        """), "still has an 'email' field", why="empties the field instead of deleting it"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.hincrby("user:1000", "visits", 3)
            r.hdel("user:1000", "email")
        """), "no 'plan' field", why="forgets the new field"),
    )

    def setup(self, r: Any) -> None:
        """Ada's profile with a visit count drawn for this run."""
        self.visits = self.rng.randint(5, 500)
        r.hset("user:1000", mapping={"name": "Ada", "email": "ada@example.com", "visits": self.visits})
        print(f"user:1000 for this run: {r.hgetall('user:1000')}")

    def attempted(self, r: Any, answer: Any) -> bool:
        if not hasattr(self, "visits") or not r.exists("user:1000"):
            return bool(r.exists("user:1000"))
        if r.type("user:1000") == "hash" and r.hgetall("user:1000") == {"name": "Ada", "email": "ada@example.com", "visits": str(self.visits)}:
            raise NotAttempted("'user:1000' is as ex.q1.prepare() left it: add 3 visits, delete the email, add the plan")
        return True

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect_type(r, "user:1000", "hash")
        fields = r.hgetall("user:1000")
        expect(calls.get("hincrby", 0) >= 1,
               f"the server saw no HINCRBY{' but HGET and HSET' if calls.get('hget') else ''}: add the visits with HINCRBY, "
               "one atomic command, not read-modify-write")
        expect("email" not in fields, "'user:1000' still has an 'email' field: remove it with HDEL (an empty value is still a field)")
        expect(fields.get("name") == "Ada", f"the 'name' field of 'user:1000' is {fields.get('name')!r}; expected 'Ada' (leave it alone)")
        expect("visits" in fields, "'user:1000' has no 'visits' field")
        expect(fields["visits"] == str(self.visits + 3),
               f"the 'visits' field of 'user:1000' is {fields['visits']!r}; {self.visits} plus HINCRBY 3 is {self.visits + 3}")
        expect("plan" in fields, "'user:1000' has no 'plan' field: add it with HSET")
        expect(fields["plan"] == "pro", f"the 'plan' field of 'user:1000' is {fields['plan']!r}; expected 'pro'")
        extra = sorted(set(fields) - {"name", "visits", "plan"})
        expect(not extra, f"'user:1000' has extra fields {extra}; keep name, visits and plan")
        return "one key, several fields, each changed on its own"


class SlidingSession(Problem):
    title = "touch(session_id): sliding expiry that never revives an expired session"
    takes_answer = True
    hints = (
        "EXPIRE returns False when the key does not exist, so it tells you whether the session is still alive.",
        f"if not r.expire(f'session:{{session_id}}', {SESSION_TTL_S}): return False; "
        "then r.hincrby(key, 'requests', 1) and return True.",
        "Pass the function itself: answer = touch.",
    )
    solution_code = dedent(f"""
        def touch(session_id):
            key = f"session:{{session_id}}"
            if not r.expire(key, {SESSION_TTL_S}):     # the session has expired (or never existed)
                return False
            r.hincrby(key, "requests", 1)
            return True

        answer = touch
    """)
    wrong_answers = (
        Wrong(dedent("""
            def touch(session_id):
                key = f"session:{session_id}"
                r.hincrby(key, "requests", 1)
                return True

            answer = touch
        """), "TTL", why="never slides the expiry (and revives expired sessions)"),
        Wrong(dedent("""
            def touch(session_id):
                key = f"session:{session_id}"
                r.hincrby(key, "requests", 1)
                r.expire(key, 1800)
                return True

            answer = touch
        """), "must stay expired", why="HINCRBY first: revives an expired session"),
        Wrong(dedent("""
            def touch(session_id):
                key = f"session:{session_id}"
                if not r.exists(key):
                    return False
                r.hincrby(key, "requests", 1)
                r.persist(key)
                return True

            answer = touch
        """), "removed the TTL", why="PERSIST: the session never expires"),
        Wrong(dedent("""
            def touch(session_id):
                key = f"session:{session_id}"
                if not r.pexpire(key, 1000):
                    return False
                r.hincrby(key, "requests", 1)
                return True

            answer = touch
        """), "did not refresh the TTL", why="the demo's 1 s instead of 30 minutes"),
        Wrong(dedent("""
            def touch(session_id):
                key = f"session:{session_id}"
                if not r.expire(key, 1800):
                    return False
                r.hincrby(key, "requests", 1)
                return True

            answer = touch("check")
        """), "pass your function itself", why="passes a result, not the function"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        function = expect_callable(answer, "touch")
        number = self.rng.randint(1000, 9999)
        live_id, gone_id = f"check-live-{number}", f"check-gone-{number}"
        live, gone = f"session:{live_id}", f"session:{gone_id}"
        requests = self.rng.randint(1, 20)
        r.delete(live, gone)
        try:
            r.hset(live, mapping={"user": "ada", "requests": requests})
            r.expire(live, 5)
            alive = call_learner(function, live_id)
            expect(alive is True, f"touch({live_id!r}) returned {alive!r} for a live session; expected True")
            expect_type(r, live, "hash")
            counted = r.hget(live, "requests")
            expect(counted == str(requests + 1),
                   f"after one touch the 'requests' field of {live!r} is {counted!r}; expected '{requests + 1}' (HINCRBY by 1)")
            ttl = r.ttl(live)
            expect(ttl != -1, f"touch() removed the TTL of {live!r}: a session must keep expiring")
            expect(ttl > 5, f"touch() did not refresh the TTL of {live!r} (it is {ttl} s): set it back to {SESSION_TTL_S} s with EXPIRE")
            expect(SESSION_TTL_S - 5 <= ttl <= SESSION_TTL_S, f"{live!r} now has a TTL of {ttl} s; expected {SESSION_TTL_S} s")
            revived = call_learner(function, gone_id)
            expect(not r.exists(gone),
                   f"touch({gone_id!r}) created {gone!r}: an expired session must stay expired (check EXPIRE's answer before writing)")
            expect(revived is False, f"touch({gone_id!r}) returned {revived!r} for a session that does not exist; expected False")
        finally:
            r.delete(live, gone)
        return "every request pushes the expiry back; an expired session stays expired"


class ListpackLimit(ServerEvidence):
    title = "Find the field count where a hash stops being a listpack"
    keys = ("counts:big",)
    hints = (
        "CONFIG GET hash-max-listpack-entries gives the limit on this server (ex.q3.prepare() may have changed it): "
        "a hash with more fields than that is converted.",
        "limit = int(r.config_get('hash-max-listpack-entries')['hash-max-listpack-entries']); "
        "r.hset('counts:big', mapping={f'f{i}': i for i in range(limit + 1)}); check with r.object('encoding', 'counts:big').",
        "On a server that refuses CONFIG, find the limit by experiment: add fields one at a time and watch OBJECT ENCODING.",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        limit = int(r.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"])
        r.hset("counts:big", mapping={f"f{i}": i for i in range(limit + 1)})
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            r.hset("counts:big", mapping={f"f{i}": i for i in range(513)})   # as printed above
        """), "this run's limit", why="the field count printed above, not this server's limit now"),
        Wrong(dedent("""
            ex.q3.prepare()
            limit = int(r.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"])
            r.hset("counts:big", mapping={f"f{i}": i for i in range(limit)})
        """), "still a listpack", why="off by one: exactly the limit is still a listpack"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.hset("counts:big", mapping={"bio": "x" * 200})
        """), "keep the values short", why="a long value converts it, but the task is about the field count"),
        Wrong(dedent("""
            ex.q3.prepare()
            limit = int(r.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"])
            r.hset("counts:big", mapping={f"f{i}": i for i in range(limit + 10)})
        """), "the fewest that leave the listpack", why="more fields than needed"),
    )

    def __init__(self) -> None:
        super().__init__()
        self._original_limit: str | None = None

    @staticmethod
    def limit(r: Any) -> int:
        """This server's hash-max-listpack-entries, or the engine default when CONFIG is refused (managed services)."""
        try:
            return int(r.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"])
        except (redis.ResponseError, KeyError, ValueError):
            return DEFAULT_LISTPACK_ENTRIES

    def setup(self, r: Any) -> None:
        """On labkit's own server, a limit drawn for this run (as a parameter group would set it)."""
        if not local_lab_server():
            return
        try:
            current = r.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"]
            if self._original_limit is None:
                self._original_limit = current
            drawn = self.rng.choice([n for n in range(100, 400) if n != DEFAULT_LISTPACK_ENTRIES])
            r.config_set("hash-max-listpack-entries", drawn)
        except (redis.ResponseError, KeyError):
            pass  # CONFIG refused: the limit stays what the server has

    def cleanup(self, r: Any) -> None:
        r.delete(*self.keys)
        if self._original_limit is not None:
            try:
                r.config_set("hash-max-listpack-entries", self._original_limit)
            except redis.ResponseError:
                pass
            self._original_limit = None

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect_type(r, "counts:big", "hash")
        limit = self.limit(r)
        fields = r.hlen("counts:big")
        encoding = r.object("encoding", "counts:big")
        expect(encoding != "listpack",
               f"'counts:big' has {fields} fields and is still a listpack: this server's limit is {limit} fields, go one past it")
        expect(fields > limit,
               f"'counts:big' has {fields} field{'s' if fields != 1 else ''} and left the listpack because a value is longer than "
               f"hash-max-listpack-value; this exercise is about the field count: keep the values short")
        expect(calls.get("config|get", 0) + calls.get("object|encoding", 0) >= 1,
               "the server saw no CONFIG GET and no OBJECT ENCODING since ex.q3.prepare(): read this run's limit "
               "(it may differ from the one printed above) or watch the encoding change, instead of assuming a number")
        expect(fields == limit + 1,
               f"'counts:big' has {fields} fields; the fewest that leave the listpack are {limit + 1} (hash-max-listpack-entries + 1)")
        return f"{fields} fields: one past hash-max-listpack-entries ({limit}), now a {encoding}"


q1 = UserProfile()
q2 = SlidingSession()
q3 = ListpackLimit()

"""Exercises for `03_hashes_and_sessions`: a user profile hash, a sliding-expiry session, and encodings.

Example::

    from labkit.exercises import hashes as ex
    ex.use(r)
    ex.q1.check()
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

import redis

from .core import Problem, expect, expect_type, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "03_hashes_and_sessions"

SESSION_TTL_S = 1800


class UserProfile(Problem):
    title = "A user profile hash: HSET, HINCRBY, HDEL"
    keys = ("user:1000",)
    hints = (
        "r.hset(key, mapping={...}) sets several fields; r.hincrby(key, field, n) adds n to one field; r.hdel(key, field) removes one.",
        "r.hset('user:1000', mapping={'name': 'Ada', 'email': 'ada@example.com', 'visits': 0}); "
        "r.hincrby('user:1000', 'visits', 3); r.hdel('user:1000', 'email')",
    )
    solution_code = dedent("""
        r.hset("user:1000", mapping={"name": "Ada", "email": "ada@example.com", "visits": 0})
        r.hincrby("user:1000", "visits", 3)
        r.hdel("user:1000", "email")
    """)
    wrong_code = dedent("""
        import json
        r.set("user:1000", json.dumps({"name": "Ada", "visits": 3}))
    """)
    wrong_message = "holds a string, but this exercise needs a hash"

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "user:1000", "hash")
        fields = r.hgetall("user:1000")
        expect("email" not in fields, "'user:1000' still has an 'email' field: remove it with HDEL")
        expect(fields.get("name") == "Ada", f"the 'name' field of 'user:1000' is {fields.get('name')!r}; expected 'Ada'")
        expect("visits" in fields, "'user:1000' has no 'visits' field")
        expect(fields["visits"] == "3", f"the 'visits' field of 'user:1000' is {fields['visits']!r}; 0 plus HINCRBY 3 is 3")
        extra = sorted(set(fields) - {"name", "visits"})
        expect(not extra, f"'user:1000' has extra fields {extra}; keep only name and visits")
        return "one key, several fields, each changed on its own"


class SlidingSession(Problem):
    title = "touch(session_id): sliding expiry that never revives an expired session"
    takes_answer = True
    hints = (
        "Pass the function itself: answer = touch.",
        "EXPIRE returns False when the key does not exist, so it tells you whether the session is still alive.",
        f"if not r.expire(f'session:{{session_id}}', {SESSION_TTL_S}): return False; "
        "then r.hincrby(key, 'requests', 1) and return True.",
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
    wrong_code = dedent("""
        def touch(session_id):
            key = f"session:{session_id}"
            r.hincrby(key, "requests", 1)
            return True

        answer = touch
    """)
    wrong_message = "TTL"

    def verify(self, r: Any, answer: Any) -> str:
        expect(callable(answer), f"answer should be your function (answer = touch); got a {type(answer).__name__}")
        live, gone = "session:check-live", "session:check-gone"
        r.delete(live, gone)
        try:
            r.hset(live, mapping={"user": "ada", "requests": 1})
            r.expire(live, 5)
            alive = answer("check-live")
            expect(alive is True, f"touch('check-live') returned {alive!r} for a live session; expected True")
            expect_type(r, live, "hash")
            requests = r.hget(live, "requests")
            expect(requests == "2", f"after one touch the 'requests' field of {live!r} is {requests!r}; expected '2' (HINCRBY by 1)")
            ttl = r.ttl(live)
            expect(ttl != -1, f"touch() removed the TTL of {live!r}: a session must keep expiring")
            expect(ttl > 5, f"touch() did not refresh the TTL of {live!r} (it is {ttl} s): set it back to {SESSION_TTL_S} s with EXPIRE")
            expect(ttl <= SESSION_TTL_S, f"{live!r} now has a TTL of {ttl} s; expected {SESSION_TTL_S} s")
            expect(ttl >= SESSION_TTL_S - 5, f"{live!r} now has a TTL of {ttl} s; expected {SESSION_TTL_S} s")
            revived = answer("check-gone")
            expect(not r.exists(gone), f"touch('check-gone') created {gone!r}: an expired session must stay expired (check before writing)")
            expect(revived is False, f"touch('check-gone') returned {revived!r} for a session that does not exist; expected False")
        finally:
            r.delete(live, gone)
        return "every request pushes the expiry back; an expired session stays expired"


class ListpackLimit(Problem):
    title = "Find the field count where a hash stops being a listpack"
    keys = ("counts:big",)
    hints = (
        "CONFIG GET hash-max-listpack-entries gives the limit: a hash with more fields than that is converted.",
        "limit = int(r.config_get('hash-max-listpack-entries')['hash-max-listpack-entries']); "
        "r.hset('counts:big', mapping={f'f{i}': i for i in range(limit + 1)}); check with r.object('encoding', 'counts:big').",
    )
    solution_code = dedent("""
        limit = int(r.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"])
        r.hset("counts:big", mapping={f"f{i}": i for i in range(limit + 1)})
    """)
    wrong_code = dedent("""
        limit = int(r.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"])
        r.hset("counts:big", mapping={f"f{i}": i for i in range(limit)})
    """)
    wrong_message = "still a listpack"

    @staticmethod
    def limit(r: Any) -> int:
        try:
            return int(r.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"])
        except (redis.ResponseError, KeyError, ValueError):
            return 128  # managed services may refuse CONFIG; 128 is the Redis default

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "counts:big", "hash")
        limit = self.limit(r)
        fields = r.hlen("counts:big")
        encoding = r.object("encoding", "counts:big")
        expect(encoding != "listpack", f"'counts:big' has {fields} fields and is still a listpack: the limit is {limit} fields, go one past it")
        expect(fields == limit + 1,
               f"'counts:big' has {fields} fields; the fewest that leave the listpack are {limit + 1} (hash-max-listpack-entries + 1)"
               + (" unless a value is longer than hash-max-listpack-value: keep the values short" if fields <= limit else ""))
        return f"{fields} fields: one past hash-max-listpack-entries ({limit}), now a {encoding}"


q1 = UserProfile()
q2 = SlidingSession()
q3 = ListpackLimit()

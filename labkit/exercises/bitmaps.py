"""Exercises for notebook 06, bitmaps and HyperLogLog: `from labkit.exercises import bitmaps as ex`.

Exercises 2 to 4 draw their own activity and visitors in `ex.qN.prepare()`, so the numbers must be
computed on the server, not read from an earlier output.

Example::

    ex.use(r)
    ex.q2.prepare()
    r.bitop("AND", "{dau}:ex:all-days", "{dau}:ex:mon", "{dau}:ex:tue", "{dau}:ex:wed")
    ex.q2.check()
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from .core import Problem, Wrong, as_text, expect, expect_type, use

__all__ = ["NOTEBOOK", "DAY_KEYS", "PAGE_KEYS", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "06_bitmaps_and_hyperloglog"

#: The bitmaps of exercises 2 and 4 (user ids 0-199), filled per run; they share the hash tag {dau}.
DAY_KEYS = ("{dau}:ex:mon", "{dau}:ex:tue", "{dau}:ex:wed")
#: The HyperLogLogs of exercise 3, filled per run; they share the hash tag {visitors}.
PAGE_KEYS = ("{visitors}:ex:home", "{visitors}:ex:pricing")
DAY_KEY = "{dau}:2024-06-01"
ALL_DAYS = "{dau}:ex:all-days"
SITE = "{visitors}:ex:site"
_SCRATCH = ("{dau}:check:expected", "{dau}:check:difference")  # same slot as the bitmaps they combine
# What the fixed data of earlier versions of this notebook gave: copied, it must never be right.
_OLD_CAME_BACK = 34


def _draw_days(rng: Any) -> dict[str, set[int]]:
    """Three days of activity among users 0-199: each user has a chance of their own to show up."""
    while True:
        chance = {user: rng.random() for user in range(200)}
        days = {key: {user for user in range(200) if rng.random() < chance[user]} for key in DAY_KEYS}
        mon, tue, wed = days.values()
        sizes = {len(mon & tue), len(mon), len(tue), len(mon | tue), _OLD_CAME_BACK}
        if len(sizes) == 5 and len(mon & tue & wed) not in (0, len(mon & tue)):
            return days


def _write_days(r: Any, days: dict[str, set[int]]) -> None:
    pipe = r.pipeline(transaction=False)
    for key, users in days.items():
        pipe.delete(key)
        for user in sorted(users):
            pipe.setbit(key, user, 1)
    pipe.execute()


def _days_ready(r: Any, keys: Any, number: int) -> None:
    for key in keys:
        expect(r.exists(key), f"{key} does not exist: run the exercise cell from its first line, ex.q{number}.prepare()")


class MarkActive(Problem):
    title = "Mark three users active"
    keys = (DAY_KEY,)
    hints = (
        "One bit per user: the user id is the offset, 1 means active that day.",
        "r.setbit('{dau}:2024-06-01', 3, 1), and the same for 7 and 42.",
    )
    solution_code = dedent("""
        for user_id in (3, 7, 42):
            r.setbit("{dau}:2024-06-01", user_id, 1)
    """)
    wrong_answers = (
        Wrong('r.sadd("{dau}:2024-06-01", 3, 7, 42)', "holds a set", why="a set instead of a bitmap"),
        Wrong('r.set("{dau}:2024-06-01", "3,7,42")', "bits set", why="the ids as text in a string"),
        Wrong(dedent("""
            for user_id in (3, 7):
                r.setbit("{dau}:2024-06-01", user_id, 1)
        """), "user 42 is not marked", why="one user forgotten (near miss)"),
        Wrong(dedent("""
            for user_id in (3, 7, 42):
                r.setbit("{dau}:2024-06-01", user_id + 1, 1)
        """), "user 3 is not marked", why="ids counted from 1 (off by one)"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, DAY_KEY, "string")
        for user_id in (3, 7, 42):
            expect(r.getbit(DAY_KEY, user_id) == 1, f"user {user_id} is not marked: bit {user_id} of {DAY_KEY} is 0")
        count = r.bitcount(DAY_KEY)
        expect(count == 3, f"{DAY_KEY} has {count} bits set; only users 3, 7 and 42 were active (one bit each, set with SETBIT)")
        return f"3 active users in {r.strlen(DAY_KEY)} bytes."


class ActiveAllDays(Problem):
    title = "Users active on all three days, with one BITOP"
    keys = (ALL_DAYS,)
    hints = (
        "'Active Monday AND Tuesday AND Wednesday' is a bitwise AND of the three bitmaps.",
        "BITOP takes one destination key and any number of source keys.",
        "r.bitop('AND', '{dau}:ex:all-days', '{dau}:ex:mon', '{dau}:ex:tue', '{dau}:ex:wed')",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        r.bitop("AND", "{dau}:ex:all-days", "{dau}:ex:mon", "{dau}:ex:tue", "{dau}:ex:wed")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            r.bitop("OR", "{dau}:ex:all-days", "{dau}:ex:mon", "{dau}:ex:tue", "{dau}:ex:wed")
        """), "active on at least one day", why="OR instead of AND"),
        Wrong(dedent("""
            ex.q2.prepare()
            r.bitop("AND", "{dau}:ex:all-days", "{dau}:ex:mon", "{dau}:ex:tue")
        """), "were active on all three days", why="Wednesday forgotten (near miss)"),
        Wrong(dedent("""
            ex.q2.prepare()
            days = ["{dau}:ex:mon", "{dau}:ex:tue", "{dau}:ex:wed"]
            for user in range(200):
                if all(r.getbit(day, user) for day in days):
                    r.setbit("{dau}:ex:all-days", user, 1)
        """), "one BITOP", why="computed in the client, bit by bit"),
    )

    def setup(self, r: Any) -> None:
        self.days = _draw_days(self.rng)
        _write_days(r, self.days)
        print("ex.q2.prepare(): {dau}:ex:mon, {dau}:ex:tue and {dau}:ex:wed hold this run's activity (users 0-199).")

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        _days_ready(r, DAY_KEYS, 2)
        expect_type(r, ALL_DAYS, "string")
        stored = {user for user in range(200) if r.getbit(ALL_DAYS, user)}
        extra = r.bitcount(ALL_DAYS) - len(stored)
        mon, tue, wed = (self.days[key] for key in DAY_KEYS)
        expect(stored != mon | tue | wed or stored == mon & tue & wed,
               f"{ALL_DAYS} counts {len(stored)} users: those active on at least one day (OR); this asks for every day (AND)")
        expect(not extra and stored == mon & tue & wed,
               f"{ALL_DAYS} counts {len(stored) + extra} users, but not the ones who were active on all three days")
        expect(calls.get("bitop") == 1 and not calls.get("setbit"),
               f"the server saw {calls.get('bitop', 0)} BITOP and {calls.get('setbit', 0)} SETBIT commands: combine the days with one BITOP, "
               "on the server, rather than bit by bit from the client")
        return f"{len(stored)} users were active on all three days, found by one command over all users."


class UniqueVisitorsSite(Problem):
    title = "Unique visitors of the whole site, with PFMERGE"
    keys = (SITE,)
    hints = (
        "PFMERGE builds a HyperLogLog of the union of others, without the visitor ids.",
        "r.pfmerge('{visitors}:ex:site', '{visitors}:ex:home', '{visitors}:ex:pricing')",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        r.pfmerge("{visitors}:ex:site", "{visitors}:ex:home", "{visitors}:ex:pricing")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            r.pfmerge("{visitors}:ex:site", "{visitors}:ex:home")
        """), "both pages", why="one page only (near miss)"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.set("{visitors}:ex:site", r.pfcount("{visitors}:ex:home", "{visitors}:ex:pricing"))
        """), "not a HyperLogLog", why="the count stored as a number"),
        Wrong(dedent("""
            ex.q3.prepare()
            r.copy("{visitors}:ex:home", "{visitors}:ex:site")
            r.pfadd("{visitors}:ex:site", "user:1", "user:2")
        """), "PFADD", why="a copy of one page, topped up by hand"),
    )

    def setup(self, r: Any) -> None:
        start = self.rng.randint(0, 5_000)
        home = self.rng.randint(2_000, 4_000)
        overlap = self.rng.randint(300, home - 300)
        pricing = self.rng.randint(overlap + 300, overlap + 2_500)
        self.visitors = {
            PAGE_KEYS[0]: [f"user:{n}" for n in range(start, start + home)],
            PAGE_KEYS[1]: [f"user:{n}" for n in range(start + home - overlap, start + home - overlap + pricing)],
        }
        pipe = r.pipeline(transaction=False)
        for key, visitors in self.visitors.items():
            pipe.delete(key)
            pipe.pfadd(key, *visitors)
        pipe.execute()
        print("ex.q3.prepare(): {visitors}:ex:home and {visitors}:ex:pricing hold this run's visitors.")

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        _days_ready(r, PAGE_KEYS, 3)
        expect_type(r, SITE, "string")
        header = as_text(r.getrange(SITE, 0, 3))
        expect(header == "HYLL", f"{SITE} is a string but not a HyperLogLog: build it with PFMERGE")
        counted, expected = r.pfcount(SITE), r.pfcount(*PAGE_KEYS)
        expect(not calls.get("pfadd"), "you added visitors with PFADD: the union of two HyperLogLogs is one PFMERGE, "
                                       "and needs no visitor ids (a HyperLogLog does not keep them)")
        if counted == r.pfcount(PAGE_KEYS[0]) and counted != expected:
            expect(False, f"{SITE} counts the visitors of the home page only; merge both pages")
        expect(counted == expected, f"{SITE} counts {counted} visitors, not the visitors of both pages together")
        expect(calls.get("pfmerge"), "the server saw no PFMERGE since ex.q3.prepare(): merge the pages' HyperLogLogs with it")
        exact = len(set().union(*self.visitors.values()))
        return f"about {counted} unique visitors ({exact} in fact: {counted / exact - 1:+.2%}), in {r.strlen(SITE)} bytes."


class CameBack(Problem):
    title = "Monday users who came back on Tuesday"
    takes_answer = True
    hints = (
        "Users active Monday AND Tuesday: BITOP AND into a key of your own (with the {dau} tag), then BITCOUNT it.",
        "r.bitop('AND', '{dau}:tmp:retained', '{dau}:ex:mon', '{dau}:ex:tue'); came_back = r.bitcount('{dau}:tmp:retained')",
    )
    solution_code = dedent("""
        ex.q4.prepare()
        r.bitop("AND", "{dau}:tmp:retained", "{dau}:ex:mon", "{dau}:ex:tue")
        came_back = r.bitcount("{dau}:tmp:retained")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q4.prepare()
            came_back = r.bitcount("{dau}:ex:tue")
        """), "everyone active on Tuesday", why="Tuesday's count"),
        Wrong(dedent("""
            ex.q4.prepare()
            r.bitop("OR", "{dau}:tmp:retained", "{dau}:ex:mon", "{dau}:ex:tue")
            came_back = r.bitcount("{dau}:tmp:retained")
        """), "on either day", why="OR instead of AND"),
        Wrong(dedent("""
            ex.q4.prepare()
            came_back = 34
        """), "not the number of Monday users", why="a literal from an earlier version's output"),
        Wrong(dedent("""
            ex.q4.prepare()
            came_back = sum(1 for user in range(200) if r.getbit("{dau}:ex:mon", user) and r.getbit("{dau}:ex:tue", user))
        """), "on the server", why="GETBIT user by user from the client"),
    )

    def setup(self, r: Any) -> None:
        self.days = _draw_days(self.rng)
        _write_days(r, self.days)
        print("ex.q4.prepare(): {dau}:ex:mon, {dau}:ex:tue and {dau}:ex:wed hold this run's activity (users 0-199).")

    def cleanup(self, r: Any) -> None:
        r.delete("{dau}:tmp:retained")

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        _days_ready(r, DAY_KEYS[:2], 4)
        expect(isinstance(answer, int) and not isinstance(answer, bool), f"pass a number of users, not {answer!r}")
        mon, tue = self.days[DAY_KEYS[0]], self.days[DAY_KEYS[1]]
        expected = len(mon & tue)
        expect(answer != len(tue), f"{answer} is everyone active on Tuesday; count only those also active on Monday")
        expect(answer != len(mon), f"{answer} is everyone active on Monday; count only those who came back on Tuesday")
        expect(answer != len(mon | tue), f"{answer} counts the users active on either day (OR); came back means Monday AND Tuesday")
        expect(answer == expected, f"{answer} is not the number of Monday users who came back on Tuesday in this run's bitmaps: AND the two days, then BITCOUNT")
        expect(calls.get("bitop") and calls.get("bitcount") and not calls.get("getbit"),
               "compute it on the server: one BITOP AND over all users, then one BITCOUNT (the check saw "
               f"{calls.get('bitop', 0)} BITOP, {calls.get('bitcount', 0)} BITCOUNT and {calls.get('getbit', 0)} GETBIT commands)")
        return f"{expected} of {len(mon)} Monday users came back ({expected / len(mon):.0%} day-1 retention)."


q1 = MarkActive()
q2 = ActiveAllDays()
q3 = UniqueVisitorsSite()
q4 = CameBack()

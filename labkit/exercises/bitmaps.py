"""Exercises for notebook 06, bitmaps and HyperLogLog: `from labkit.exercises import bitmaps as ex`.

Example::

    ex.use(r)
    r.setbit("{dau}:2024-06-01", 3, 1)
    ex.q1.check()
"""

from __future__ import annotations

from typing import Any

from .core import Problem, expect, expect_type, use

__all__ = ["NOTEBOOK", "EXERCISE_DAYS", "EXERCISE_PAGES", "create_exercise_data", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "06_bitmaps_and_hyperloglog"

#: Three days of activity (bitmap key -> user ids) for exercises 2 and 4.
EXERCISE_DAYS: dict[str, list[int]] = {
    "{dau}:ex:mon": list(range(0, 200, 2)),
    "{dau}:ex:tue": list(range(0, 200, 3)),
    "{dau}:ex:wed": list(range(0, 200, 5)),
}
#: Visitors of two pages (HyperLogLog key -> visitor ids) for exercise 3.
EXERCISE_PAGES: dict[str, list[str]] = {
    "{visitors}:ex:home": [f"user:{n}" for n in range(0, 3000)],
    "{visitors}:ex:pricing": [f"user:{n}" for n in range(2000, 4000)],
}
DAY_KEY = "{dau}:2024-06-01"
ALL_DAYS = "{dau}:ex:all-days"
SITE = "{visitors}:ex:site"
_SCRATCH = ("{dau}:check:expected", "{dau}:check:difference")  # same slot as the bitmaps they combine


def create_exercise_data(r: Any) -> None:
    """Write the bitmaps and HyperLogLogs the exercises start from (SETBIT and PFADD, nothing else)."""
    pipe = r.pipeline()
    for key, users in EXERCISE_DAYS.items():
        pipe.delete(key)
        for user in users:
            pipe.setbit(key, user, 1)
    for key, visitors in EXERCISE_PAGES.items():
        pipe.delete(key)
        pipe.pfadd(key, *visitors)
    pipe.execute()


def _exercise_data_ready(r: Any, keys: Any) -> None:
    for key in keys:
        expect(r.exists(key), f"{key} does not exist: run the cell with ex.create_exercise_data(r) first")


class MarkActive(Problem):
    title = "Mark three users active"
    keys = ("{dau}:2024-06-01",)
    hints = (
        "One bit per user: the user id is the offset, 1 means active that day.",
        "r.setbit('{dau}:2024-06-01', 3, 1), and the same for 7 and 42.",
    )
    solution_code = """
for user_id in (3, 7, 42):
    r.setbit("{dau}:2024-06-01", user_id, 1)
"""
    wrong_code = 'r.sadd("{dau}:2024-06-01", 3, 7, 42)'
    wrong_message = "holds a set"

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "{dau}:2024-06-01", "string")
        for user_id in (3, 7, 42):
            expect(r.getbit("{dau}:2024-06-01", user_id) == 1, f"user {user_id} is not marked: bit {user_id} of {DAY_KEY} is 0")
        count = r.bitcount("{dau}:2024-06-01")
        expect(count == 3, f"{DAY_KEY} has {count} bits set; only users 3, 7 and 42 were active")
        return f"3 active users in {r.strlen(DAY_KEY)} bytes."


class ActiveAllDays(Problem):
    title = "Users active on all three days"
    keys = ("{dau}:ex:all-days",)
    hints = (
        "'Active Monday AND Tuesday AND Wednesday' is a bitwise AND of the three bitmaps.",
        "r.bitop('AND', '{dau}:ex:all-days', '{dau}:ex:mon', '{dau}:ex:tue', '{dau}:ex:wed')",
    )
    solution_code = 'r.bitop("AND", "{dau}:ex:all-days", "{dau}:ex:mon", "{dau}:ex:tue", "{dau}:ex:wed")'
    wrong_code = 'r.bitop("OR", "{dau}:ex:all-days", "{dau}:ex:mon", "{dau}:ex:tue", "{dau}:ex:wed")'
    wrong_message = "active on at least one day"

    def prepare(self, r: Any) -> None:
        create_exercise_data(r)

    def verify(self, r: Any, answer: Any) -> str:
        _exercise_data_ready(r, EXERCISE_DAYS)
        expect_type(r, "{dau}:ex:all-days", "string")
        expected_key, difference_key = _SCRATCH
        try:
            # Two bitmaps are equal when their XOR has no bit set.
            r.bitop("AND", expected_key, *EXERCISE_DAYS)
            r.bitop("XOR", difference_key, expected_key, "{dau}:ex:all-days")
            same_as_and = r.bitcount(difference_key) == 0
            expected, count = r.bitcount(expected_key), r.bitcount("{dau}:ex:all-days")
            r.bitop("OR", difference_key, *EXERCISE_DAYS)
            r.bitop("XOR", difference_key, difference_key, "{dau}:ex:all-days")
            same_as_or = r.bitcount(difference_key) == 0
        finally:
            r.delete(*_SCRATCH)
        expect(same_as_and or not same_as_or, f"{ALL_DAYS} counts {count} users: those active on at least one day (OR); this asks for every day (AND)")
        expect(same_as_and, f"{ALL_DAYS} counts {count} users; {expected} were active on all three days")
        return f"{expected} users were active on all three days."


class UniqueVisitorsSite(Problem):
    title = "Unique visitors of the whole site"
    keys = ("{visitors}:ex:site",)
    hints = (
        "PFMERGE builds a HyperLogLog of the union of others, without the visitor ids.",
        "r.pfmerge('{visitors}:ex:site', '{visitors}:ex:home', '{visitors}:ex:pricing')",
    )
    solution_code = 'r.pfmerge("{visitors}:ex:site", "{visitors}:ex:home", "{visitors}:ex:pricing")'
    wrong_code = 'r.pfmerge("{visitors}:ex:site", "{visitors}:ex:home")'
    wrong_message = "both pages"

    def prepare(self, r: Any) -> None:
        create_exercise_data(r)

    def verify(self, r: Any, answer: Any) -> str:
        _exercise_data_ready(r, EXERCISE_PAGES)
        expect_type(r, "{visitors}:ex:site", "string")
        header = r.getrange("{visitors}:ex:site", 0, 3)
        header = header.decode(errors="replace") if isinstance(header, bytes) else header
        expect(header == "HYLL", "{visitors}:ex:site is a string but not a HyperLogLog: build it with PFMERGE (or PFADD)")
        counted = r.pfcount("{visitors}:ex:site")
        expected = r.pfcount(*EXERCISE_PAGES)
        expect(counted == expected, f"{SITE} counts {counted} visitors; the visitors of both pages together are about {expected}")
        return f"about {counted} unique visitors (exactly 4000 ids were added), in {r.strlen(SITE)} bytes."


class CameBack(Problem):
    title = "Monday users who came back on Tuesday"
    takes_answer = True
    hints = (
        "Users active Monday AND Tuesday: BITOP AND into a key, then BITCOUNT it.",
        "r.bitop('AND', '{dau}:tmp:retained', '{dau}:ex:mon', '{dau}:ex:tue'); answer = r.bitcount('{dau}:tmp:retained')",
    )
    solution_code = """
r.bitop("AND", "{dau}:tmp:retained", "{dau}:ex:mon", "{dau}:ex:tue")
answer = r.bitcount("{dau}:tmp:retained")
"""
    wrong_code = 'answer = r.bitcount("{dau}:ex:tue")'
    wrong_message = "everyone active on Tuesday"

    def prepare(self, r: Any) -> None:
        create_exercise_data(r)

    def verify(self, r: Any, answer: Any) -> str:
        _exercise_data_ready(r, ("{dau}:ex:mon", "{dau}:ex:tue"))
        expect(isinstance(answer, int) and not isinstance(answer, bool), f"pass a number of users, not {answer!r}")
        expected_key = _SCRATCH[0]
        try:
            r.bitop("AND", expected_key, "{dau}:ex:mon", "{dau}:ex:tue")
            expected = r.bitcount(expected_key)
        finally:
            r.delete(expected_key)
        expect(answer != r.bitcount("{dau}:ex:tue") or answer == expected, f"{answer} is everyone active on Tuesday; count only those also active on Monday")
        expect(answer != r.bitcount("{dau}:ex:mon") or answer == expected, f"{answer} is everyone active on Monday; count only those who came back on Tuesday")
        expect(answer == expected, f"{answer} users is not right: AND the two days, then BITCOUNT")
        monday = r.bitcount("{dau}:ex:mon")
        return f"{expected} of {monday} Monday users came back ({expected / monday:.0%} day-1 retention)."


q1 = MarkActive()
q2 = ActiveAllDays()
q3 = UniqueVisitorsSite()
q4 = CameBack()

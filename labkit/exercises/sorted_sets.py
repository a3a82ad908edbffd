"""Exercises for notebook 05, leaderboards with sorted sets: `from labkit.exercises import sorted_sets as ex`.

Example::

    ex.use(r)
    r.zadd("lb:weekly", {"ada": 120})
    ex.q1.check()
"""

from __future__ import annotations

from typing import Any

from .core import Problem, as_text, expect, expect_type, use

__all__ = ["NOTEBOOK", "SEASON", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "05_sorted_sets_leaderboards"

#: The season board the notebook's exercise cell creates in `lb:season` (with ties on purpose).
SEASON: dict[str, int] = {
    "alice": 3100, "bob": 2900, "carol": 2900, "dave": 2700, "erin": 2500, "mallory": 2400,
    "oscar": 2200, "peggy": 2100, "trent": 2100, "victor": 2100, "walter": 1800, "zoe": 1500,
}



def _season_ready(r: Any) -> None:
    expect(r.exists("lb:season"), "lb:season does not exist: run the cell that creates it at the start of the exercises")
    expect_type(r, "lb:season", "zset")


def _names(answer: Any, what: str) -> list[str]:
    expect(isinstance(answer, (list, tuple)), f"pass {what} as a list of player names, not a {type(answer).__name__}")
    return [as_text(item) for item in answer]


class WeeklyBoard(Problem):
    title = "Build the weekly board"
    keys = ("lb:weekly",)
    hints = (
        "ZADD sets scores; ZINCRBY adds to a score (ZADD would replace it).",
        "r.zadd('lb:weekly', {'ada': 120, 'grace': 95, 'linus': 95, 'alan': 80}); r.zincrby('lb:weekly', 15, 'ada')",
    )
    solution_code = """
r.zadd("lb:weekly", {"ada": 120, "grace": 95, "linus": 95, "alan": 80})
r.zincrby("lb:weekly", 15, "ada")
"""
    wrong_code = """
r.zadd("lb:weekly", {"ada": 120, "grace": 95, "linus": 95, "alan": 80})
r.zadd("lb:weekly", {"ada": 15})
"""
    wrong_message = "ada has 15 points"

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "lb:weekly", "zset")
        board = {as_text(member): score for member, score in r.zrange("lb:weekly", 0, -1, withscores=True)}
        wanted = {"ada": 135, "grace": 95, "linus": 95, "alan": 80}
        missing = sorted(set(wanted) - set(board))
        expect(not missing, f"lb:weekly has no score for {', '.join(missing)}")
        extra = sorted(set(board) - set(wanted))
        expect(not extra, f"lb:weekly also holds {', '.join(extra)}; only ada, grace, linus and alan play this week")
        if board["ada"] != 135:
            how = " (ZADD replaced her 120; ZINCRBY adds)" if board["ada"] == 15 else ""
            expect(False, f"ada has {board['ada']:g} points{how}; she should have 120 + 15 = 135")
        for player in ("grace", "linus", "alan"):
            expect(board[player] == wanted[player], f"{player} has {board[player]:g} points; expected {wanted[player]}")
        return "ada leads with 135."


class TopThree(Problem):
    title = "The top three of the season"
    takes_answer = True
    hints = (
        "ZRANGE with REV (desc=True in redis-py) starts at the highest score; WITHSCORES returns the scores too.",
        "answer = r.zrange('lb:season', 0, 2, desc=True, withscores=True)",
    )
    solution_code = 'answer = r.zrange("lb:season", 0, 2, desc=True, withscores=True)'
    wrong_code = 'answer = r.zrange("lb:season", 0, 2, withscores=True)'
    wrong_message = "lowest scores first"

    def prepare(self, r: Any) -> None:
        r.zadd("lb:season", SEASON)

    def verify(self, r: Any, answer: Any) -> str:
        _season_ready(r)
        expect(isinstance(answer, (list, tuple)), f"pass a list of (player, score) pairs, not a {type(answer).__name__}")
        pairs = []
        for item in answer:
            expect(isinstance(item, (list, tuple)) and len(item) == 2, f"each entry should be a (player, score) pair; got {item!r} (add withscores=True)")
            pairs.append((as_text(item[0]), float(item[1])))
        expected = [(as_text(m), float(s)) for m, s in r.zrange("lb:season", 0, 2, desc=True, withscores=True)]
        expect(len(pairs) == 3, f"you passed {len(pairs)} entries; the top three is 3")
        lowest = [(as_text(m), float(s)) for m, s in r.zrange("lb:season", 0, 2, withscores=True)]
        expect(pairs != lowest, "these are the three lowest scores first: ask for the highest first (REV / desc=True)")
        expect(pairs == expected, f"you passed {pairs}; the top three is {expected}")
        return f"{expected[0][0]} leads the season."


class AroundMe(Problem):
    title = "Around me: mallory and her neighbours"
    takes_answer = True
    hints = (
        "ZREVRANK gives mallory's place counted from the top (0 = first).",
        "Take ZRANGE ... REV from that rank - 2 to that rank + 2.",
        "rank = r.zrevrank('lb:season', 'mallory'); answer = r.zrange('lb:season', max(rank - 2, 0), rank + 2, desc=True)",
    )
    solution_code = """
rank = r.zrevrank("lb:season", "mallory")
answer = r.zrange("lb:season", max(rank - 2, 0), rank + 2, desc=True)
"""
    wrong_code = """
rank = r.zrank("lb:season", "mallory")
answer = r.zrange("lb:season", max(rank - 2, 0), rank + 2, desc=True)
"""
    wrong_message = "should be the 5 players around mallory"

    def prepare(self, r: Any) -> None:
        r.zadd("lb:season", SEASON)

    def verify(self, r: Any, answer: Any) -> str:
        _season_ready(r)
        names = _names(answer, "the five players")
        rank = r.zrevrank("lb:season", "mallory")
        expect(rank is not None, "mallory is not on lb:season: run the cell that creates it")
        expected = [as_text(m) for m in r.zrange("lb:season", max(rank - 2, 0), rank + 2, desc=True)]
        if sorted(names) == sorted(expected) and names != expected:
            expect(False, f"the right players in the wrong order: {names}; highest score first is {expected}")
        expect(names == expected, f"you passed {names}; it should be the 5 players around mallory, highest first: two above, mallory, two below")
        return f"mallory's neighbours, highest first: {', '.join(expected)}."


class TiedRank(Problem):
    title = "A fair rank for tied scores"
    takes_answer = True
    hints = (
        "ZREVRANK breaks ties by member name, so players on the same score get different ranks.",
        "A fair ('1, 2, 2, 4') rank is 1 + the number of players with a strictly higher score: ZCOUNT with an exclusive '(' bound.",
        "score = r.zscore('lb:season', 'trent'); answer = r.zcount('lb:season', f'({score}', '+inf') + 1",
    )
    solution_code = """
score = r.zscore("lb:season", "trent")
answer = r.zcount("lb:season", f"({score}", "+inf") + 1
"""
    wrong_code = 'answer = r.zrevrank("lb:season", "trent") + 1'
    wrong_message = "counts players tied with trent as ahead of him"

    def prepare(self, r: Any) -> None:
        r.zadd("lb:season", SEASON)

    def verify(self, r: Any, answer: Any) -> str:
        _season_ready(r)
        score = r.zscore("lb:season", "trent")
        expect(score is not None, "trent is not on lb:season: run the cell that creates it")
        expect(isinstance(answer, int) and not isinstance(answer, bool), f"pass trent's rank as a whole number, not {answer!r}")
        expected = r.zcount("lb:season", f"({score}", "+inf") + 1
        tied_ahead = r.zrevrank("lb:season", "trent") + 1
        if answer == tied_ahead and answer != expected:
            expect(False, f"{answer} counts players tied with trent as ahead of him; count only strictly higher scores")
        expect(answer != expected - 1, f"{answer} is a 0-based position; ranks shown to players start at 1")
        expect(answer == expected, f"trent's fair rank is not {answer}: count the players with a strictly higher score and add 1")
        return f"trent shares rank {expected} with everyone on {score:g} points."


q1 = WeeklyBoard()
q2 = TopThree()
q3 = AroundMe()
q4 = TiedRank()

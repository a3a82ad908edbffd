"""Exercises for notebook 05, leaderboards with sorted sets: `from labkit.exercises import sorted_sets as ex`.

Every exercise draws its board for the run in `ex.qN.prepare()`, so that answers are read from the
server, not from an earlier output.

Example::

    ex.use(r)
    ex.q1.prepare()
    r.zincrby("lb:weekly", ex.q1.points["ada"], "ada")
    ex.q1.check()
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from .core import NotAttempted, Problem, Wrong, as_text, expect, expect_type, use

__all__ = ["NOTEBOOK", "PLAYERS", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "05_sorted_sets_leaderboards"

#: The players of `lb:season` (exercises 2 to 4); their scores are drawn each run.
PLAYERS = ("alice", "bob", "carol", "dave", "erin", "mallory", "oscar", "peggy", "trent", "victor", "walter", "zoe")
SEASON = "lb:season"
WEEKLY = "lb:weekly"

# What the board of earlier versions of this notebook printed: copied, they must never be right.
_OLD_TOP3 = [("alice", 3100.0), ("carol", 2900.0), ("bob", 2900.0)]
_OLD_AROUND = ["dave", "erin", "mallory", "oscar", "victor"]
_OLD_TRENT_RANK = 8


def _rank_order(board: dict[str, float]) -> list[str]:
    """Highest first; equal scores in reverse byte order of the name, as ZRANGE ... REV lists them."""
    return sorted(board, key=lambda player: (board[player], player), reverse=True)


def draw_season(rng: Any) -> dict[str, int]:
    """Scores for this run: multiples of 100, with trent tied with a player whose name sorts after his
    (so that ZREVRANK and the fair rank differ), and mallory with two players above and two below."""
    while True:
        board = {player: rng.randint(12, 40) * 100 for player in PLAYERS}
        board[rng.choice(("victor", "walter", "zoe"))] = board["trent"]
        board[rng.choice(("alice", "bob", "carol", "dave", "erin", "oscar", "peggy"))] = board["trent"]
        order = _rank_order(board)
        trent = board["trent"]
        fair = 1 + sum(score > trent for score in board.values())
        # The answers of the wrong ways (tie order, inclusive bound, 0-based) all differ, and from the old literal.
        wrong_ways = {order.index("trent") + 1, sum(score >= trent for score in board.values()), fair - 1}
        top3 = [(player, float(board[player])) for player in order[:3]]
        at = order.index("mallory")
        if (2 <= at <= len(order) - 3 and fair >= 2 and len(wrong_ways | {fair, _OLD_TRENT_RANK}) == 5
                and top3 != _OLD_TOP3 and order[at - 2 : at + 3] != _OLD_AROUND):
            return board


class _SeasonProblem(Problem):
    """An exercise on `lb:season`, drawn for the run by `prepare()`."""

    takes_answer = True

    def setup(self, r: Any) -> None:
        self.board = draw_season(self.rng)
        r.delete(SEASON)
        r.zadd(SEASON, self.board)
        print(f"prepare(): lb:season holds {len(self.board)} players, with scores drawn for this run.")

    def cleanup(self, r: Any) -> None:
        r.delete(SEASON)

    def season(self, r: Any) -> dict[str, float]:
        expect(r.exists(SEASON), "lb:season does not exist: run the exercise cell from its first line, its prepare()")
        expect_type(r, SEASON, "zset")
        return {as_text(member): float(score) for member, score in r.zrange(SEASON, 0, -1, withscores=True)}


def _names(answer: Any, what: str) -> list[str]:
    expect(isinstance(answer, (list, tuple)), f"pass {what} as a list of player names, not a {type(answer).__name__}")
    return [as_text(item) for item in answer]


class WeeklyBoard(Problem):
    title = "Award points with ZINCRBY"
    keys = (WEEKLY,)
    hints = (
        "ZADD sets a score (it replaces the old one); ZINCRBY adds to it on the server, and creates a player that is not there yet.",
        "You never need ada's current score: r.zincrby('lb:weekly', points, 'ada'). Reading it and writing the total back "
        "loses points when two game servers do it at once.",
        "r.zincrby('lb:weekly', ex.q1.points['ada'], 'ada'); r.zincrby('lb:weekly', ex.q1.points['eve'], 'eve')",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        r.zincrby("lb:weekly", ex.q1.points["ada"], "ada")
        r.zincrby("lb:weekly", ex.q1.points["eve"], "eve")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            total = r.zscore("lb:weekly", "ada") + ex.q1.points["ada"]
            r.zadd("lb:weekly", {"ada": total, "eve": ex.q1.points["eve"]})
        """), "read-modify-write", why="ZSCORE, then ZADD of the total"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.zadd("lb:weekly", {"ada": ex.q1.points["ada"], "eve": ex.q1.points["eve"]})
        """), "ZADD replaced her score", why="ZADD of the points: replaces"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.zincrby("lb:weekly", ex.q1.points["ada"], "ada")
        """), "eve is not on lb:weekly", why="only ada (near miss)"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.zincrby("lb:weekly", ex.q1.points["eve"], "ada")
            r.zincrby("lb:weekly", ex.q1.points["ada"], "eve")
        """), "should have", why="the points swapped"),
    )

    def setup(self, r: Any) -> None:
        """This week's board (scores drawn per run), and the points ada and eve (a newcomer) just scored."""
        self.start = {"ada": self.rng.randint(60, 140), "grace": self.rng.randint(60, 140),
                      "linus": self.rng.randint(60, 140), "alan": self.rng.randint(60, 140)}
        ada_points = self.rng.randint(5, 40)
        self.points = {"ada": ada_points, "eve": self.rng.choice([n for n in range(5, 60) if n != ada_points])}
        r.zadd(WEEKLY, self.start)
        print(f"ex.q1.prepare(): lb:weekly holds this week's scores; ada just scored {self.points['ada']} more points, "
              f"and eve, new this week, {self.points['eve']} (also in ex.q1.points).")

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect_type(r, WEEKLY, "zset")
        board = {as_text(member): float(score) for member, score in r.zrange(WEEKLY, 0, -1, withscores=True)}
        if board == {player: float(score) for player, score in self.start.items()}:
            raise NotAttempted("lb:weekly is as ex.q1.prepare() left it: award ada's and eve's points")
        ada_total = self.start["ada"] + self.points["ada"]
        if calls.get("zadd"):
            expect(board.get("ada") != self.points["ada"], f"ada has {self.points['ada']} points: ZADD replaced her score "
                                                           f"of {self.start['ada']}; ZINCRBY adds to it")
            expect(False, "the server saw a ZADD: a ZADD of a total you computed is a read-modify-write, and points another game "
                          "server awards between your read and your write are lost; award points with ZINCRBY, which adds on the server")
        expect("eve" in board, "eve is not on lb:weekly: ZINCRBY creates a player that is not there yet (at 0) and adds")
        expect(board.get("ada") == ada_total, f"ada has {board.get('ada', 0):g} points; she should have her score plus the "
                                              f"{self.points['ada']} she just scored")
        expect(board["eve"] == self.points["eve"], f"eve has {board['eve']:g} points; she should have the {self.points['eve']} she just scored")
        for player in ("grace", "linus", "alan"):
            expect(board.get(player) == self.start[player], f"{player}'s score changed; only ada and eve scored")
        expect(calls.get("zincrby", 0) == 2, f"the server saw {calls.get('zincrby', 0)} ZINCRBY commands; award each player's points with one")
        return f"ada is on {ada_total:g}, eve on {self.points['eve']}: the server did the additions."


class TopThree(_SeasonProblem):
    title = "The top three of the season"
    hints = (
        "ZRANGE with REV (desc=True in redis-py) starts at the highest score; WITHSCORES returns the scores too.",
        "Indexes count from 0, so the top three is 0 to 2.",
        "top3 = r.zrange('lb:season', 0, 2, desc=True, withscores=True)",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        top3 = r.zrange("lb:season", 0, 2, desc=True, withscores=True)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            top3 = [("alice", 3100.0), ("carol", 2900.0), ("bob", 2900.0)]
        """), "not the top three of this run's board", why="a literal from an earlier output"),
        Wrong(dedent("""
            ex.q2.prepare()
            top3 = r.zrange("lb:season", 0, 2, withscores=True)
        """), "lowest scores first", why="forgets REV"),
        Wrong(dedent("""
            ex.q2.prepare()
            top3 = r.zrange("lb:season", 0, 2, desc=True)
        """), "(player, score) pair", why="forgets WITHSCORES"),
        Wrong(dedent("""
            ex.q2.prepare()
            top3 = r.zrange("lb:season", 0, 3, desc=True, withscores=True)
        """), "you passed 4 entries", why="off by one: 0 to 3"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        board = self.season(r)
        expect(isinstance(answer, (list, tuple)), f"pass a list of (player, score) pairs, not a {type(answer).__name__}")
        pairs = []
        for item in answer:
            expect(isinstance(item, (list, tuple)) and len(item) == 2, f"each entry should be a (player, score) pair; got {item!r} (add withscores=True)")
            pairs.append((as_text(item[0]), float(item[1])))
        expect(len(pairs) == 3, f"you passed {len(pairs)} entries; the top three is 3")
        order = _rank_order(board)
        expected = [(player, board[player]) for player in order[:3]]
        lowest = [(player, board[player]) for player in order[::-1][:3]]
        expect(pairs != lowest, "these are the three lowest scores first: ask for the highest first (REV / desc=True)")
        if sorted(pairs) == sorted(expected) and pairs != expected:
            expect(False, "the right players in the wrong order: highest score first, as ZRANGE ... REV returns them")
        expect(pairs == expected, "these are not the top three of this run's board: read them from lb:season with ZRANGE ... REV")
        return f"{expected[0][0]} leads the season with {expected[0][1]:g}."


class AroundMe(_SeasonProblem):
    title = "Around me: mallory and her neighbours"
    hints = (
        "ZREVRANK gives mallory's place counted from the top (0 = first).",
        "Take ZRANGE ... REV from that rank - 2 to that rank + 2.",
        "rank = r.zrevrank('lb:season', 'mallory'); names = r.zrange('lb:season', max(rank - 2, 0), rank + 2, desc=True)",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        rank = r.zrevrank("lb:season", "mallory")
        names = r.zrange("lb:season", max(rank - 2, 0), rank + 2, desc=True)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            names = ["dave", "erin", "mallory", "oscar", "victor"]
        """), "not the five players around mallory", why="a literal from an earlier output"),
        Wrong(dedent("""
            ex.q3.prepare()
            rank = r.zrank("lb:season", "mallory")
            names = r.zrange("lb:season", max(rank - 2, 0), rank + 2, desc=True)
        """), "not the five players around mallory", why="ZRANK (from the bottom) used as a place from the top"),
        Wrong(dedent("""
            ex.q3.prepare()
            rank = r.zrank("lb:season", "mallory")
            names = r.zrange("lb:season", max(rank - 2, 0), rank + 2)
        """), "wrong order", why="lowest first"),
        Wrong(dedent("""
            ex.q3.prepare()
            rank = r.zrevrank("lb:season", "mallory")
            names = r.zrange("lb:season", rank - 1, rank + 1, desc=True)
        """), "you passed 3 players", why="one neighbour on each side (near miss)"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        board = self.season(r)
        names = _names(answer, "the five players")
        expect(len(names) == 5, f"you passed {len(names)} players; two above mallory, mallory and two below make 5")
        order = _rank_order(board)
        at = order.index("mallory")
        expected = order[max(at - 2, 0) : at + 3]
        if sorted(names) == sorted(expected) and names != expected:
            expect(False, "the right players in the wrong order: highest score first, as ZRANGE ... REV returns them")
        expect(names == expected, "these are not the five players around mallory in this run's board (highest first: two above, mallory, two below)")
        return f"mallory's neighbours, highest first: {', '.join(expected)}."


class TiedRank(_SeasonProblem):
    title = "A fair rank for tied scores"
    hints = (
        "ZREVRANK breaks ties by member name, so players on the same score get different places.",
        "A fair ('1, 2, 2, 4') rank is 1 + the number of players with a strictly higher score: ZCOUNT with an exclusive '(' bound.",
        "score = r.zscore('lb:season', 'trent'); rank = r.zcount('lb:season', f'({score}', '+inf') + 1",
    )
    solution_code = dedent("""
        ex.q4.prepare()
        score = r.zscore("lb:season", "trent")
        rank = r.zcount("lb:season", f"({score}", "+inf") + 1
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q4.prepare()
            rank = r.zrevrank("lb:season", "trent") + 1
        """), "tied with trent as ahead of him", why="ZREVRANK breaks the tie by name"),
        Wrong(dedent("""
            ex.q4.prepare()
            score = r.zscore("lb:season", "trent")
            rank = r.zcount("lb:season", score, "+inf")
        """), "inclusive", why="an inclusive bound counts trent and his ties"),
        Wrong(dedent("""
            ex.q4.prepare()
            score = r.zscore("lb:season", "trent")
            rank = r.zcount("lb:season", f"({score}", "+inf")
        """), "0-based", why="forgets the + 1"),
        Wrong(dedent("""
            ex.q4.prepare()
            rank = 8
        """), "not trent's fair rank", why="a literal from an earlier output"),
        Wrong(dedent("""
            ex.q4.prepare()
            board = r.zrange("lb:season", 0, -1, withscores=True)
            trent = dict(board)["trent"]
            rank = 1 + sum(1 for _, score in board if score > trent)
        """), "ZCOUNT", why="the whole board to the client, counted in Python"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        board = self.season(r)
        expect(isinstance(answer, int) and not isinstance(answer, bool), f"pass trent's rank as a whole number, not {answer!r}")
        score = board["trent"]
        expected = 1 + sum(other > score for other in board.values())
        place = _rank_order(board).index("trent") + 1
        expect(answer != place or place == expected, f"{answer} counts the players tied with trent as ahead of him (ZREVRANK orders ties by name); "
                                                     "count only strictly higher scores")
        expect(answer != sum(other >= score for other in board.values()), f"{answer} comes from an inclusive bound, which counts trent and the players "
                                                                          "tied with him; write the minimum as '(' + score")
        expect(answer != expected - 1, f"{answer} is the number of players ahead of trent, a 0-based place; ranks shown to players start at 1")
        expect(answer == expected, f"{answer} is not trent's fair rank in this run's board: 1 + the number of players with a strictly higher score")
        calls = self.commands_since_prepare()
        expect(calls.get("zcount"), "the server saw no ZCOUNT: count the players above trent on the server, with an exclusive '(' bound, "
                                    "rather than bringing the whole board to the client")
        return f"trent shares rank {expected} with everyone on {score:g} points."


q1 = WeeklyBoard()
q2 = TopThree()
q3 = AroundMe()
q4 = TiedRank()

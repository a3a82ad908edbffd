"""Leaderboard: the top members of a sorted set as horizontal bars, best on top.

Example::

    board = labkit.viz.Leaderboard(r, "game:scores", top=10)
    board.watch(0.5)                       # bars move while ZINCRBY changes scores
    labkit.viz.Leaderboard().update([("ada", 120), ("lin", 95)]).show()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import plotly.graph_objects as go
import redis

from ..errors import ConfigurationError
from ._base import View, colour


class Leaderboard(View):
    """Bars of (member, score), highest first; ``update(entries)`` takes pairs or a mapping."""

    def __init__(self, client: redis.Redis | None = None, key: str | None = None, *, top: int = 10, title: str | None = None) -> None:
        if (client is None) != (key is None):
            raise ConfigurationError("Leaderboard needs both a client and a sorted-set key, e.g. Leaderboard(r, 'scores'), or neither.")
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise ConfigurationError(f"top must be a whole number of at least 1 (got {top!r}); 10 is usual.")
        self.top = top
        self._title = title or (f"top {top} of {key}" if key else f"top {top}")
        if client is not None:
            super().__init__(lambda: client.zrevrange(key, 0, top - 1, withscores=True), lambda: _answers(client))
        else:
            super().__init__()

    def _build(self) -> go.FigureWidget:
        return go.FigureWidget(
            data=[go.Bar(orientation="h", x=[], y=[], text=[], textposition="auto", marker={"color": colour(0)})],
            layout=go.Layout(
                title={"text": self._title, "font": {"size": 14}}, height=120 + 28 * self.top,
                margin={"l": 120, "r": 20, "t": 50, "b": 40}, yaxis={"autorange": "reversed", "type": "category"},
                xaxis={"title": {"text": "score"}},
            ),
        )

    def _apply(self, entries: Any) -> None:
        ranked = _entries(entries)[: self.top]
        with self.figure.batch_update():
            bars = self.figure.data[0]
            bars.y = [f"{rank}. {member}" for rank, (member, _score) in enumerate(ranked, start=1)]
            bars.x = [score for _member, score in ranked]
            bars.text = [f"{score:g}" for _member, score in ranked]

    def _text(self, entries: Any) -> str:
        ranked = _entries(entries)[: self.top]
        return "\n".join([self._title] + [f"{rank:>3}. {member}  {score:g}" for rank, (member, score) in enumerate(ranked, start=1)])


def _entries(entries: Any) -> list[tuple[str, float]]:
    items = entries.items() if isinstance(entries, Mapping) else entries
    if not isinstance(items, Iterable):
        raise ConfigurationError(f"expected (member, score) pairs or a mapping of member to score; got {entries!r}.")
    pairs = []
    for item in items:
        try:
            member, score = item
            pairs.append((member.decode() if isinstance(member, bytes) else str(member), float(score)))
        except (TypeError, ValueError):
            raise ConfigurationError(f"each leaderboard entry must be a (member, score) pair; got {item!r}.") from None
    # Highest score first; ties in member order, as ZREVRANGE orders them (reverse lexicographic).
    return sorted(pairs, key=lambda pair: (-pair[1], [-ord(char) for char in pair[0]]))


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


__all__ = ["Leaderboard"]

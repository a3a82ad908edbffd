"""TimeSeriesChart: one line per series of (time, value) points.

Example::

    chart = labkit.viz.TimeSeriesChart(title="temperature", y_title="°C")
    chart.update({"sensor-1": [(1700000000, 21.5), (1700000060, 21.7)]}).show()
    # live, from a sorted set scored by time whose members are "time:value":
    # TimeSeriesChart(read=lambda: {"s1": [(t, m.split(":")[1]) for m, t in r.zrange("ts:s1", 0, -1, withscores=True)]})
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import plotly.graph_objects as go

from ..errors import ConfigurationError
from ._base import View, colour


class TimeSeriesChart(View):
    """``update({name: [(time, value), ...]})``; times are epoch seconds or datetimes (shown in UTC)."""

    def __init__(self, read: Callable[[], Mapping] | None = None, *, title: str = "time series", y_title: str = "value",
                 mode: str = "lines+markers") -> None:
        self._title, self._y_title, self._mode = title, y_title, mode
        self._names: list[str] = []
        super().__init__(read)

    def _build(self) -> go.FigureWidget:
        return go.FigureWidget(layout=go.Layout(
            title={"text": self._title, "font": {"size": 14}}, height=360, margin={"l": 60, "r": 20, "t": 50, "b": 50},
            xaxis={"title": {"text": "time (UTC)"}}, yaxis={"title": {"text": self._y_title}}, uirevision="keep",
        ))

    def _apply(self, series: Mapping[str, Iterable]) -> None:
        points = _series(series)
        for name in points:
            if name not in self._names:
                self._names.append(name)
                self.figure.add_trace(go.Scatter(name=name, mode=self._mode, x=[], y=[], line={"color": colour(len(self._names) - 1)}))
        with self.figure.batch_update():
            for index, name in enumerate(self._names):
                trace = self.figure.data[index]
                trace.x = [time for time, _value in points.get(name, [])]
                trace.y = [value for _time, value in points.get(name, [])]

    def _text(self, series: Mapping[str, Iterable]) -> str:
        lines = [self._title]
        for name, points in _series(series).items():
            values = [value for _time, value in points]
            span = f", {points[0][0]:%Y-%m-%d %H:%M:%S} to {points[-1][0]:%Y-%m-%d %H:%M:%S}" if points else ""
            low_high = f", min {min(values):g}, max {max(values):g}" if values else ""
            lines.append(f"  {name}: {len(points)} points{span}{low_high}")
        return "\n".join(lines)


def _series(series: Any) -> dict[str, list[tuple[dt.datetime, float]]]:
    if not isinstance(series, Mapping):
        raise ConfigurationError(f"expected a mapping of series name to (time, value) pairs, e.g. {{'cpu': [(t, v)]}}; got {series!r}.")
    result = {}
    for name, pairs in series.items():
        points = []
        for pair in pairs:
            try:
                when, value = pair
                points.append((_when(when), float(value)))
            except (TypeError, ValueError):
                raise ConfigurationError(f"series {name!r}: each point must be a (time, value) pair; got {pair!r}.") from None
        result[str(name)] = sorted(points)
    return result


def _when(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, (bytes, str)):
        value = float(value)
    return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)


__all__ = ["TimeSeriesChart"]

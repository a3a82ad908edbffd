"""Dashboard: operations per second, memory, connected clients and keys per node, over time.

Example::

    dashboard = labkit.viz.Dashboard(cluster)
    dashboard.watch(0.5)     # one line per node in each of the four charts
    ...
    dashboard.stop()
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..errors import ConfigurationError
from ..state import NodeState, TopologyState
from ._base import View, colour

_METRICS = (
    ("operations per second", lambda node: node.ops_per_sec),
    ("memory used (MB)", lambda node: None if node.memory_used_bytes is None else round(node.memory_used_bytes / 2**20, 2)),
    ("connected clients", lambda node: node.connected_clients),
    ("keys", lambda node: node.keys),
)


class Dashboard(View):
    """Four line charts with one line per node; the x axis is seconds since the first update.

    The snapshot's own commands count too: each refresh sends each node 1 to 3 commands.
    """

    def __init__(self, topology: Any = None, *, history: int = 240) -> None:
        if isinstance(history, bool) or not isinstance(history, int) or history < 2:
            raise ConfigurationError(f"history must be a whole number of points, at least 2 (got {history!r}); 240 is 60 s at 4 Hz.")
        self.history = history
        self._times: deque = deque(maxlen=history)
        self._series: dict[str, list[deque]] = {}
        self._order: list[str] = []
        self._t0: float | None = None
        self._init_for_topology(topology)

    def _build(self) -> go.FigureWidget:
        figure = go.FigureWidget(make_subplots(
            rows=2, cols=2, subplot_titles=[title for title, _ in _METRICS], vertical_spacing=0.16, horizontal_spacing=0.1,
        ))
        figure.update_layout(
            title={"text": "dashboard", "font": {"size": 14}}, height=560, margin={"l": 50, "r": 20, "t": 80, "b": 40},
            legend={"orientation": "h", "y": -0.16}, uirevision="keep",
        )
        figure.update_xaxes(title_text="seconds", row=2)
        return figure

    def _add_node(self, name: str) -> None:
        index = len(self._order)
        self._order.append(name)
        # A node that appears later (a new shard) has no values for the moments before it existed.
        self._series[name] = [deque([math.nan] * len(self._times), maxlen=self.history) for _ in _METRICS]
        for metric, _ in enumerate(_METRICS):
            self.figure.add_trace(
                go.Scatter(
                    name=name, legendgroup=name, showlegend=metric == 0, mode="lines", x=[], y=[],
                    line={"color": colour(index), "width": 1.5, "dash": "solid" if index < 16 else "dot"},
                ),
                row=metric // 2 + 1, col=metric % 2 + 1,
            )

    def _apply(self, state: TopologyState) -> None:
        nodes: dict[str, NodeState] = {node.name: node for node in state.nodes}
        for name in sorted(nodes, key=lambda name: (nodes[name].shard or 0, name)):
            if name not in self._series:
                self._add_node(name)
        if self._t0 is None:
            self._t0 = state.taken_at
        self._times.append(round(state.taken_at - self._t0, 2))
        for name, values in self._series.items():
            node = nodes.get(name)
            for metric, (_title, read) in enumerate(_METRICS):
                value = read(node) if node is not None else None
                values[metric].append(math.nan if value is None else value)
        x = numpy.fromiter(self._times, dtype=numpy.float32, count=len(self._times))
        ys = [
            numpy.fromiter(values, dtype=numpy.float32, count=len(values))
            for name in self._order for values in self._series[name]
        ]
        # One update message for every trace. Every line shares one time axis, sent once ([x] applies
        # to all traces in turn); numpy arrays skip plotly's per-element validation and travel as
        # binary. This is what keeps a 4 Hz dashboard of 9 nodes cheap.
        self.figure.plotly_restyle({"x": [x], "y": ys})
        title = state.summary()
        if self.figure.layout.title.text != title:
            self.figure.layout.title.text = title

    def _text(self, state: TopologyState) -> str:
        rows = [("node", "ops/sec", "memory", "clients", "keys")]
        for node in state.nodes:
            memory = "-" if node.memory_used_bytes is None else f"{node.memory_used_bytes / 2**20:.1f}M"
            rows.append((node.name, _dash(node.ops_per_sec), memory, _dash(node.connected_clients), _dash(node.keys)))
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


__all__ = ["Dashboard"]

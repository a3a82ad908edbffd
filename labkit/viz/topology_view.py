"""TopologyView: nodes in AZ columns, one row per shard, role, status and replication links with lag.

Example::

    view = labkit.viz.TopologyView(cluster)
    view.watch(0.5)          # live: a failover turns squares into circles as it happens
    ...
    view.stop()
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from ..node import Role
from ..state import NodeState, TopologyState
from ._base import STATUS_COLOURS, View, colour

_FAILED_OVER_OUTLINE = "#e6a700"


class TopologyView(View):
    """Nodes grouped in AZ columns, shards as rows; squares are primaries, circles replicas.

    Fill colour is the status (green up, orange paused, red down, grey stopped); a gold outline marks
    a node whose role changed by failover; lines join each replica to its primary, labelled with lag.
    """

    def __init__(self, topology: Any = None, *, height: int | None = None) -> None:
        self._azs: list[str] = list(getattr(topology, "azs", ()) or ())
        self._rows: tuple = ()
        self._drawn: tuple = ()
        self._height = height
        self._init_for_topology(topology)

    def _build(self) -> go.FigureWidget:
        figure = go.FigureWidget(
            data=[
                go.Scatter(name="replication link", mode="lines", line={"color": "#8c8c8c", "width": 2}, hoverinfo="skip", x=[], y=[]),
                go.Scatter(name="link down", mode="lines", line={"color": "#d62728", "width": 2, "dash": "dot"}, hoverinfo="skip", x=[], y=[]),
                go.Scatter(name="lag", mode="text", textfont={"size": 10, "color": "#555"}, hoverinfo="skip", x=[], y=[], text=[]),
                go.Scatter(
                    name="nodes", mode="markers+text", textposition="bottom center", textfont={"size": 10},
                    hovertemplate="%{customdata}<extra></extra>", x=[], y=[], text=[], customdata=[],
                    marker={"size": 30, "line": {"width": 1, "color": "#333"}},
                ),
            ],
            layout=go.Layout(
                title={"text": "topology", "font": {"size": 14}}, showlegend=False, height=self._height or 360,
                margin={"l": 70, "r": 20, "t": 70, "b": 20}, plot_bgcolor="white",
                xaxis={"side": "top", "showgrid": False, "zeroline": False, "fixedrange": True},
                yaxis={"showgrid": False, "zeroline": False, "fixedrange": True},
            ),
        )
        return figure

    def _layout_rows(self, state: TopologyState) -> tuple[list[str], list[Any]]:
        azs = list(self._azs)
        for az in state.azs:
            if az not in azs:
                azs.append(az)
        rows = state.shards or [None]
        if any(node.shard is None for node in state.nodes) and None not in rows:
            rows = [None, *rows]
        return azs or ["-"], rows

    def _apply(self, state: TopologyState) -> None:
        azs, rows = self._layout_rows(state)
        column = {az: index for index, az in enumerate(azs)}
        row_of = {shard: index for index, shard in enumerate(rows)}
        # Nodes sharing a (shard, AZ) cell sit side by side.
        cells: dict[tuple, list[NodeState]] = {}
        for node in state.nodes:
            cells.setdefault((node.shard, node.az or "-"), []).append(node)
        position: dict[int, tuple[float, float]] = {}
        for (shard, az), members in cells.items():
            for index, node in enumerate(members):
                offset = (index - (len(members) - 1) / 2) * 0.28
                position[node.port] = (column.get(az, 0) + offset, -row_of.get(shard, 0))

        xs, ys, labels, hovers, fills, symbols, outlines, widths = [], [], [], [], [], [], [], []
        for node in state.nodes:
            x, y = position[node.port]
            xs.append(x)
            ys.append(y)
            role = "P" if node.role is Role.PRIMARY else "R"
            detail = f"{node.slot_count} slots" if node.role is Role.PRIMARY and state.kind == "cluster" and node.reachable else ""
            if node.failed_over:
                detail = ("promoted" if node.role is Role.PRIMARY else "demoted") + (f" · {detail}" if detail else "")
            labels.append(f"{role} {node.name}" + (f"<br>{detail}" if detail else "") + ("" if node.reachable else f"<br><b>{node.status}</b>"))
            hovers.append(_hover(node))
            fills.append(STATUS_COLOURS.get(str(node.status), "#9e9e9e"))
            symbols.append("square" if node.role is Role.PRIMARY else "circle")
            outlines.append(_FAILED_OVER_OUTLINE if node.failed_over else "#333")
            widths.append(4 if node.failed_over else 1)

        up_x, up_y, down_x, down_y, lag_x, lag_y, lag_text = [], [], [], [], [], [], []
        for node in state.nodes:
            if node.role is not Role.REPLICA or node.primary_port not in position:
                continue
            (x1, y1), (x2, y2) = position[node.port], position[node.primary_port]
            healthy = node.link_up is True and node.reachable
            (up_x if healthy else down_x).extend([x1, x2, None])
            (up_y if healthy else down_y).extend([y1, y2, None])
            lag_x.append(x1 + (x2 - x1) * 0.5)
            lag_y.append(y1 + (y2 - y1) * 0.5 + 0.12)
            lag_text.append(_lag_label(node))

        shapes = [
            {"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "y0": -index - 0.45, "y1": -index + 0.45,
             "fillcolor": colour(shard if shard is not None else 0), "opacity": 0.09, "line": {"width": 0}, "layer": "below"}
            for index, shard in enumerate(rows)
        ]
        drawn = (xs, ys, labels, hovers, fills, symbols, outlines, widths, up_x, up_y, down_x, down_y, lag_x, lag_y, lag_text,
                 azs, rows, state.summary())
        if drawn == self._drawn:
            return  # nothing visible changed: send nothing to the browser
        self._drawn = drawn
        with self.figure.batch_update():
            links, down, lag, nodes = self.figure.data
            links.x, links.y = up_x, up_y
            down.x, down.y = down_x, down_y
            lag.x, lag.y, lag.text = lag_x, lag_y, lag_text
            nodes.x, nodes.y, nodes.text, nodes.customdata = xs, ys, labels, hovers
            nodes.marker.color, nodes.marker.symbol = fills, symbols
            nodes.marker.line.color, nodes.marker.line.width = outlines, widths
            if (tuple(azs), tuple(rows)) != self._rows:
                self._rows = (tuple(azs), tuple(rows))
                layout = self.figure.layout
                layout.xaxis.update(tickvals=list(range(len(azs))), ticktext=azs, range=[-0.6, len(azs) - 0.4])
                layout.yaxis.update(
                    tickvals=[-index for index in range(len(rows))],
                    ticktext=["node" if shard is None else f"shard {shard}" for shard in rows],
                    range=[-len(rows) + 0.4, 0.6],
                )
                layout.shapes = shapes
                if self._height is None:
                    layout.height = 140 + 120 * len(rows)
            self.figure.layout.title.text = state.summary()

    def _text(self, state: TopologyState) -> str:
        return str(state)


def _lag_label(node: NodeState) -> str:
    if not node.reachable:
        return f"{node.status}"
    if node.link_up is False:
        return "link down"
    parts = []
    if node.replication_lag_bytes is not None:
        parts.append(f"{node.replication_lag_bytes} B")
    if node.replication_lag_s is not None:
        parts.append(f"{node.replication_lag_s:g} s")
    return "lag " + " · ".join(parts) if parts else ""


def _hover(node: NodeState) -> str:
    lines = [
        f"<b>{node.name}</b> (port {node.port})",
        f"{node.role}{' (failed over)' if node.failed_over else ''} · {node.status} · {node.az or '-'}",
    ]
    if node.slots:
        lines.append(f"slots: {node.slot_count}")
    if node.keys is not None:
        lines.append(f"keys: {node.keys}")
    # Memory, clients and ops/sec change on every tick: the Dashboard draws those, so that this view
    # is only redrawn when something it shows changed.
    if node.role is Role.REPLICA:
        lines.append(f"link: {'up' if node.link_up else 'down'} · {_lag_label(node)}")
    return "<br>".join(lines)


__all__ = ["TopologyView"]

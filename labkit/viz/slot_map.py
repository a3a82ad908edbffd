"""SlotMap: the 16,384 hash slots as a 128 x 128 grid coloured by owning shard, with keys per shard.

Example::

    labkit.viz.SlotMap(cluster).show()      # slot 0 top left, slot 16383 bottom right
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..state import SLOT_COUNT, TopologyState
from ._base import View, colour

SIDE = 128  # 128 x 128 = 16,384
_UNOWNED = "#ffffff"


class SlotMap(View):
    """Each cell is a hash slot (row = slot // 128, column = slot % 128), coloured by the shard that owns it.

    Slots being migrated carry a black cross; white cells have no answering owner. The bars beside
    the grid count the keys each shard's primary holds.
    """

    def __init__(self, topology: Any = None) -> None:
        self._owners: tuple | None = None
        self._shards: tuple = ()
        self._init_for_topology(topology)

    def _build(self) -> go.FigureWidget:
        figure = go.FigureWidget(make_subplots(
            rows=1, cols=2, column_widths=[0.7, 0.3], horizontal_spacing=0.12,
            subplot_titles=("16,384 hash slots (128 × 128)", "keys per shard"),
        ))
        slot_numbers = [[row * SIDE + column for column in range(SIDE)] for row in range(SIDE)]
        figure.add_trace(go.Heatmap(
            name="slots", z=[[None] * SIDE for _ in range(SIDE)], customdata=slot_numbers, showscale=False,
            zmin=-0.5, zmax=0.5, colorscale=[[0, _UNOWNED], [1, _UNOWNED]], xgap=0, ygap=0,
            hovertemplate="slot %{customdata}<br>shard %{z}<extra></extra>",
        ), row=1, col=1)
        figure.add_trace(go.Scatter(
            name="migrating", mode="markers", x=[], y=[], text=[], marker={"symbol": "x", "size": 7, "color": "black"},
            hovertemplate="%{text}<extra></extra>",
        ), row=1, col=1)
        figure.add_trace(go.Bar(name="keys", x=[], y=[], text=[], textposition="auto", marker={"color": []}), row=1, col=2)
        figure.update_layout(
            title={"text": "slot map", "font": {"size": 14}}, showlegend=False, height=460,
            margin={"l": 50, "r": 20, "t": 80, "b": 40}, plot_bgcolor="white",
        )
        figure.update_xaxes(range=[-0.5, SIDE - 0.5], showgrid=False, zeroline=False, constrain="domain", row=1, col=1)
        figure.update_yaxes(range=[SIDE - 0.5, -0.5], showgrid=False, zeroline=False, scaleanchor="x", row=1, col=1)
        return figure

    def _apply(self, state: TopologyState) -> None:
        owners = state.slot_owners()
        shards = tuple(state.shards)
        keys = state.keys_per_shard()
        slots = state.slots_per_shard()
        with self.figure.batch_update():
            grid, migrating, bars = self.figure.data
            if owners != self._owners or shards != self._shards:
                # 16,384 cells go to the browser only when ownership changed, not on every tick.
                top = max(shards, default=0)
                grid.z = [list(owners[row * SIDE:(row + 1) * SIDE]) for row in range(SIDE)]
                grid.zmin, grid.zmax = -0.5, top + 0.5
                grid.colorscale = _discrete_scale(top + 1)
                self._owners, self._shards = owners, shards
            moves = state.migrations
            migrating.x = [move.slot % SIDE for move in moves]
            migrating.y = [move.slot // SIDE for move in moves]
            migrating.text = [f"slot {move.slot}: shard {move.source_shard} → shard {move.target_shard}" for move in moves]
            bars.x = [f"shard {shard}" for shard in shards]
            bars.y = [keys.get(shard, 0) for shard in shards]
            bars.text = [str(keys.get(shard, 0)) for shard in shards]
            bars.hovertext = [f"{slots.get(shard, 0)} slots" for shard in shards]
            bars.marker.color = [colour(shard) for shard in shards]
            unowned = owners.count(None)
            title = f"{len(shards)} shards · {SLOT_COUNT - unowned} of {SLOT_COUNT} slots served"
            if moves:
                title += f" · {len(moves)} migrating"
            self.figure.layout.title.text = title

    def _text(self, state: TopologyState) -> str:
        keys = state.keys_per_shard()
        lines = [f"hash slots: {SLOT_COUNT - state.slot_owners().count(None)} of {SLOT_COUNT} served"]
        for shard, count in state.slots_per_shard().items():
            lines.append(f"shard {shard}: {count} slots, {keys.get(shard, 0)} keys")
        for move in state.migrations:
            lines.append(f"slot {move.slot} migrating: shard {move.source_shard} -> shard {move.target_shard}")
        return "\n".join(lines)


def _discrete_scale(count: int) -> list[list]:
    """A colour scale with one flat band per shard number 0..count-1 (z values sit mid-band)."""
    scale = []
    for index in range(count):
        scale += [[index / count, colour(index)], [(index + 1) / count, colour(index)]]
    return scale


__all__ = ["SlotMap"]

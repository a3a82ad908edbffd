"""StreamView: a stream's length, its consumer groups, each consumer's pending count and idle time.

Example::

    view = labkit.viz.StreamView(r, "orders")
    view.watch(0.5)       # bars move as workers read (XREADGROUP) and acknowledge (XACK)
"""

from __future__ import annotations



import plotly.graph_objects as go
import redis
from plotly.subplots import make_subplots

from ..errors import ConfigurationError
from ..state import StreamState, stream_state
from ._base import View, colour


class StreamView(View):
    """Two bar charts, one bar per consumer (coloured by group): messages pending, and seconds idle.

    The title gives the stream's length and last id; each group's last delivered id and lag are
    written above the bars.
    """

    def __init__(self, client: redis.Redis | None = None, key: str | None = None) -> None:
        if (client is None) != (key is None):
            raise ConfigurationError("StreamView needs both a client and a stream key, e.g. StreamView(r, 'orders'), or neither.")
        self.key = key
        if client is not None:
            super().__init__(lambda: stream_state(client, key), lambda: _answers(client))
        else:
            super().__init__()

    def _build(self) -> go.FigureWidget:
        figure = go.FigureWidget(make_subplots(
            rows=1, cols=2, subplot_titles=("pending messages per consumer", "idle seconds per consumer"), horizontal_spacing=0.12,
        ))
        figure.add_trace(go.Bar(name="pending", x=[], y=[], text=[], textposition="auto", marker={"color": []}), row=1, col=1)
        figure.add_trace(go.Bar(name="idle", x=[], y=[], text=[], textposition="auto", marker={"color": []}), row=1, col=2)
        figure.update_layout(
            title={"text": "stream", "font": {"size": 14}}, showlegend=False, height=380,
            margin={"l": 50, "r": 20, "t": 110, "b": 60},
        )
        return figure

    def _apply(self, state: StreamState) -> None:
        labels, pending, idle, colours = [], [], [], []
        for index, group in enumerate(state.groups):
            for consumer in group.consumers:
                labels.append(f"{group.name}/{consumer.name}")
                pending.append(consumer.pending)
                idle.append(round(consumer.idle_ms / 1000, 1))
                colours.append(colour(index))
        groups = " · ".join(
            f"{group.name}: last delivered {group.last_delivered_id}, {group.pending} pending"
            + ("" if group.lag is None else f", lag {group.lag}")
            for group in state.groups
        ) or "no consumer groups yet"
        with self.figure.batch_update():
            pending_bars, idle_bars = self.figure.data
            pending_bars.x, pending_bars.y, pending_bars.text = labels, pending, [str(value) for value in pending]
            idle_bars.x, idle_bars.y, idle_bars.text = labels, idle, [f"{value:g}" for value in idle]
            pending_bars.marker.color = idle_bars.marker.color = colours
            self.figure.layout.title.text = (
                f"stream {state.key}: {state.length} entries, last id {state.last_id or '-'}<br><sup>{groups}</sup>"
            )

    def _text(self, state: StreamState) -> str:
        lines = [str(state)]
        idle = [f"{group.name}/{consumer.name} idle {consumer.idle_ms / 1000:.1f}s" for group in state.groups for consumer in group.consumers]
        return "\n".join(lines + idle)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


__all__ = ["StreamView"]

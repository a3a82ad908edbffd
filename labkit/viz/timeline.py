"""Timeline: a probe's operations over time, coloured by outcome, with latency; fault events marked.

Example::

    probe = labkit.probe.Probe(cluster).start()      # background traffic (see labkit.probe)
    cluster.kill(cluster.primary(0))
    timeline = labkit.viz.Timeline(probe, cluster.fault_log)
    timeline.watch(0.5)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import plotly.graph_objects as go

from ..errors import ConfigurationError
from ._base import View

OUTCOME_COLOURS = {"ok": "#2ca02c"}
_ERROR_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")
_SYMBOLS = {"write": "circle", "read": "diamond"}
_MAX_TRACES = 1 + len(_ERROR_COLOURS)


def operations_of(probe: Any) -> list:
    """The operations of a probe (anything with `.operations`) or of a list of operations."""
    operations = getattr(probe, "operations", probe)
    if callable(operations):
        operations = operations()
    if operations is None:
        return []
    if not isinstance(operations, Iterable):
        raise ConfigurationError(f"expected a probe (with .operations) or a list of operations; got {probe!r}.")
    return list(operations)


def events_of(fault_log: Any) -> list:
    """Fault events from a topology's `fault_log`, a topology (its `fault_log`), or a list of events."""
    if fault_log is None:
        return []
    events = getattr(fault_log, "fault_log", None)
    if events is None:
        events = getattr(fault_log, "events", fault_log)
    if not isinstance(events, Iterable):
        raise ConfigurationError(f"expected a fault log (a list of events with .time, .action, .target); got {fault_log!r}.")
    return list(events)


class Timeline(View):
    """Each operation is a point: x = seconds since the first one, y = latency (ms, log scale).

    Colour is the outcome ("ok" green, each error kind its own colour); circles are writes, diamonds reads.
    Dashed vertical lines mark fault events (kill, pause, failover...) with their action and target.
    ``update(probe, fault_log)`` is the way in; `watch()` re-reads the probe and fault log given here.
    """

    def __init__(self, probe: Any = None, fault_log: Any = None, *, title: str = "operations") -> None:
        self._probe, self._fault_log, self._title = probe, fault_log, title
        self._outcomes: list[str] = []
        self._marked: tuple = ()
        if probe is not None:
            super().__init__(lambda: (probe, fault_log), _alive_of(fault_log))
        else:
            super().__init__()

    def _build(self) -> go.FigureWidget:
        traces = [
            go.Scatter(
                name=f"slot {index}", mode="markers", x=[], y=[], text=[], visible=False,
                marker={"size": 6, "opacity": 0.8}, hovertemplate="%{text}<extra></extra>",
            )
            for index in range(_MAX_TRACES)
        ]
        return go.FigureWidget(
            data=traces,
            layout=go.Layout(
                title={"text": self._title, "font": {"size": 14}}, height=380, margin={"l": 60, "r": 20, "t": 60, "b": 50},
                xaxis={"title": {"text": "seconds"}}, yaxis={"title": {"text": "latency (ms)"}, "type": "log"},
                legend={"orientation": "h", "y": -0.2}, uirevision="keep",
            ),
        )

    def update(self, probe: Any, fault_log: Any = None) -> Timeline:  # type: ignore[override]
        """Draw a probe's operations (or a list of them) and the fault log's events."""
        if isinstance(probe, tuple) and len(probe) == 2 and fault_log is None:
            probe, fault_log = probe  # what watch() reads: (probe, fault log)
        return super().update((operations_of(probe), events_of(fault_log)))

    def _apply(self, data: tuple[list, list]) -> None:
        operations, events = data
        times = [op.time for op in operations] + [event.time for event in events]
        t0 = min(times) if times else 0.0
        groups: dict[str, list] = {}
        for op in operations:
            outcome = str(op.outcome)
            groups.setdefault(outcome, []).append(op)
        for outcome in sorted(groups, key=lambda name: (name != "ok", name)):
            if outcome not in self._outcomes and len(self._outcomes) < _MAX_TRACES:
                self._outcomes.append(outcome)
        shapes, annotations = [], []
        for number, event in enumerate(events):
            x = round(event.time - t0, 3)
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                           "line": {"color": "#444", "width": 1, "dash": "dash"}})
            annotations.append({"x": x, "y": 1 - 0.07 * (number % 3), "xref": "x", "yref": "paper", "showarrow": False,
                                "text": f"{event.action} {event.target}", "font": {"size": 10}, "xanchor": "left",
                                "bgcolor": "rgba(255,255,255,0.8)"})
        with self.figure.batch_update():
            for index, trace in enumerate(self.figure.data):
                if index >= len(self._outcomes):
                    trace.visible = False
                    continue
                outcome = self._outcomes[index]
                ops = groups.get(outcome, [])
                trace.name = f"{outcome} ({len(ops)})"
                trace.visible = True
                trace.x = [round(op.time - t0, 4) for op in ops]
                trace.y = [max(op.latency_s * 1000, 0.001) for op in ops]
                trace.text = [f"{op.kind} {op.key}: {op.outcome}, {op.latency_s * 1000:.2f} ms" for op in ops]
                trace.marker.color = OUTCOME_COLOURS.get(outcome, _ERROR_COLOURS[(index - 1) % len(_ERROR_COLOURS)])
                trace.marker.symbol = [_SYMBOLS.get(str(op.kind), "square") for op in ops]
            marks = (len(events), len(operations) and t0)
            if marks != self._marked:
                self.figure.layout.shapes = shapes
                self.figure.layout.annotations = annotations
                self._marked = marks
            self.figure.layout.title.text = f"{self._title}: {_summary(operations)}"

    def _text(self, data: tuple[list, list]) -> str:
        operations, events = data
        lines = [f"{self._title}: {_summary(operations)}"]
        t0 = min([op.time for op in operations] + [event.time for event in events], default=0.0)
        for event in events:
            detail = f" ({event.detail})" if getattr(event, "detail", "") else ""
            lines.append(f"  +{event.time - t0:.2f}s {event.action} {event.target}{detail}")
        return "\n".join(lines)


def _alive_of(fault_log: Any):
    # A timeline of a topology stops refreshing when the topology stops.
    lifecycle_owner = fault_log if hasattr(fault_log, "lifecycle") else None
    if lifecycle_owner is None:
        return None
    return lambda: str(lifecycle_owner.lifecycle) == "running"


def _summary(operations: list) -> str:
    counts = Counter(str(op.outcome) for op in operations)
    parts = [f"{len(operations)} operations"] + [f"{outcome} {count}" for outcome, count in sorted(counts.items(), key=lambda item: (item[0] != "ok", item[0]))]
    return ", ".join(parts)


__all__ = ["Timeline", "events_of", "operations_of"]

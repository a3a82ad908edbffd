"""Live views of a lab, drawn with plotly inside JupyterLab (ipywidgets 8 + anywidget).

Example::

    import labkit
    cluster = labkit.Cluster(shards=3, replicas=2).start()
    view = labkit.viz.TopologyView(cluster)
    view.watch(0.5)             # refreshes on a background thread
    ...
    view.stop()                 # or labkit.viz.stop_all(); it also stops when the cluster stops

Every view owns ONE plotly FigureWidget built once; `update(data)` is the only way in and changes
it in place inside `figure.batch_update()`. `show()` reads its source once and displays it;
`watch(interval)` displays it and refreshes it in the background until `stop()`. Views of one
topology watched at the same interval share one thread and one snapshot per tick.

Where widgets cannot render (GitHub, nbviewer, a static HTML or PDF export, a kernel-less viewer)
a view's output carries, besides the widget, a text/plain and a text/html summary of the same
data, so those viewers show that text instead of an error. `show(static=True)` displays only that
summary; `view.text()` returns it.

Views: TopologyView, SlotMap, Dashboard (from a topology); Timeline (a probe and a fault log);
StreamView (a stream and its consumer groups); Leaderboard, TimeSeriesChart, GeoScatter (notebook
data; GeoScatter needs no map tiles).
"""

from ._base import PALETTE, View, stop_all
from .dashboard import Dashboard
from .geo import GeoScatter
from .leaderboard import Leaderboard
from .slot_map import SlotMap
from .stream_view import StreamView
from .time_series import TimeSeriesChart
from .timeline import Timeline
from .topology_view import TopologyView

__all__ = [
    "PALETTE", "Dashboard", "GeoScatter", "Leaderboard", "SlotMap", "StreamView", "TimeSeriesChart", "Timeline",
    "TopologyView", "View", "stop_all",
]

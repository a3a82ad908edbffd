"""What every view shares: one widget built once, `update()`, `show()`, `watch()`/`stop()`, a static fallback."""

from __future__ import annotations

import html
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Self

from ..errors import ConfigurationError, TopologyStateError
from ..state import snapshot

#: Colours per shard (and per series), chosen to stay distinct for colour-blind readers.
PALETTE = (
    "#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB",
    "#332288", "#994F00", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499",
)
STATUS_COLOURS = {"up": "#2ca02c", "paused": "#ff9f1c", "down": "#d62728", "stopped": "#9e9e9e", "created": "#9e9e9e", "starting": "#9e9e9e"}
#: The fewest seconds between two refreshes of a watched view.
MIN_INTERVAL_S = 0.05
#: After a view is displayed, background refreshes wait until the browser has drawn it (it reports
#: back), or this many seconds where no browser is there to report (nbval, nbconvert).
RENDER_GRACE_S = 3.0
#: How many times a view that the browser drew empty is drawn again (see `View._check_drawn`).
MAX_REDRAWS = 2


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


class View:
    """A live view: ``update(data)`` is the only way in; ``show()`` draws once; ``watch()`` keeps it fresh.

    Subclasses build ``self.figure`` (a plotly FigureWidget or an ipywidget) once in ``_build()``,
    change it in place in ``_apply(data)`` (inside ``figure.batch_update()``), and say in ``_text(data)``
    what the static fallback shows where widgets cannot render.
    """

    #: What `watch()` shares a refresh thread by: views of the same topology read one snapshot per tick.
    _source: Any = None

    def _init_for_topology(self, topology: Any) -> None:
        """Initialise a view that reads snapshots of `topology` (or is fed by hand when it is None)."""
        if topology is None:
            View.__init__(self)
            return
        read, alive = topology_source(topology)
        self._source = topology
        View.__init__(self, read, alive)

    def __init__(self, read: Callable[[], Any] | None = None, alive: Callable[[], bool] | None = None) -> None:
        self._read = read
        self._alive = alive or (lambda: True)
        self._lock = threading.RLock()
        self._poller: _Poller | None = None
        self.last: Any = None
        self.updates = 0
        #: The last error a background refresh met (the thread keeps going; see `watch`).
        self.error: BaseException | None = None
        self._rendered = threading.Event()
        self._hold_until = 0.0
        self.figure = self._build()
        self._display_handle: Any = None
        self._redraws_left = MAX_REDRAWS
        if hasattr(self.figure, "observe"):
            # Plotly's front end answers a freshly drawn figure with its layout; updates sent while a view
            # is still being created can leave that view blank, so background refreshes wait for this.
            self.figure.observe(lambda _change: self._rendered.set(), names=["_js2py_layoutDelta"])
            self.figure.observe(self._check_drawn, names=["_js2py_traceDeltas"])

    # -- the one way in -------------------------------------------------------------------
    def update(self, data: Any) -> Self:
        """Draw `data` (a state snapshot, a probe, entries...): the figure changes in place."""
        with self._lock:
            self._apply(data)
            self.last = data
            self.updates += 1
        return self

    def refresh(self) -> Self:
        """Read the source now and draw it."""
        if self._read is None:
            raise ConfigurationError(
                f"this {type(self).__name__} has no source to read from; pass data to update() instead, "
                "or create it with a topology / client and key."
            )
        return self.update(self._read())

    # -- drawing ----------------------------------------------------------------------------
    def show(self, static: bool = False) -> None:
        """Read the source (if any), draw it, and display the view; `static=True` shows only the text fallback."""
        from IPython.display import display

        if self._read is not None:
            self.refresh()
        if static:
            display(_Static(self.text()))
        else:
            self._display_handle = display(self, display_id=True)

    def watch(self, interval: float = 0.5, display: bool = True) -> None:
        """Display the view and refresh it every `interval` seconds on a background thread until `stop()`.

        The thread also ends by itself when the topology (or client) it reads from stops.
        """
        if self._read is None:
            raise ConfigurationError(f"this {type(self).__name__} has no source to watch; create it with a topology, or client and key.")
        if not isinstance(interval, (int, float)) or interval < MIN_INTERVAL_S:
            raise ConfigurationError(f"interval must be at least {MIN_INTERVAL_S} seconds (got {interval!r}); 0.25 to 1 s suits a notebook.")
        if not self._alive():
            raise TopologyStateError(f"cannot watch: the lab this {type(self).__name__} reads from is not running; start it first.")
        self.stop()
        self.refresh()
        if display:
            from IPython.display import display as show_now

            self._rendered.clear()
            self._hold_until = time.monotonic() + RENDER_GRACE_S
            self._display_handle = show_now(self, display_id=True)
        _Poller.join(self, float(interval))

    def stop(self) -> Self:
        """Stop refreshing in the background (safe to call twice)."""
        poller = self._poller
        if poller is not None:
            poller.leave(self)
        return self

    def _check_drawn(self, change: dict) -> None:
        """Draw the output again when the browser drew this figure without its traces.

        With plotly 6-7 and anywidget, FigureWidgets displayed in quick succession are sometimes drawn
        from an empty model state (a blank plot, no error). The browser says so in its first report
        (trace deltas for no traces); replacing the output makes it draw a fresh view of the model.
        """
        report = change.get("new")
        if not isinstance(report, dict) or report.get("trace_deltas") != [] or not self.figure.data:
            return
        if self._display_handle is not None and self._redraws_left > 0:
            self._redraws_left -= 1
            self._display_handle.update(self)

    def ready_for_background_updates(self) -> bool:
        """Whether a background refresh may draw now (the browser drew the view, or it had time to)."""
        return self._rendered.is_set() or time.monotonic() >= self._hold_until

    # -- what the shared refresh thread uses (see _Poller) ----------------------------------------
    @property
    def poll_source(self) -> tuple[Any, Callable[[], Any], Callable[[], bool]]:
        """(what views share a refresh thread by, how to read it, whether it is still alive)."""
        assert self._read is not None
        return (self._source if self._source is not None else self), self._read, self._alive

    def attach_poller(self, poller: _Poller | None) -> None:
        """Called by the refresh thread that now keeps this view fresh (None: none does)."""
        self._poller = poller

    @property
    def watching(self) -> bool:
        return self._poller is not None

    # -- fallback where widgets cannot render ------------------------------------------------
    def text(self) -> str:
        """What the view shows, as text (the static fallback)."""
        with self._lock:
            if self.last is None:
                return f"{type(self).__name__}: nothing drawn yet (call show() or update())"
            return self._text(self.last)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        # JupyterLab with widgets renders the live widget; GitHub, nbviewer and static exports,
        # which cannot run widgets, fall back to the HTML/text summary of the same data.
        with self._lock:  # plotly copies the figure's state here: not while a background refresh changes it
            # _repr_mimebundle_ / _repr_html_ are IPython's display protocol, public despite the underscore.
            bundle = dict(self.figure._repr_mimebundle_(include=include, exclude=exclude) or {})
            static = _Static(self.text())
        bundle["text/plain"] = static.text
        bundle["text/html"] = static._repr_html_()
        return bundle

    def __repr__(self) -> str:
        return f"<{type(self).__name__} updates={self.updates}{' watching' if self.watching else ''}>"

    # -- for subclasses ---------------------------------------------------------------------
    def _build(self) -> Any:
        raise NotImplementedError

    def _apply(self, data: Any) -> None:
        raise NotImplementedError

    def _text(self, data: Any) -> str:
        return str(data)


class _Static:
    """Text shown where a widget cannot be: plain text, and the same as preformatted HTML."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f'<pre style="font-size: 12px; line-height: 1.3">{html.escape(self.text)}</pre>'


class _Poller:
    """One background thread per (source, interval): views of one topology share each snapshot."""

    _registry: dict[tuple[int, float], _Poller] = {}
    _registry_lock = threading.Lock()

    def __init__(self, key: tuple[int, float], read: Callable[[], Any], alive: Callable[[], bool], interval: float) -> None:
        self.key = key
        self.read = read
        self.alive = alive
        self.interval = interval
        self.views: weakref.WeakSet[View] = weakref.WeakSet()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"labkit-viz-{key[0]:x}-{interval}", daemon=True)
        self.ticks = 0
        #: Failed reads and draws so far, and the last one (each view also keeps its own in `view.error`).
        self.failures = 0
        self.last_error: BaseException | None = None

    @classmethod
    def join(cls, view: View, interval: float) -> None:
        source, read, alive = view.poll_source
        key = (id(source), interval)
        with cls._registry_lock:
            poller = cls._registry.get(key)
            if poller is None or poller.stopping.is_set():
                poller = cls._registry[key] = _Poller(key, read, alive, interval)
                poller.views.add(view)
                view.attach_poller(poller)
                poller.thread.start()
            else:
                poller.views.add(view)
                view.attach_poller(poller)

    def leave(self, view: View) -> None:
        with self._registry_lock:
            self.views.discard(view)
            view.attach_poller(None)
            last = not self.views
            if last:
                self.retire()
        if last and threading.current_thread() is not self.thread:
            self.thread.join(timeout=5)

    def retire(self) -> None:
        """Leave the registry and let the thread end (call with the registry lock held)."""
        self.stopping.set()
        if self._registry.get(self.key) is self:
            del self._registry[self.key]

    def _run(self) -> None:
        failures = 0  # in a row; `self.failures` counts them all
        while not self.stopping.is_set():
            started = time.monotonic()
            if not self.alive():
                break
            try:
                data = self.read()
                failures = 0
            except Exception as error:  # noqa: BLE001 - the source went away mid-read, or a server hiccup: kept below
                failures += 1
                self.failures += 1
                self.last_error = error
                for view in list(self.views):
                    view.error = error
                if failures >= 3:
                    break
                data = None
            if data is not None:
                for view in list(self.views):
                    if not view.ready_for_background_updates():
                        continue  # its browser view is still being created; the next tick brings it up to date
                    try:
                        view.update(data)
                    except Exception as error:  # noqa: BLE001 - one broken view must not stop the others; kept on it
                        view.error = error
                        self.failures += 1
                        self.last_error = error
            self.ticks += 1
            self.stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))
        with self._registry_lock:
            for view in list(self.views):
                view.attach_poller(None)
            self.views = weakref.WeakSet()
            self.retire()


def stop_all() -> int:
    """Stop every view's background refresh in this process; returns how many threads stopped."""
    with _Poller._registry_lock:
        pollers = list(_Poller._registry.values())
        for poller in pollers:
            for view in list(poller.views):
                view.attach_poller(None)
            poller.retire()
    for poller in pollers:
        if poller.thread is not threading.current_thread():
            poller.thread.join(timeout=5)
    return len(pollers)


def topology_source(topology: Any) -> tuple[Callable[[], Any], Callable[[], bool]]:
    """A topology's snapshot reader and liveness test, after checking it is one."""
    if not hasattr(topology, "nodes") or not hasattr(topology, "lifecycle"):
        raise ConfigurationError(f"expected a labkit topology (Standalone, ReplicationGroup or Cluster); got {topology!r}.")
    return (lambda: snapshot(topology)), (lambda: str(topology.lifecycle) == "running")

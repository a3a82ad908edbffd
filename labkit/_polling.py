"""Polling with a deadline, and background threads that keep their errors where they can be read.

Only transient errors are retried while polling: a node that refuses connections, times out, is
loading its data set or has not got its users back yet. Anything else (a TypeError, a wrong
argument) is a bug or a mistake and is raised at once instead of turning into a timeout.

Example::

    wait_until(lambda: client.ping(), 5.0)                      # True, or False after 5 s
    wait_until(ready, 5.0, on_timeout=lambda last: FailoverError(f"not ready after 5 s{last}"))
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis

#: Replies a server gives while it is still starting, syncing or electing; worth asking again.
TRANSIENT_REPLY_PREFIXES = ("LOADING", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "NOREPLICAS")


def is_transient(error: BaseException) -> bool:
    """Whether an error may go away by itself when asked again a few milliseconds later.

    Example::

        is_transient(redis.ConnectionError("refused"))   # True
        is_transient(TypeError("bad"))                   # False
    """
    # ConnectionError covers refused connections and, during a restart, a node that does not have
    # labkit's admin user back yet (AuthenticationError is one of its subclasses).
    if isinstance(error, (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, ConnectionError, TimeoutError)):
        return True
    return isinstance(error, redis.ResponseError) and str(error).startswith(TRANSIENT_REPLY_PREFIXES)


def wait_until(
    condition: Callable[[], object],
    timeout: float,
    interval: float = 0.01,
    *,
    on_timeout: Callable[[str], BaseException] | None = None,
) -> bool:
    """Poll `condition()` every `interval` s until it is true (True) or `timeout` passes (False).

    Transient errors count as "not yet"; any other error is raised at once. With `on_timeout`,
    a timeout raises `on_timeout(last)` instead of returning False, where `last` is "" or
    "; last error: ..." (the last transient error seen), ready to end a message.

    Example::

        wait_until(lambda: node.client().ping(), 5.0)
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            if condition():
                return True
        except Exception as error:  # noqa: BLE001 - filtered just below: only transient errors are retried
            if not is_transient(error):
                raise
            last_error = error
        if time.monotonic() > deadline:
            if on_timeout is not None:
                raise on_timeout(f"; last error: {last_error}" if last_error is not None else "")
            return False
        time.sleep(interval)


class BackgroundThread:
    """A daemon thread that calls `step()` every `interval` s until `stop()`, owned by a monitor.

    A failing step does not end the thread (a monitor must outlive one bad poll), but it is not
    hidden either: `failures` counts failed steps, `last_error` keeps the latest one.

    Example::

        watcher = BackgroundThread("labkit-watcher", cluster.sync_roles, 0.1).start()
        ...
        watcher.failures, watcher.last_error
        watcher.stop()
    """

    def __init__(self, name: str, step: Callable[[], object], interval: float) -> None:
        self.name = name
        self.interval = interval
        self.failures = 0
        self.last_error: BaseException | None = None
        self._step = step
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> BackgroundThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception as error:  # noqa: BLE001 - recorded for the owner, see failures/last_error
                self.failures += 1
                self.last_error = error
            self._stopping.wait(self.interval)

    def stop(self, wait: bool = True) -> None:
        """Ask the thread to end after its current step; `wait` (unless called from the thread itself) waits for that."""
        self._stopping.set()
        if wait and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5.0)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def __repr__(self) -> str:
        state = "running" if self.alive else "stopped"
        return f"<BackgroundThread {self.name} {state} failures={self.failures} last_error={self.last_error!r}>"

"""A network link with latency between two labs, like the link between two AWS Regions.

`Link` is a small TCP proxy on 127.0.0.1: whatever connects to `link.port` reaches the target port,
with every chunk of bytes held back `latency_ms` in each direction (the one-way delay; a round trip
costs twice that). `cut()` drops every connection through it and refuses new ones, like a lost
inter-Region link; `restore()` lets traffic through again. The target may be an endpoint (`group.primary_endpoint`):
each new connection then goes wherever it points, so the link follows the far side's failovers. Given
`targets` (a function returning ports), each new connection goes to the first of those ports that
accepts it: a stable address in front of changing nodes (what a cluster's configuration endpoint is made of).

Example::

    with labkit.Link(target_port=group.primary().port, latency_ms=40) as link:
        far = redis.Redis(port=link.port)
        far.ping()                  # about 80 ms: 40 ms there, 40 ms back
        with link.cut_for():        # the link is down inside the block
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, Self, runtime_checkable

from .errors import ConfigurationError, LabkitError, TopologyStateError
from .ports import reserve_ports


@runtime_checkable
class MovingTarget(Protocol):
    """Anything whose `port` says where to go now: a labkit endpoint (`group.primary_endpoint`)."""

    @property
    def port(self) -> int: ...

__all__ = ["Link", "LinkStats"]

_CHUNK = 65536


@dataclass(frozen=True)
class LinkStats:
    """What went through a link: connections made, bytes each way, times it was cut."""

    connections: int
    bytes_to_target: int
    bytes_from_target: int
    cuts: int
    last_error: str | None


class Link:
    """A TCP proxy on 127.0.0.1 that delays traffic by `latency_ms` each way and can be cut.

    `target_port` is a port, or an endpoint (e.g. `group.primary_endpoint`) that each new
    connection resolves, so the link follows a failover on the far side.

    `targets` (optional): called for each new connection, the ports to try in order; the first that
    accepts the connection gets it and becomes `target_port`. It runs on the link's event loop, so it
    must return at once (read a lab's node statuses, never ask a server).
    """

    def __init__(
        self, target_port: int | MovingTarget, latency_ms: float = 0.0, *, target_host: str = "127.0.0.1", name: str = "link",
        targets: Callable[[], Sequence[int]] | None = None,
    ) -> None:
        if not isinstance(target_port, (bool, int)) and isinstance(target_port, MovingTarget):
            self.target_endpoint: MovingTarget | None = target_port
            self._target_port = 0
        elif isinstance(target_port, bool) or not isinstance(target_port, int) or not 0 < target_port < 65536:
            raise ConfigurationError(
                f"target_port must be a TCP port number or an endpoint (got {target_port!r}): pass e.g. group.primary().port"
            )
        else:
            self.target_endpoint, self._target_port = None, target_port
        if target_host not in ("127.0.0.1", "localhost"):
            raise ConfigurationError(f"a Link only joins labs on this machine; target_host must be 127.0.0.1 (got {target_host!r})")
        if targets is not None and not callable(targets):
            raise ConfigurationError(f"targets must be a function returning ports to try (got {targets!r})")
        self.target_host = "127.0.0.1"
        self._targets = targets
        self.name = name
        self.latency_ms = latency_ms
        self._reservation = None
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._is_cut = False
        self._lock = threading.Lock()
        self._connections = 0
        self._bytes = [0, 0]
        self._cuts = 0
        self._last_error: str | None = None

    # -- settings ----------------------------------------------------------------------------
    @property
    def target_port(self) -> int:
        """Where a new connection through the link goes now (an endpoint target is resolved each time;
        with `targets`, the port the last new connection reached)."""
        return self.target_endpoint.port if self.target_endpoint is not None else self._target_port

    @property
    def latency_ms(self) -> float:
        """The one-way delay added to every chunk, in milliseconds (settable while running)."""
        return self._latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10_000:
            raise ConfigurationError(f"latency_ms must be a number from 0 to 10000 (got {value!r}); e.g. 40 for a cross-Region link")
        self._latency_ms = float(value)

    @property
    def is_cut(self) -> bool:
        return self._is_cut

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> LinkStats:
        """Connections and bytes so far, how often the link was cut, and the last error a connection met."""
        with self._lock:
            return LinkStats(self._connections, self._bytes[0], self._bytes[1], self._cuts, self._last_error)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Self:
        """Listen on a free port (`self.port`) and forward to the target."""
        if self.running:
            raise TopologyStateError(f"{self.name} is already running on port {self.port}; stop() it first")
        self._reservation = reserve_ports(1)
        self.port = self._reservation.numbers[0]
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True))
            except OSError as error:
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=serve, name=f"labkit-{self.name}", daemon=True)
        self._thread.start()
        ready.wait(5)
        if failure or not ready.is_set():
            self._release()
            raise LabkitError(f"{self.name} could not listen on 127.0.0.1:{self.port}: {failure[0] if failure else 'timed out'}; try again")
        return self

    def stop(self) -> Self:
        """Close every connection and stop listening (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            async def shutdown() -> None:
                if self._server is not None:
                    self._server.close()
                self._drop_all()
                # Let the connections' tasks see their aborted transports and end here, or the closed loop
                # reports them as destroyed while pending (cancelling them instead makes asyncio log errors).
                tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
                if tasks:
                    _done, pending = await asyncio.wait(tasks, timeout=1.0)
                    for task in pending:
                        task.cancel()

            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
        self._thread = self._loop = self._server = None
        self._release()
        return self

    def _release(self) -> None:
        if self._reservation is not None:
            self._reservation.release()
            self._reservation = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------------------------
    def cut(self) -> None:
        """Drop every connection through the link and refuse new ones until `restore()`."""
        self._require_running()
        with self._lock:
            self._is_cut = True
            self._cuts += 1
        asyncio.run_coroutine_threadsafe(self._drop_all_async(), self._loop).result(5)

    def restore(self) -> None:
        """Let connections through again (clients reconnect by themselves)."""
        self._require_running()
        self._is_cut = False

    @contextlib.contextmanager
    def cut_for(self) -> Iterator[Self]:
        """The link is cut inside the block and restored after it, even on error."""
        self.cut()
        try:
            yield self
        finally:
            self.restore()

    def _require_running(self) -> None:
        if not self.running or self._loop is None:
            raise TopologyStateError(f"{self.name} is not running: start() it (or use `with Link(...)`) first")

    # -- the proxy (runs on the link's own event loop) -----------------------------------------
    async def _drop_all_async(self) -> None:
        self._drop_all()

    def _drop_all(self) -> None:
        for client_writer, target_writer in list(self._pairs):
            for writer in (client_writer, target_writer):
                with contextlib.suppress(Exception):
                    writer.transport.abort()
        self._pairs.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._is_cut:
            client_writer.transport.abort()
            return
        opened = await self._open_target()
        if opened is None:
            client_writer.transport.abort()
            return
        target_reader, target_writer = opened
        pair = (client_writer, target_writer)
        self._pairs.add(pair)
        with self._lock:
            self._connections += 1
        try:
            await asyncio.gather(self._pipe(client_reader, target_writer, 0), self._pipe(target_reader, client_writer, 1))
        finally:
            self._pairs.discard(pair)
            for writer in pair:
                with contextlib.suppress(Exception):
                    writer.transport.abort()

    async def _open_target(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection to the target (with `targets`: to the first port that accepts), or None."""
        try:
            ports = [self.target_port] if self._targets is None else list(self._targets())
        except Exception as error:  # noqa: BLE001 - a failing chooser is recorded and refuses the connection
            self._note(error)
            return None
        for port in ports:
            try:
                opened = await asyncio.open_connection(self.target_host, port)
            except OSError as error:
                self._note(error)
                continue
            self._target_port = port
            return opened
        if not ports:
            self._note(ConnectionRefusedError("no target to forward to"))
        return None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: int) -> None:
        """Read chunks as they come and write each one `latency_ms` after it arrived, in order."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(_CHUNK)
                await queue.put((loop.time() + self._latency_ms / 1000, data))
                if not data:
                    break
                with self._lock:
                    self._bytes[direction] += len(data)
            await sender
        except (ConnectionError, OSError) as error:
            self._note(error)
        finally:
            sender.cancel()
            with contextlib.suppress(Exception):
                writer.transport.abort()

    def _note(self, error: BaseException) -> None:
        with self._lock:
            self._last_error = f"{time.strftime('%H:%M:%S')} {type(error).__name__}: {error}"

    def __repr__(self) -> str:
        state = "cut" if self._is_cut else ("running" if self.running else "stopped")
        return f"<Link {self.name} 127.0.0.1:{self.port} -> {self.target_port}, {self._latency_ms:g} ms one way, {state}>"

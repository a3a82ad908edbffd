"""Endpoints that follow failover the way ElastiCache's DNS names do.

A replication group has a **primary endpoint** (always the current primary) and a **reader
endpoint** (reads spread over the replicas). A client made from an endpoint resolves the
address each time it connects, and checks it each time it takes a connection from its pool,
so after a failover it reaches the new primary without the learner changing any address.
Like DNS, an endpoint can take a while to point at the new node (`propagation_delay_s`):
during that time clients still reach the old one and see errors.

Example::

    with labkit.ReplicationGroup(replicas=2) as group:
        writer = group.primary_endpoint.client()
        reader = group.reader_endpoint.client()
        writer.set("k", "v")
        group.kill(group.primary())
        ...                                  # about 1 s later
        writer.set("k", "still works")       # same client, new primary
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import redis

Address = tuple[str, int]


class Endpoint:
    """A stable name for a changing set of nodes; `address` is where it points right now."""

    kind = "endpoint"

    def __init__(self, name: str, addresses: list[Address], propagation_delay_s: float = 0.0) -> None:
        self.name = name
        self.propagation_delay_s = float(propagation_delay_s)
        self._lock = threading.Lock()
        self._current: list[Address] = list(addresses)
        self._pending: tuple[float, list[Address]] | None = None
        self._rotation = itertools.count()
        #: (time.time(), addresses) every time the endpoint started pointing somewhere new.
        self.history: list[tuple[float, tuple[Address, ...]]] = [(time.time(), tuple(addresses))]

    # -- where it points ----------------------------------------------------------------------
    def _apply_pending(self) -> None:
        if self._pending is not None and time.monotonic() >= self._pending[0]:
            self._current = self._pending[1]
            self._pending = None
            self.history.append((time.time(), tuple(self._current)))

    @property
    def addresses(self) -> list[Address]:
        """Every address the endpoint resolves to now (one for a primary endpoint)."""
        with self._lock:
            self._apply_pending()
            return list(self._current)

    @property
    def target(self) -> list[Address]:
        """Where the endpoint points, or will point once a pending move has propagated."""
        with self._lock:
            self._apply_pending()
            return list(self._pending[1] if self._pending else self._current)

    @property
    def address(self) -> Address:
        """The address a new connection would use now (for a reader endpoint: the next replica)."""
        with self._lock:
            self._apply_pending()
            if not self._current:
                return ("127.0.0.1", 0)  # nothing behind the name: connecting fails, as with a DNS name with no record
            return self._current[next(self._rotation) % len(self._current)]

    @property
    def port(self) -> int:
        return self.address[1]

    def point_to(self, addresses: list[Address]) -> None:
        """Move the endpoint (labkit calls this on failover); takes `propagation_delay_s` to show."""
        with self._lock:
            self._apply_pending()
            if self.propagation_delay_s > 0:
                self._pending = (time.monotonic() + self.propagation_delay_s, list(addresses))
            else:
                self._current = list(addresses)
                self._pending = None
                self.history.append((time.time(), tuple(addresses)))

    def resolve_for(self, port: int | None) -> Address:
        """Address for a (re)connecting connection: keep `port` if it is still behind the name."""
        with self._lock:
            self._apply_pending()
            if port is not None and any(candidate[1] == port for candidate in self._current):
                return next(candidate for candidate in self._current if candidate[1] == port)
        return self.address

    # -- clients ---------------------------------------------------------------------------------
    def client(self, *, decode_responses: bool = True, **kwargs: Any) -> redis.Redis:
        """A redis-py client that always talks to whatever this endpoint points at.

        Example::

            client = group.primary_endpoint.client()
            client.set("k", "v")
        """
        options: dict[str, Any] = {"socket_connect_timeout": 1.0, "socket_timeout": 2.0, **kwargs}
        pool = EndpointConnectionPool(endpoint=self, decode_responses=decode_responses, **options)
        return redis.Redis(connection_pool=pool)

    def __repr__(self) -> str:
        where = ", ".join(f"{host}:{port}" for host, port in self.addresses) or "nothing"
        return f"<{type(self).__name__} {self.name} -> {where}>"

    def __str__(self) -> str:
        return self.name


class PrimaryEndpoint(Endpoint):
    """Always the current primary: use it for writes (and reads that must be fresh)."""

    kind = "primary"


class ReaderEndpoint(Endpoint):
    """Every replica: each command of a client made from it goes to the next replica in turn."""

    kind = "reader"


class EndpointConnection(redis.Connection):
    """A connection that asks its endpoint where to go each time it (re)connects."""

    def __init__(self, *args: Any, endpoint: Endpoint, **kwargs: Any) -> None:
        self.endpoint = endpoint
        self.pinned: Address | None = None  # set by the pool to reach one chosen replica
        kwargs["host"], kwargs["port"] = endpoint.address
        super().__init__(*args, **kwargs)

    def _connect(self):
        if self.pinned is not None:
            (self.host, self.port), self.pinned = self.pinned, None
        else:
            self.host, self.port = self.endpoint.resolve_for(self.port)
        return super()._connect()


class EndpointConnectionPool(redis.ConnectionPool):
    """A pool whose connections follow the endpoint: one that points elsewhere is reconnected."""

    def __init__(self, endpoint: Endpoint, **kwargs: Any) -> None:
        self.endpoint = endpoint
        super().__init__(connection_class=EndpointConnection, endpoint=endpoint, **kwargs)

    def get_connection(self, command_name=None, *keys, **options):
        if isinstance(self.endpoint, ReaderEndpoint):
            wanted = self.endpoint.address
            with self._lock:
                # Prefer an idle connection to the chosen replica: reads rotate without reconnecting.
                for index in range(len(self._available_connections) - 1, -1, -1):
                    if self._available_connections[index].port == wanted[1]:
                        self._available_connections.append(self._available_connections.pop(index))
                        break
        else:
            wanted = self.endpoint.resolve_for(None)
        connection = super().get_connection()
        if (connection.host, connection.port) != wanted:
            try:
                connection.disconnect()
                connection.pinned = wanted
                connection.connect()
            except BaseException:
                self.release(connection)
                raise
        return connection

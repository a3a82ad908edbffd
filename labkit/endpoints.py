"""Endpoints that behave like ElastiCache's: stable names for nodes that change.

- **Primary endpoint** (`group.primary_endpoint`): always the current primary, so a client made
  from it follows a failover without a new address.
- **Reader endpoint** (`group.reader_endpoint`): like ElastiCache's, a DNS name that resolves to one
  of the replicas in turn. It spreads *connections*, not commands: a connection stays on the replica
  it reached until it reconnects, so reads spread only as widely as the application's connections.
  When the group has no replica left, it resolves to the primary. `client(az="az-b")` prefers the
  replicas in that AZ (as an AZ-aware client such as Valkey GLIDE does) and falls back to the others.
- **Configuration endpoint** (`cluster.configuration_endpoint`): one stable `host:port` in front of a
  cluster. A small TCP proxy (labkit.Link) forwards each new connection to a live node; a cluster
  client starts there, reads the slot map (CLUSTER SLOTS) and then talks to the nodes directly. A
  stock `redis.RedisCluster(host=..., port=...)` works with it.

A client made from a primary or reader endpoint resolves the name each time it connects, and checks
each time it takes a connection from its pool that the node is still behind the name (a connection to
a node that left it is reconnected). Like DNS, an endpoint can take a while to point at the new node
(`propagation_delay_s`): during that time clients still reach the old one and see errors. Endpoint
clients connect with the lab's TLS settings and labkit's credentials (when the lab has users).

Example::

    with labkit.ReplicationGroup(replicas=2) as group:
        writer = group.primary_endpoint.client()
        reader = group.reader_endpoint.client(az="az-b")   # a replica in az-b, if there is one
        writer.set("k", "v")
        group.kill(group.primary())
        ...                                  # about 1 s later
        writer.set("k", "still works")       # same client, new primary
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from .errors import ConfigurationError, TopologyStateError
from .link import Link

__all__ = [
    "ConfigurationEndpoint", "Endpoint", "EndpointConnection", "EndpointConnectionPool", "EndpointSSLConnection",
    "PrimaryEndpoint", "ReaderEndpoint",
]

Address = tuple[str, int]
#: Returns the keyword arguments every client of a lab needs: TLS options, labkit's credentials.
ConnectionOptions = Callable[[], Mapping[str, Any]]
HOST = "127.0.0.1"


def _no_options() -> Mapping[str, Any]:
    return {}


def _client_options(lab_options: Mapping[str, Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The lab's options (TLS, credentials) under the caller's: naming a user or a password
    replaces labkit's credentials, so `client(username="app", password=...)` logs in as `app`."""
    options = dict(lab_options)
    if "username" in kwargs or "password" in kwargs:
        options.pop("username", None)
        options.pop("password", None)
    return {**options, **kwargs}


class Endpoint:
    """A stable name for a changing set of nodes; `addresses` is where it points right now.

    Example::

        endpoint = group.reader_endpoint
        endpoint.addresses        # [('127.0.0.1', 7001), ('127.0.0.1', 7002)]
        endpoint.zone_of(endpoint.addresses[0])   # 'az-b'
    """

    kind = "endpoint"

    def __init__(
        self,
        name: str,
        addresses: Sequence[Address],
        propagation_delay_s: float = 0.0,
        *,
        zones: Mapping[Address, str | None] | None = None,
        azs: Sequence[str] = (),
        connection_options: ConnectionOptions | None = None,
    ) -> None:
        self.name = name
        self.propagation_delay_s = float(propagation_delay_s)
        #: The lab's AZs (a client's `az=` must be one of them; empty: any).
        self.azs = tuple(azs)
        self._lock = threading.Lock()
        self._current: list[Address] = list(addresses)
        self._zones: dict[Address, str | None] = dict(zones or {})
        self._pending: tuple[float, list[Address], dict[Address, str | None]] | None = None
        self._rotation = itertools.count()
        self._connection_options = connection_options or _no_options
        #: (time.time(), addresses) every time the endpoint started pointing somewhere new.
        self.history: list[tuple[float, tuple[Address, ...]]] = [(time.time(), tuple(addresses))]

    # -- where it points ----------------------------------------------------------------------
    def _apply_pending(self) -> None:
        if self._pending is not None and time.monotonic() >= self._pending[0]:
            _due, self._current, zones = self._pending
            self._zones.update(zones)
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

    def zone_of(self, address: Address) -> str | None:
        """The AZ of the node at `address` (None when the endpoint does not know it)."""
        with self._lock:
            return self._zones.get(tuple(address))

    def resolve(self, az: str | None = None) -> Address:
        """One lookup of the name: the address a new connection uses now. Successive lookups take
        the addresses in turn (round robin); with `az`, only those in that AZ while there are any.

        Example::

            group.reader_endpoint.resolve(), group.reader_endpoint.resolve()   # two different replicas
        """
        with self._lock:
            self._apply_pending()
            candidates = self._current
            if az is not None:
                candidates = [address for address in self._current if self._zones.get(address) == az] or candidates
            if not candidates:
                return (HOST, 0)  # nothing behind the name: connecting fails, as with a DNS name with no record
            return candidates[next(self._rotation) % len(candidates)]

    @property
    def address(self) -> Address:
        """The address a new connection would use now (one lookup: for a reader endpoint, the next replica)."""
        return self.resolve()

    @property
    def port(self) -> int:
        return self.address[1]

    def serves(self, address: Address, az: str | None = None) -> bool:
        """Whether a connection to `address` may stay: the name still leads there (and, for a client
        that prefers `az`, it is in that AZ or no node behind the name is)."""
        with self._lock:
            self._apply_pending()
            address = tuple(address)
            if address not in self._current:
                return False
            if az is None or self._zones.get(address) == az:
                return True
            return not any(self._zones.get(other) == az for other in self._current)

    def point_to(self, addresses: Sequence[Address], zones: Mapping[Address, str | None] | None = None) -> None:
        """Move the endpoint (labkit calls this on failover); takes `propagation_delay_s` to show.
        `zones` gives the AZ of each address (kept from before when omitted)."""
        addresses = [tuple(address) for address in addresses]
        zones = dict(zones or {})
        with self._lock:
            self._apply_pending()
            if self.propagation_delay_s > 0:
                self._pending = (time.monotonic() + self.propagation_delay_s, addresses, zones)
            else:
                self._current = addresses
                self._zones.update(zones)
                self._pending = None
                self.history.append((time.time(), tuple(addresses)))

    # -- clients ---------------------------------------------------------------------------------
    def check_az(self, az: str | None) -> None:
        """Raise ConfigurationError unless `az` is None or one of the lab's AZs."""
        if az is None:
            return
        if not isinstance(az, str) or (self.azs and az not in self.azs):
            known = ", ".join(self.azs) or "the AZs of the lab's nodes"
            raise ConfigurationError(f"az must be one of the lab's AZs ({known}); got {az!r}.")

    def client(self, *, az: str | None = None, decode_responses: bool = True, **kwargs: Any) -> redis.Redis:
        """A redis-py client whose connections go wherever this endpoint points when they connect.

        With the lab's TLS settings and labkit's credentials unless you pass your own
        (`username=`, `password=`). `az` prefers the nodes in that AZ (see ReaderEndpoint).

        Example::

            client = group.primary_endpoint.client()
            client.set("k", "v")
        """
        self.check_az(az)
        options: dict[str, Any] = {
            "socket_connect_timeout": 1.0, "socket_timeout": 2.0,
            # A connection whose node died reconnects (to wherever the name leads now) and retries, briefly.
            "retry": Retry(ExponentialBackoff(cap=0.05, base=0.01), 2),
            **_client_options(self._connection_options(), kwargs),
        }
        pool = EndpointConnectionPool(endpoint=self, az=az, decode_responses=decode_responses, **options)
        return redis.Redis(connection_pool=pool)

    def __repr__(self) -> str:
        where = ", ".join(f"{host}:{port}" for host, port in self.addresses) or "nothing"
        return f"<{type(self).__name__} {self.name} -> {where}>"

    def __str__(self) -> str:
        return self.name


class PrimaryEndpoint(Endpoint):
    """Always the current primary: use it for writes (and reads that must be fresh)."""

    kind = "primary"

    def client(self, *, az: str | None = None, decode_responses: bool = True, **kwargs: Any) -> redis.Redis:
        if az is not None:
            raise ConfigurationError("the primary endpoint leads to one node, the primary; az= chooses among replicas: use group.reader_endpoint.client(az=...).")
        return super().client(decode_responses=decode_responses, **kwargs)


class ReaderEndpoint(Endpoint):
    """The replicas (the primary when there is none): each new connection reaches the next one in
    turn and stays there until it reconnects, as with ElastiCache's reader endpoint (a DNS name,
    not a load balancer). Many connections spread over the replicas; one connection does not.

    Example::

        reader = group.reader_endpoint.client()            # its connection stays on one replica
        local = group.reader_endpoint.client(az="az-b")    # a replica in az-b while there is one
    """

    kind = "reader"


class _FollowsEndpoint:
    """Mixed into a redis-py connection: each (re)connect asks the endpoint where to go."""

    def __init__(self, *args: Any, endpoint: Endpoint, az: str | None = None, **kwargs: Any) -> None:
        self.endpoint = endpoint
        self.az = az
        kwargs.setdefault("host", HOST)
        kwargs.setdefault("port", 0)  # chosen at connect time
        super().__init__(*args, **kwargs)

    def _connect(self):
        self.host, self.port = self.endpoint.resolve(self.az)
        return super()._connect()


class EndpointConnection(_FollowsEndpoint, redis.Connection):
    """A connection that asks its endpoint where to go each time it (re)connects."""


class EndpointSSLConnection(_FollowsEndpoint, redis.SSLConnection):
    """The same over TLS (a lab started with tls=True)."""


class EndpointConnectionPool(redis.ConnectionPool):
    """A pool whose connections follow the endpoint: a connection to a node that is no longer
    behind the name (or, for a client that prefers an AZ, outside it while a node there is back)
    is reconnected when it is next taken from the pool."""

    def __init__(self, endpoint: Endpoint, az: str | None = None, **kwargs: Any) -> None:
        self.endpoint = endpoint
        self.az = az
        connection_class = EndpointSSLConnection if kwargs.pop("ssl", False) else EndpointConnection
        super().__init__(connection_class=connection_class, endpoint=endpoint, az=az, **kwargs)

    def get_connection(self, command_name=None, *keys, **options):
        connection = super().get_connection()
        if not self.endpoint.serves((connection.host, connection.port), self.az):
            try:
                connection.disconnect()
                connection.connect()
            except BaseException:
                self.release(connection)
                raise
        return connection


class ConfigurationEndpoint:
    """One stable address for a cluster client to start from, like ElastiCache's configuration endpoint.

    A TCP proxy (labkit.Link) listens on `port` and forwards each new connection to a live node,
    the same node while it lives. A cluster client asks that node for the slot map (CLUSTER SLOTS),
    then talks to the nodes directly; when the node dies, the next connection reaches another one.
    It lives in this Python process (the kernel) and stops with the cluster.

    Example::

        endpoint = cluster.configuration_endpoint
        rc = endpoint.client()                                        # labkit's RedisCluster
        stock = redis.RedisCluster(host=endpoint.host, port=endpoint.port, decode_responses=True)
    """

    kind = "configuration"
    host = HOST

    def __init__(
        self,
        name: str,
        nodes: Callable[[], Sequence[Address]],
        *,
        connection_options: ConnectionOptions | None = None,
        client_class: type[RedisCluster] = RedisCluster,
    ) -> None:
        self.name = name
        self._nodes = nodes
        self._connection_options = connection_options or _no_options
        self.client_class = client_class
        self._link: Link | None = None

    def start(self) -> Self:
        """Listen on a free port that forwards to a live node; returns the endpoint."""
        if self._link is not None:
            raise TopologyStateError(f"{self.name} is already listening on port {self.port}.")
        first = self._ordered_ports()
        if not first:
            raise TopologyStateError(f"{self.name}: no node of the cluster is up to forward to; restart one first.")
        self._link = Link(first[0], name=self.name, targets=self._ordered_ports).start()
        return self

    def stop(self) -> Self:
        """Stop listening and drop the connections through it (safe to call twice)."""
        if self._link is not None:
            self._link.stop()
            self._link = None
        return self

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _ordered_ports(self) -> list[int]:
        # Called by the link for each new connection: the node it reached last stays first while it lives.
        live = [port for _host, port in self._nodes()]
        current = self._link.target_port if self._link is not None else None
        return ([current] if current in live else []) + [port for port in live if port != current]

    @property
    def running(self) -> bool:
        return self._link is not None and self._link.running

    @property
    def port(self) -> int:
        """The endpoint's port on 127.0.0.1: it stays the same while nodes come and go."""
        if self._link is None or self._link.port is None:
            raise TopologyStateError(f"{self.name} is not listening; the cluster must be running.")
        return self._link.port

    @property
    def address(self) -> Address:
        return (self.host, self.port)

    @property
    def target(self) -> Address | None:
        """The node a new connection reaches now (None when no node is up)."""
        ports = self._ordered_ports()
        return (HOST, ports[0]) if ports else None

    def client(self, *, decode_responses: bool = True, **kwargs: Any) -> RedisCluster:
        """A cluster client (redis-py's RedisCluster) that starts from this endpoint, with the lab's
        TLS settings and labkit's credentials unless you pass your own.

        `dynamic_startup_nodes=False` keeps the endpoint as the place it rediscovers the slot map
        from (redis-py's advice for a DNS name in front of changing nodes).

        Example::

            rc = cluster.configuration_endpoint.client()
            rc.set("user:1", "Ada")
        """
        options: dict[str, Any] = {
            "socket_connect_timeout": 1.0, "socket_timeout": 5.0, "dynamic_startup_nodes": False,
            **_client_options(self._connection_options(), kwargs),
        }
        return self.client_class(host=self.host, port=self.port, decode_responses=decode_responses, **options)

    def __repr__(self) -> str:
        if self._link is None:
            return f"<ConfigurationEndpoint {self.name} (not listening)>"
        target = self.target
        return f"<ConfigurationEndpoint {self.name} 127.0.0.1:{self.port} -> {f'port {target[1]}' if target else 'no live node'}>"

    def __str__(self) -> str:
        return self.name

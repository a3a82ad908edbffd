"""One server process: its argv from a frozen config, its files, readiness, and signals.

Example::

    node = Node(NodeConfig(port=14000, datadir=Path("/tmp/lab/14000")), engine=find_engine())
    node.start()          # launches valkey-server and polls PING every few ms
    node.client().set("greeting", "hello")
    node.stop()
"""

from __future__ import annotations

import enum
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from .engine import Engine
from .errors import NodeStartError, TopologyStateError
from .reaper import Watchdog, is_our_server
from .tls import TlsFiles

READY_POLL_INTERVAL_S = 0.005
DEFAULT_START_TIMEOUT_S = 10.0


class Role(str, enum.Enum):
    PRIMARY = "primary"
    REPLICA = "replica"

    def __str__(self) -> str:
        return self.value


class NodeStatus(str, enum.Enum):
    """What labkit knows about a node's process."""

    CREATED = "created"
    STARTING = "starting"
    UP = "up"
    PAUSED = "paused"  # SIGSTOP: holds its port but answers nothing
    DOWN = "down"  # killed or crashed
    STOPPED = "stopped"  # stopped on purpose

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class NodeConfig:
    """Everything that decides a node's command line."""

    port: int
    datadir: Path
    az: str | None = None
    cluster: bool = False
    node_timeout_ms: int = 1000
    replica_of: int | None = None  # primary's port (replication groups)
    settings: tuple[tuple[str, str], ...] = ()  # extra `--name value` directives
    tls: TlsFiles | None = None  # encryption in transit: TLS only, on the same port number

    def argv(self, engine: Engine) -> list[str]:
        listen = ["--port", str(self.port)]
        if self.tls is not None:
            # TLS only: the plain-text port is closed and the TLS port takes the node's number.
            listen = ["--port", "0", "--tls-port", str(self.port), *self.tls.server_args(),
                      "--tls-auth-clients", "optional", "--tls-replication", "yes"]
            if self.cluster:
                listen += ["--tls-cluster", "yes"]
        args = [
            str(engine.path),
            *listen,
            "--bind", "127.0.0.1",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--dir", str(self.datadir),
            "--save", "",
            "--appendonly", "no",
            # Replicas sync straight away instead of waiting 5 s for more replicas to join.
            "--repl-diskless-sync", "yes",
            "--repl-diskless-sync-delay", "0",
            "--repl-diskless-load", "on-empty-db",
            # Stopping a lab must not wait for lagging replicas or write a snapshot.
            "--shutdown-on-sigterm", "nosave", "now",
            "--enable-debug-command", "local",
        ]
        if self.az and engine.supports_availability_zone:
            args += ["--availability-zone", self.az]
        if self.cluster:
            args += [
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(self.node_timeout_ms),
                # ElastiCache's default: a shard that lost all its nodes does not stop the others.
                "--cluster-require-full-coverage", "no",
            ]
            if engine.supports_cluster_ping_interval:
                # Nodes ping each other every tenth of the node timeout instead of every half, so the
                # primaries' reports that a primary is down meet sooner: it is marked failed (and its
                # best replica elected) about 0.3 s earlier with a 1000 ms timeout.
                args += ["--cluster-ping-interval", str(cluster_ping_interval_ms(self.node_timeout_ms))]
        if self.replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        for name, value in self.settings:
            # Multi-word values ("3600 1", "nosave now") go as separate words, as the server expects.
            args += [f"--{name}", *(str(value).split() or [""])]
        return args


def cluster_ping_interval_ms(node_timeout_ms: int) -> int:
    """How often cluster nodes ping each other: a tenth of the node timeout, at least 100 ms (the
    cluster's own tick), at most the engine's default of half the node timeout."""
    return min(node_timeout_ms // 2, max(100, node_timeout_ms // 10))


@dataclass(eq=False)
class Node:
    """A server process of a lab, with the facts labkit keeps about it."""

    config: NodeConfig
    engine: Engine
    role: Role = Role.PRIMARY
    shard: int | None = None
    name: str = ""
    status: NodeStatus = NodeStatus.CREATED
    pid: int | None = None
    #: (user, password) labkit connects with once the default user may be disabled (see labkit.acl).
    credentials: tuple[str, str] | None = None
    #: Called with the node each time it has started and answers PING, before anyone else uses it:
    #: the lab re-applies what a fresh process lacks (ACL users, labkit's credentials) here.
    on_started: list[Callable[[Node], None]] = field(default_factory=list, repr=False)
    _process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return self.config.port

    @property
    def az(self) -> str | None:
        return self.config.az

    @property
    def datadir(self) -> Path:
        return self.config.datadir

    @property
    def logfile(self) -> Path:
        return self.config.datadir / "server.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        shard = f" shard={self.shard}" if self.shard is not None else ""
        return f"<Node {self.name or self.port} {self.role}{shard} az={self.az} {self.status} port={self.port}>"

    # -- lifecycle --------------------------------------------------------------------------
    def launch(self) -> Node:
        """Start the process without waiting; pair with `wait_ready()` to start many at once."""
        if self.status in (NodeStatus.STARTING, NodeStatus.UP, NodeStatus.PAUSED):
            raise TopologyStateError(f"node {self.address} is already running (status {self.status}); stop it first.")
        self.datadir.mkdir(parents=True, exist_ok=True)
        with open(self.logfile, "ab") as log:
            # Own session: Ctrl-C or a Jupyter interrupt sent to the kernel's group must not reach servers.
            self._process = subprocess.Popen(
                self.config.argv(self.engine),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.datadir,
                start_new_session=True,
            )
        self.pid = self._process.pid
        self.status = NodeStatus.STARTING
        return self

    def wait_ready(self, timeout: float = DEFAULT_START_TIMEOUT_S) -> Node:
        """Poll PING every few milliseconds until the server answers, then run the `on_started` hooks.

        If the server dies, does not answer in time, or a hook fails, the process is killed (a
        half-started node never lingers) and NodeStartError says why, with the tail of its log.
        """
        try:
            self._poll_ping(timeout)
            self.status = NodeStatus.UP
            for hook in list(self.on_started):
                hook(self)
        except BaseException:
            if self.is_running():
                self.kill()
            self.status = NodeStatus.DOWN
            raise
        return self

    def _poll_ping(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # A fresh process knows only the `default` user: labkit's own credentials come back with
        # the on_started hooks, so readiness is asked without them.
        options = {**self.connection_options(), "username": None, "password": None}
        client = redis.Redis(**options, socket_connect_timeout=0.5, socket_timeout=1.0, retry=Retry(NoBackoff(), 0))
        last_error: BaseException | None = None
        try:
            while True:
                if self._process is not None and self._process.poll() is not None:
                    raise NodeStartError(
                        f"The server on port {self.port} exited with code {self._process.returncode} while starting. "
                        "Check the log below; a bad `config=` setting is the usual cause.",
                        self.log_tail(), port=self.port, node=self.name,
                    )
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as error:
                    last_error = error  # not listening yet, or still loading
                if time.monotonic() > deadline:
                    raise NodeStartError(
                        f"The server on port {self.port} did not answer PING within {timeout:.0f} s "
                        f"(last error: {last_error}). The machine may be overloaded; stop other labs and try again.",
                        self.log_tail(), port=self.port, node=self.name,
                    )
                time.sleep(READY_POLL_INTERVAL_S)
        finally:
            client.close()

    def start(self, timeout: float = DEFAULT_START_TIMEOUT_S) -> Node:
        """Launch the process and wait until it answers; returns the node."""
        return self.launch().wait_ready(timeout)

    def __enter__(self) -> Self:
        if self.status not in (NodeStatus.UP, NodeStatus.STARTING, NodeStatus.PAUSED):
            self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def signal(self, signum: int) -> None:
        """Send a signal to this node's own process (never to anything else)."""
        if not self.is_running():
            raise TopologyStateError(f"node {self.address} is not running (status {self.status}).")
        if self._process is not None:
            self._process.send_signal(signum)
        else:  # a node of a lab started by `labkit up`: known by pid, checked by is_running()
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        """Ask the process to exit (SIGTERM: no snapshot, no waiting for replicas); see `wait_exit`."""
        if self.is_running():
            # A stopped (paused) process cannot handle SIGTERM, so it gets SIGKILL.
            self.signal(signal.SIGKILL if self.status is NodeStatus.PAUSED else signal.SIGTERM)

    def wait_exit(self, timeout: float = 2.0) -> None:
        """Wait for the process to end, SIGKILL it after `timeout`, and reap it."""
        if self._process is not None:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            return
        deadline = time.monotonic() + timeout
        while self.is_running():
            if time.monotonic() > deadline:
                self.signal(signal.SIGKILL)
                deadline = float("inf")
            time.sleep(READY_POLL_INTERVAL_S)

    def stop(self, timeout: float = 2.0) -> Node:
        """SIGTERM, wait (SIGKILL after `timeout`), reap; safe to call on a node that is not running."""
        self.terminate()
        self.wait_exit(timeout)
        self.status = NodeStatus.STOPPED
        return self

    def kill(self) -> Node:
        """SIGKILL: the node vanishes without a word, like a host that lost power."""
        if self.is_running():
            self.signal(signal.SIGKILL)
            self.wait_exit()
        self.status = NodeStatus.DOWN
        return self

    def is_running(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None  # also reaps it once it has exited
        return self.pid is not None and is_our_server(self.pid, self.port)

    def adopt(self, pid: int | None) -> None:
        """From now on this node's process is `pid`, started by another process (a lab that
        `labkit up` started is shared: a notebook may restart a node another one killed).
        A process of ours that has exited is reaped first.

        Example::

            node.adopt(4242)
        """
        if self._process is not None:
            if self._process.poll() is None:
                raise TopologyStateError(f"node {self.address} still runs as pid {self._process.pid}; it cannot be pid {pid} too.")
            self._process = None
        self.pid = pid

    # -- helpers ----------------------------------------------------------------------------
    def connection_options(self) -> dict:
        """Where and how to connect: address, TLS options and labkit's credentials (if any)."""
        return {
            "host": "127.0.0.1", "port": self.port,
            **(self.config.tls.client_options() if self.config.tls else {}),
            **({"username": self.credentials[0], "password": self.credentials[1]} if self.credentials else {}),
        }

    def client(self, *, decode_responses: bool = True, readonly: bool = False, **kwargs) -> redis.Redis:
        """A plain redis-py client for this node; `readonly=True` allows reads on a cluster replica."""
        options = {"decode_responses": decode_responses, "socket_connect_timeout": 1.0, "socket_timeout": 5.0,
                   # Retry briefly: redis-py's default backs off for seconds, even on a wrong password.
                   "retry": Retry(ExponentialBackoff(cap=0.05, base=0.01), 2),
                   **self.connection_options(), **kwargs}
        if readonly:
            options["redis_connect_func"] = _connect_readonly
        return redis.Redis(**options)

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.logfile, "rb") as log:
                return b"".join(deque(log, maxlen=lines)).decode(errors="replace").rstrip()
        except OSError:
            return ""

    def watch(self) -> None:
        """Announce this node's pid to the watchdog that kills it if the kernel dies."""
        if self.pid is not None:
            Watchdog.watch(self.pid, self.port)

    def as_record(self) -> dict:
        return {
            "name": self.name, "port": self.port, "pid": self.pid, "role": self.role.value, "az": self.az, "shard": self.shard,
            "status": self.status.value,
        }


def _connect_readonly(connection: redis.Connection) -> None:
    """Connect as usual, then send READONLY so that a cluster replica serves reads."""
    connection.on_connect()
    connection.send_command("READONLY")
    connection.read_response()

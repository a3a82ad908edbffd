"""Measure what a client experiences: background writes and reads, every outcome recorded.

A `Probe` runs a writer thread (SET of a new key each time) and a reader thread (GET of a key
already written) through the lab's normal client, an endpoint, or any redis-py client. Each
operation is kept as an `Operation`. The `ProbeResult` gives the windows when writes or reads
did not work, p50/p99 latency, errors by kind, and the **acknowledged writes lost**: every
key whose SET was acknowledged is read back at the end, and the missing ones are counted.

Example::

    with labkit.ReplicationGroup(replicas=2) as group:
        with labkit.Probe(group.primary_endpoint) as probe:
            group.kill(group.primary())
            group.wait_for_failover()
        print(probe.result)          # write-unavailable 1.02 s, 0 acknowledged writes lost, ...
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from .endpoints import Endpoint
from .errors import ConfigurationError, ProbeError

#: An operation slower than this counts as "not working" for the unavailability windows.
DEFAULT_SLOW_S = 0.2
#: The probe's own client timeout: a hung node shows up as "timeout" quickly.
DEFAULT_SOCKET_TIMEOUT_S = 0.25


_live_probes: weakref.WeakSet[Probe] = weakref.WeakSet()


def stop_all_probes() -> int:
    """Stop every running probe's threads (without reading keys back); `labkit.stop_all()` calls this."""
    probes = [probe for probe in list(_live_probes) if probe.running]
    for probe in probes:
        probe.stop(verify=False)
    return len(probes)


@runtime_checkable
class TrafficSource(Protocol):
    """Anything a probe can send traffic through besides a client or an endpoint: every labkit topology."""

    def traffic_client(self, socket_timeout: float) -> Any: ...
    def verification_client(self) -> Any: ...


class NotReplicatedError(Exception):
    """WAIT returned fewer replicas than the probe asked for: the write is not counted as acknowledged."""


@dataclass(frozen=True)
class Operation:
    """One probe operation: when it started (`time.time()`), what, on which key, how it ended."""

    time: float
    kind: str  # "write" or "read"
    key: str
    outcome: str  # "ok", or the error kind: "connection refused", "timeout", "MOVED", "READONLY", ...
    latency_s: float

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True)
class Window:
    """A stretch of time when operations of one kind did not work (failed, or slower than `slow_s`)."""

    kind: str
    start: float
    end: float
    failed: int

    @property
    def duration_s(self) -> float:
        return self.end - self.start


def classify(error: BaseException) -> str:
    """The error kind of an exception, as the probe records it ("timeout", "READONLY", ...)."""
    if isinstance(error, redis.exceptions.TimeoutError):
        return "timeout"
    if isinstance(error, NotReplicatedError):
        return "not replicated"
    names = {
        "ReadOnlyError": "READONLY", "ClusterDownError": "CLUSTERDOWN", "MovedError": "MOVED", "AskError": "ASK",
        "TryAgainError": "TRYAGAIN", "MasterDownError": "MASTERDOWN", "BusyLoadingError": "LOADING",
        "NoPermissionError": "NOPERM", "OutOfMemoryError": "OOM",
    }
    for cls in type(error).__mro__:
        if cls.__name__ in names:
            return names[cls.__name__]
    message = str(error)
    if isinstance(error, redis.exceptions.ConnectionError):
        lowered = message.lower()
        if "refused" in lowered:
            return "connection refused"
        if "reset" in lowered or "closed" in lowered or "broken pipe" in lowered:
            return "connection reset"
        return "connection error"
    if isinstance(error, redis.exceptions.ResponseError):
        word = message.split(" ", 1)[0]
        return word if word.isupper() and word.isalpha() else "error"
    if isinstance(error, redis.exceptions.RedisClusterException):
        return "cluster unavailable"
    return type(error).__name__


@dataclass(frozen=True)
class ProbeResult:
    """What the probe saw. `operations` holds every operation, in start order.

    Example::

        result.write_unavailable_s, result.read_unavailable_s
        result.p50_s("write"), result.p99_s("write")
        result.errors_by_kind                 # {"connection refused": 120, "READONLY": 3}
        result.acknowledged_writes_lost       # counted exactly by reading every key back
    """

    operations: tuple[Operation, ...]
    acknowledged_writes: int
    acknowledged_writes_lost: int | None  # None: not verified (see Probe.verify)
    lost_keys: tuple[str, ...] = ()
    slow_s: float = DEFAULT_SLOW_S
    started: float = 0.0
    stopped: float = 0.0

    # -- selections -----------------------------------------------------------------------------
    def of(self, kind: str) -> list[Operation]:
        return [operation for operation in self.operations if operation.kind == kind]

    @property
    def writes(self) -> list[Operation]:
        return self.of("write")

    @property
    def reads(self) -> list[Operation]:
        return self.of("read")

    @property
    def failed(self) -> list[Operation]:
        return [operation for operation in self.operations if not operation.ok]

    @property
    def refused_writes(self) -> int:
        """Writes the server answered with an error (READONLY, NOREPLICAS, ...): refused, not lost."""
        return sum(1 for operation in self.writes if operation.outcome not in ("ok", "timeout") and "connection" not in operation.outcome)

    @property
    def errors_by_kind(self) -> dict[str, int]:
        return dict(Counter(operation.outcome for operation in self.operations if not operation.ok).most_common())

    # -- availability ---------------------------------------------------------------------------
    def windows(self, kind: str) -> list[Window]:
        """Stretches when `kind` operations failed or were slower than `slow_s`: each runs from the
        end of the last good operation before the trouble to the end of the first good one after."""
        operations = self.of(kind)
        windows: list[Window] = []
        last_good_end: float | None = None
        start: float | None = None
        failed = 0
        for operation in operations:
            end = operation.time + operation.latency_s
            bad = not operation.ok or operation.latency_s > self.slow_s
            if bad:
                if start is None:
                    start = last_good_end if last_good_end is not None else operation.time
                failed += not operation.ok
                if operation.ok:  # slow but done: the trouble ends with it
                    windows.append(Window(kind, start, end, failed))
                    start, failed, last_good_end = None, 0, end
                continue
            if start is not None:
                windows.append(Window(kind, start, end, failed))
                start, failed = None, 0
            last_good_end = end
        if start is not None:  # still failing when the probe stopped
            windows.append(Window(kind, start, self.stopped or operations[-1].time, failed))
        return windows

    @property
    def write_windows(self) -> list[Window]:
        return self.windows("write")

    @property
    def read_windows(self) -> list[Window]:
        return self.windows("read")

    @property
    def write_unavailable_s(self) -> float:
        """Total time writes did not work."""
        return sum(window.duration_s for window in self.write_windows)

    @property
    def read_unavailable_s(self) -> float:
        """Total time reads did not work."""
        return sum(window.duration_s for window in self.read_windows)

    def longest_gap_s(self, kind: str = "write") -> float:
        """The longest time between two consecutive successful `kind` operations finishing:
        catches short pauses (a graceful failover) that no operation fails during."""
        ends = [op.time + op.latency_s for op in self.of(kind) if op.ok]
        return max((later - earlier for earlier, later in zip(ends, ends[1:])), default=0.0)

    # -- latency ----------------------------------------------------------------------------------
    def latency_s(self, percentile: float, kind: str | None = None) -> float:
        """Latency percentile (0-100) of successful operations, in seconds (nan if none)."""
        latencies = sorted(op.latency_s for op in self.operations if op.ok and (kind is None or op.kind == kind))
        if not latencies:
            return float("nan")
        if len(latencies) == 1:
            return latencies[0]
        return statistics.quantiles(latencies, n=1000, method="inclusive")[max(0, min(998, round(percentile * 10) - 1))]

    def p50_s(self, kind: str | None = None) -> float:
        return self.latency_s(50, kind)

    def p99_s(self, kind: str | None = None) -> float:
        return self.latency_s(99, kind)

    def summary(self) -> str:
        """A few lines of text: operations, unavailability, latency, errors, losses."""
        writes, reads = self.writes, self.reads
        lost = "not verified" if self.acknowledged_writes_lost is None else str(self.acknowledged_writes_lost)
        lines = [
            f"{len(writes)} writes ({sum(op.ok for op in writes)} ok), {len(reads)} reads ({sum(op.ok for op in reads)} ok) "
            f"in {self.stopped - self.started:.1f} s",
            f"write-unavailable {self.write_unavailable_s:.3f} s, read-unavailable {self.read_unavailable_s:.3f} s",
            f"latency p50 {self.p50_s() * 1000:.2f} ms, p99 {self.p99_s() * 1000:.2f} ms",
            f"errors: {', '.join(f'{kind} {count}' for kind, count in self.errors_by_kind.items()) or 'none'}",
            f"acknowledged writes lost: {lost} of {self.acknowledged_writes}",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@dataclass
class _Side:
    client: Any
    operations: list[Operation] = field(default_factory=list)


class Probe:
    """Background traffic through a topology, an endpoint or a client, recording every operation.

    `target`: a Cluster (its RedisCluster client), a ReplicationGroup (its primary endpoint), a
    Standalone, an Endpoint, or any redis-py client you made yourself (`redis.Redis(...)`, a stock
    `redis.RedisCluster(...)`), used as it is and left open. A cluster client follows MOVED and
    ASK inside redis-py, out of the probe's sight: `cluster.redirect_counts()` reads how many the
    servers sent. `reads` (optional) sends the reads elsewhere,
    e.g. `group.reader_endpoint` or `cluster.client(read_from_replicas=True)`.
    `wait_for_replicas=N` follows each write with `WAIT N wait_timeout_ms`: a write that fewer
    replicas confirmed is recorded as "not replicated" and not counted as acknowledged.

    Example::

        app = redis.RedisCluster(host="127.0.0.1", port=cluster.primary(0).port)
        with labkit.Probe(app) as probe:      # the application's own client
            cluster.add_shard()
        probe.result.failed                   # [] where slots move atomically (Valkey 9)

        probe = labkit.Probe(cluster, reads=cluster.client(read_from_replicas=True)).start()
        cluster.kill(cluster.primary(0))
        result = probe.stop()          # also reads every acknowledged key back
        result.write_unavailable_s, result.acknowledged_writes_lost
    """

    def __init__(
        self,
        target: Any,
        *,
        reads: Any = None,
        write: bool = True,
        read: bool = True,
        interval_s: float = 0.002,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT_S,
        slow_s: float = DEFAULT_SLOW_S,
        key_prefix: str | None = None,
        value_size: int = 16,
        wait_for_replicas: int = 0,
        wait_timeout_ms: int = 100,
    ) -> None:
        if not (write or read):
            raise ConfigurationError("a probe needs write=True or read=True (or both).")
        if not isinstance(interval_s, (int, float)) or not 0 <= interval_s <= 10:
            raise ConfigurationError(f"interval_s must be seconds between operations, from 0 to 10 (got {interval_s!r}).")
        if isinstance(wait_for_replicas, bool) or not isinstance(wait_for_replicas, int) or wait_for_replicas < 0:
            raise ConfigurationError(f"wait_for_replicas must be a whole number of replicas, 0 for no WAIT (got {wait_for_replicas!r}).")
        if wait_for_replicas and isinstance(target, RedisCluster):
            raise ConfigurationError("wait_for_replicas works through a replication group or an endpoint, not a cluster client.")
        self.wait_for_replicas = wait_for_replicas
        self.wait_timeout_ms = int(wait_timeout_ms)
        self.target = target
        self.socket_timeout = socket_timeout
        self.interval_s = float(interval_s)
        self.slow_s = slow_s
        self.key_prefix = key_prefix or f"probe:{uuid.uuid4().hex[:6]}:"
        self.value_padding = "x" * max(0, value_size - 8)
        self._writer = _Side(self._client_for(target)) if write else None
        self._reader = _Side(self._client_for(reads if reads is not None else target)) if read else None
        self._acknowledged: list[tuple[str, str]] = []
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.started = 0.0
        self.stopped = 0.0
        self.result: ProbeResult | None = None

    # -- clients --------------------------------------------------------------------------------
    def _client_for(self, target: Any) -> Any:
        if isinstance(target, (redis.Redis, RedisCluster)):
            return target
        if isinstance(target, Endpoint):
            return target.client(retry=Retry(NoBackoff(), 0), socket_timeout=self.socket_timeout, socket_connect_timeout=self.socket_timeout)
        if isinstance(target, TrafficSource):
            return target.traffic_client(self.socket_timeout)
        raise ConfigurationError(
            f"a probe needs a topology, an endpoint or a redis-py client to send traffic through; got {type(target).__name__}."
        )

    def _verification_client(self) -> Any:
        if isinstance(self.target, Endpoint):
            return self.target.client(socket_timeout=5.0)
        if isinstance(self.target, TrafficSource):
            return self.target.verification_client()
        return self.target

    # -- running --------------------------------------------------------------------------------
    def start(self) -> Probe:
        """Start the writer and reader threads; returns the probe."""
        if self._threads:
            raise ProbeError("this probe is already running (or ran); create a new Probe to measure again.")
        self.started = time.time()
        _live_probes.add(self)
        for side, loop in ((self._writer, self._write_loop), (self._reader, self._read_loop)):
            if side is not None:
                thread = threading.Thread(target=loop, args=(side,), name=f"labkit-probe-{loop.__name__}", daemon=True)
                self._threads.append(thread)
                thread.start()
        return self

    def _record(self, side: _Side, kind: str, key: str, call) -> bool:
        started_at, clock = time.time(), time.perf_counter()
        try:
            call()
            outcome = "ok"
        except Exception as error:  # noqa: BLE001 - every failure is data here
            outcome = classify(error)
        side.operations.append(Operation(started_at, kind, key, outcome, time.perf_counter() - clock))
        return outcome == "ok"

    def _write_loop(self, side: _Side) -> None:
        number = 0
        while not self._stopping.is_set():
            key, value = f"{self.key_prefix}{number}", f"{number}{self.value_padding}"
            if self._record(side, "write", key, lambda: self._write(side.client, key, value)):
                self._acknowledged.append((key, value))
            number += 1
            if self.interval_s:
                self._stopping.wait(self.interval_s)

    def _write(self, client: Any, key: str, value: str) -> None:
        if not self.wait_for_replicas:
            client.set(key, value)
            return
        # SET and WAIT on one connection: WAIT counts the replicas that have this client's writes.
        pipe = client.pipeline(transaction=False)
        pipe.set(key, value)
        pipe.execute_command("WAIT", self.wait_for_replicas, self.wait_timeout_ms)
        _ok, replicas = pipe.execute()
        if int(replicas) < self.wait_for_replicas:
            raise NotReplicatedError(f"WAIT: {replicas} of {self.wait_for_replicas} replicas have {key}")

    def _read_loop(self, side: _Side) -> None:
        while not self._stopping.is_set():
            key = self._acknowledged[-1][0] if self._acknowledged else f"{self.key_prefix}0"
            self._record(side, "read", key, lambda: side.client.get(key))
            if self.interval_s:
                self._stopping.wait(self.interval_s)

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def stop(self, verify: bool = True) -> ProbeResult:
        """Stop the traffic and return the result; `verify=True` reads every acknowledged key back."""
        self._stopping.set()
        _live_probes.discard(self)
        for thread in self._threads:
            thread.join(10.0)
        if not self.stopped:
            self.stopped = time.time()
        operations = sorted(
            (self._writer.operations if self._writer else []) + (self._reader.operations if self._reader else []),
            key=lambda operation: operation.time,
        )
        self.result = ProbeResult(tuple(operations), len(self._acknowledged), None, (), self.slow_s, self.started, self.stopped)
        if verify and self._writer is not None:
            self.verify()
        return self.result

    def verify(self) -> ProbeResult:
        """Read every acknowledged key back and count the missing ones (run after the lab healed)."""
        if self.result is None:
            raise ProbeError("stop() the probe before verifying it.")
        client = self._verification_client()
        lost: list[str] = []
        try:
            for start in range(0, len(self._acknowledged), 500):
                batch = self._acknowledged[start:start + 500]
                pipe = client.pipeline(transaction=False)
                for key, _value in batch:
                    pipe.get(key)
                values = pipe.execute()
                lost += [key for (key, value), found in zip(batch, values) if _text(found) != value]
        except redis.RedisError as error:
            raise ProbeError(
                f"could not read the probe's keys back ({classify(error)}): bring the primary back "
                "(restart, restore_az or failover), then call probe.verify()."
            ) from error
        finally:
            if client is not self.target:
                client.close()
        self.result = ProbeResult(
            self.result.operations, len(self._acknowledged), len(lost), tuple(lost), self.slow_s, self.started, self.stopped
        )
        return self.result

    def __enter__(self) -> Probe:
        return self.start()

    def __exit__(self, exc_type, *_rest: object) -> None:
        self.stop(verify=exc_type is None)

    @property
    def operations(self) -> list[Operation]:
        """Operations so far (a live probe keeps adding to them)."""
        return sorted(
            (self._writer.operations if self._writer else []) + (self._reader.operations if self._reader else []),
            key=lambda operation: operation.time,
        )


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value

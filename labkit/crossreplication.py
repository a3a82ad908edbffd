"""Cross-cluster replication for a Global Datastore of clusters: one labkit-run replica per shard.

The engine refuses REPLICAOF in cluster mode and CLUSTER REPLICATE only accepts a node of the same
cluster, so no server of one cluster can replicate from another cluster. ElastiCache replicates
clusters across Regions with its own machinery; labkit stands in for it with a `ShardReplicator`
per primary shard: a background thread that connects through a `labkit.Link` (the cross-Region
delay) to the shard's primary and speaks the replica protocol itself:

* `REPLCONF capa psync2` (no `capa eof`, so the snapshot comes as a `$<len>` bulk), then
  `PSYNC ? -1` -> `+FULLRESYNC <replid> <offset>` and the RDB, loaded the way backup.py restores a
  snapshot (a temporary server loads the file; DUMP/PTTL + RESTORE into the secondary cluster);
* then the command stream: each write command is applied to the secondary cluster (routed by slot),
  and the processed offset is kept; `REPLCONF ACK <offset>` goes back about once a second;
* after a dropped connection (a cut link) it reconnects with `PSYNC <replid> <offset+1>`: `+CONTINUE`
  resumes the stream (partial resync), `+FULLRESYNC` reloads the shard.

Example::

    replicator = ShardReplicator(shard=0, source=east, target=west, link=link).start()
    replicator.offset, replicator.connected, replicator.last_error
    replicator.stop()
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ._polling import BackgroundThread
from .backup import rdb_server
from .keycopy import dumped_batches, restore_batch
from .link import Link

__all__ = ["ShardReplicator"]

#: Commands of the replication stream that are not writes to apply.
SKIPPED = {b"PING", b"REPLCONF", b"MULTI", b"EXEC", b"SELECT"}
ACK_INTERVAL_S = 1.0


class StreamClosed(ConnectionError):
    """The primary (or the link) closed the replication connection."""


class _Reader:
    """RESP from a socket, counting the bytes each reply took (the replication offset)."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.sock, self.stopping, self.buffer, self.pos = sock, stopping, bytearray(), 0
        self.consumed = 0

    def fill(self, wait: bool = True) -> bool:
        """Read what the socket has; without `wait`, False when nothing came within the socket timeout."""
        while True:
            if self.stopping.is_set():
                raise StreamClosed("the replicator is stopping")
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                if not wait:
                    return False
                continue
            if not data:
                raise StreamClosed("the connection was closed")
            if self.pos:
                del self.buffer[: self.pos]
                self.pos = 0
            self.buffer += data
            return True

    def line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n", self.pos)) < 0:
            self.fill()
        line = bytes(self.buffer[self.pos:end])
        self.consumed += end + 2 - self.pos
        self.pos = end + 2
        return line

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) - self.pos < size:
            self.fill()
        data = bytes(self.buffer[self.pos:self.pos + size])
        self.pos += size
        self.consumed += size
        return data

    def idle(self) -> bool:
        return self.pos >= len(self.buffer)

    def command(self) -> tuple[list[bytes], int]:
        """One command of the stream (an array of bulk strings) and how many bytes it took."""
        before = self.consumed
        head = self.line()
        if not head.startswith(b"*"):
            raise StreamClosed(f"unexpected reply in the replication stream: {head[:40]!r}")
        args = []
        for _ in range(int(head[1:])):
            size = int(self.line()[1:])
            args.append(self.exactly(size))
            self.exactly(2)
        return args, self.consumed - before


class ShardReplicator:
    """A labkit-run replica of one shard of `source` (a Cluster) that writes into `target` (a Cluster).

    `link` is the Link it connects through (the cross-Region delay); `offset` is the replication
    offset applied so far; `connected` whether its stream is up; `last_error` / `failures` as for
    any BackgroundThread; `full_syncs` and `partial_syncs` count the resynchronisations.
    """

    def __init__(self, shard: int, source: Any, target: Any, link: Link, name: str = "") -> None:
        self.shard, self.source, self.target, self.link = shard, source, target, link
        self.name = name or f"labkit-replicator-{shard}"
        self.replid: str | None = None
        self.offset = 0
        self.connected = False
        self.last_contact: float | None = None
        self.full_syncs = 0
        self.partial_syncs = 0
        self.applied = 0
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._thread = BackgroundThread(self.name, self._session, 0.1)

    @property
    def last_error(self) -> BaseException | None:
        return self._thread.last_error

    @property
    def failures(self) -> int:
        return self._thread.failures

    @property
    def alive(self) -> bool:
        return self._thread.alive

    def start(self) -> ShardReplicator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.stop()
        sock = self._sock
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    # -- one connection ---------------------------------------------------------------------------
    def _session(self) -> None:
        if self._stopping.is_set():
            return
        assert self.link.port is not None
        sock = socket.create_connection(("127.0.0.1", self.link.port), timeout=5.0)
        self._sock = sock
        try:
            sock.settimeout(0.2)
            reader = _Reader(sock, self._stopping)

            def call(*args: str) -> bytes:
                sock.sendall(_encode([arg.encode() for arg in args]))
                return _reply_line(reader)

            credentials = self.source.primary(self.shard).credentials
            if credentials is not None:
                reply = call("AUTH", *credentials)
                if not reply.startswith(b"+OK"):
                    raise ConnectionError(f"AUTH refused by shard {self.shard}'s primary: {reply!r}")
            call("REPLCONF", "capa", "psync2")  # no `capa eof`: the snapshot comes as a $<len> bulk
            if self.replid is None:
                reply = call("PSYNC", "?", "-1")
            else:
                reply = call("PSYNC", self.replid, str(self.offset + 1))
            if reply.startswith(b"+FULLRESYNC"):
                _, replid, offset = reply.decode().split()
                self._full_load(reader)
                self.replid, self.offset = replid, int(offset)
                self.full_syncs += 1
            elif reply.startswith(b"+CONTINUE"):
                words = reply.decode().split()
                if len(words) > 1:
                    self.replid = words[1]  # psync2: the primary's replication id may have changed
                self.partial_syncs += 1
            else:
                raise ConnectionError(f"PSYNC refused by shard {self.shard}'s primary: {reply!r}")
            self.connected = True
            self.last_contact = time.monotonic()
            self._stream(reader, sock)
        finally:
            self.connected = False
            self._sock = None
            try:
                sock.close()
            except OSError:
                pass

    def _full_load(self, reader: _Reader) -> None:
        head = reader.line()
        while not head:  # newlines the primary sends while it prepares the snapshot
            head = reader.line()
        if not head.startswith(b"$"):
            raise ConnectionError(f"expected the RDB as a bulk ($<len>), got {head[:40]!r}")
        payload = reader.exactly(int(head[1:]))
        self._flush_shard()
        engine, workdir = self.target.engine, Path(self.target.workdir)
        with tempfile.TemporaryDirectory(dir=workdir, prefix="psync-") as folder:
            path = Path(folder) / "dump.rdb"
            path.write_bytes(payload)
            with rdb_server(path, engine, Path(folder), 30.0, f"psync-loader-{self.shard}") as loader:
                writer = self.target.client(decode_responses=False)
                try:
                    for keys, replies in dumped_batches(loader):
                        restore_batch(writer, keys, replies)
                finally:
                    writer.close()

    def _flush_shard(self) -> None:
        """Empty the target's shard that serves this shard's slots (same layout: same shard number)."""
        with self.target.primary(self.shard).client() as client:
            client.flushall()

    def _stream(self, reader: _Reader, sock: socket.socket) -> None:
        writer = self.target.client(decode_responses=False)
        try:
            next_ack = 0.0
            while not self._stopping.is_set():
                now = time.monotonic()
                if now >= next_ack:
                    sock.sendall(_encode([b"REPLCONF", b"ACK", str(self.offset).encode()]))
                    next_ack = now + ACK_INTERVAL_S
                if reader.idle() and not reader.fill(wait=False):
                    continue
                args, used = reader.command()
                self.last_contact = time.monotonic()
                name = args[0].upper()
                if name not in SKIPPED:
                    writer.execute_command(args[0].decode(), *args[1:])
                    self.applied += 1
                elif name == b"REPLCONF" and len(args) > 1 and args[1].upper() == b"GETACK":
                    next_ack = 0.0
                self.offset += used
        finally:
            writer.close()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<ShardReplicator shard {self.shard} {state} offset={self.offset} last_error={self.last_error!r}>"


def _encode(args: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args)


def _reply_line(reader: _Reader) -> bytes:
    line = reader.line()
    while not line:
        line = reader.line()
    return line


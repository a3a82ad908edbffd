"""Reserve free (port, port + 10000) pairs below the ephemeral range, safely across processes.

A reservation is an exclusive `flock` on a small file per port in labkit's run directory.
The lock lives as long as the reserving process holds the file open, so two kernels starting
labs at the same moment never get the same port, and a crashed kernel frees its ports.

Example::

    with reserve_ports(3) as ports:
        ports.numbers     # [14211, 14212, 14213]: each port and port + 10000 was free
"""

from __future__ import annotations

import errno
import os
import random
import socket
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PortsExhaustedError
from .rundir import run_directory

BUS_PORT_OFFSET = 10000
#: Highest port allowed so that port + 10000 stays below 32768, the usual start of the ephemeral range.
HIGHEST_PORT = 32767 - BUS_PORT_OFFSET
LOWEST_PORT = 12000


def ephemeral_range_start() -> int:
    """First port the OS hands out for outgoing connections (32768 when it cannot tell)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # macOS uses 49152; 32768 is the safe (lower) bound for both.


def port_range() -> range:
    """Ports labkit may use: both the port and its cluster-bus port stay below the ephemeral range."""
    highest = min(HIGHEST_PORT, ephemeral_range_start() - 1 - BUS_PORT_OFFSET)
    return range(LOWEST_PORT, highest + 1)


def is_free(port: int) -> bool:
    """True when both `port` and its cluster-bus port can be bound on 127.0.0.1 right now."""
    for candidate in (port, port + BUS_PORT_OFFSET):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # Servers set SO_REUSEADDR too, so a port in TIME_WAIT is usable and counts as free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                return False
    return True


@dataclass
class PortReservation:
    """Ports held for one lab; `release()` (or leaving the `with`) frees them."""

    numbers: list[int] = field(default_factory=list)
    _locks: dict[int, int] = field(default_factory=dict, repr=False)

    def add(self, count: int, start: int | None = None) -> list[int]:
        """Reserve `count` more ports and return them."""
        added = _reserve(count, self._locks, start)
        self.numbers.extend(added)
        return added

    def release(self, port: int | None = None) -> None:
        """Release one port, or all of them."""
        for number in [port] if port is not None else list(self._locks):
            descriptor = self._locks.pop(number, None)
            if descriptor is not None:
                os.close(descriptor)
            if number in self.numbers:
                self.numbers.remove(number)

    def __enter__(self) -> PortReservation:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def reserve_ports(count: int, start: int | None = None) -> PortReservation:
    """Reserve `count` free port pairs (scanning from a random point, or from `start`)."""
    reservation = PortReservation()
    reservation.add(count, start)
    return reservation


def _lock_directory() -> Path:
    path = run_directory() / "ports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _reserve(count: int, held: dict[int, int], start: int | None) -> list[int]:
    candidates = port_range()
    if not candidates:
        raise PortsExhaustedError(
            "The OS ephemeral port range starts too low for labkit's ports (port + 10000 must stay below it). "
            "Raise /proc/sys/net/ipv4/ip_local_port_range's first value to 32768."
        )
    # A random start spreads concurrent kernels apart; the locks make collisions impossible anyway.
    offset = (start - candidates.start) if start is not None else random.randrange(len(candidates))
    import fcntl  # POSIX only; on Windows labkit.connect() falls back to fakeredis before this

    locks_dir = _lock_directory()
    found: list[int] = []
    for index in range(len(candidates)):
        if len(found) == count:
            break
        port = candidates[(offset + index) % len(candidates)]
        if port in held:
            continue
        descriptor = os.open(locks_dir / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(descriptor)
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                continue  # another labkit process holds it
            raise
        if not is_free(port):
            os.close(descriptor)
            continue
        held[port] = descriptor
        found.append(port)
    if len(found) < count:
        for port in found:
            os.close(held.pop(port))
        raise PortsExhaustedError(
            f"Needed {count} free port pairs between {candidates.start} and {candidates.stop - 1} "
            f"(each with its bus port + {BUS_PORT_OFFSET}) but found only {len(found)}. "
            "Stop other labs (`labkit down`, or stop topologies in other notebooks) and try again."
        )
    return found

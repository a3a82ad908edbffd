"""Make sure no server outlives its lab: a record of running labs, a watchdog, and a sweep.

Three layers, from the common case to the worst:

1. `stop()`, `with` blocks and an `atexit` hook stop labs the normal way.
2. A watchdog process (see `labkit.watchdog`) kills a kernel's servers the moment the kernel
   dies, even by SIGKILL, because its pipe from the kernel closes.
3. Every lab is recorded in `<run dir>/labs/`; the next labkit start sweeps servers whose
   owner is gone (for example when the watchdog was killed too).

Only processes recorded here, whose command line still shows a redis/valkey server on the
recorded port, are ever signalled: never anything found by name.

A lab `labkit up` started outlives that command and may be used by several processes at once
(`labkit.attach()` in notebooks, `labkit down` in a terminal). They share its record and
coordinate through three lock files next to it (`FileLock`, `FileLease`): "record" is held
while a process changes the lab, "monitor" by the one process that runs a replication group's
Multi-AZ monitor, and "attached" (shared) by every process attached to it.

Example::

    sweep_orphans()   # -> number of leftover servers stopped
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .rundir import run_directory


@dataclass
class LabRecord:
    """What is written to disk about one running lab."""

    lab_id: str
    kind: str
    owner_pid: int
    workdir: str
    detached: bool = False
    engine_path: str = ""
    nodes: list[dict] = field(default_factory=list)  # port, pid, role, az, shard, name
    settings: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return labs_directory() / f"{self.lab_id}.json"

    def lock_path(self, purpose: str) -> Path:
        """The lock file `purpose` ("record", "monitor" or "attached") of this lab."""
        return labs_directory() / f"{self.lab_id}.{purpose}.lock"

    def save(self) -> str:
        """Write the record (atomically: readers see the old or the new one); returns the text written."""
        text = json.dumps(asdict(self), indent=1)
        # A name of its own: two processes (or threads) saving at once must not share a temporary file.
        temporary = self.path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
        temporary.write_text(text)
        temporary.replace(self.path)
        return text

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> LabRecord | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


#: The lock files a lab's record may have (see the module docstring).
LOCK_PURPOSES = ("record", "monitor", "attached")


def labs_directory() -> Path:
    path = run_directory() / "labs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def all_records() -> list[LabRecord]:
    return [record for path in sorted(labs_directory().glob("*.json")) if (record := LabRecord.load(path))]


def process_command_line(pid: int) -> str | None:
    """The command line of `pid` (servers rewrite it to `valkey-server 127.0.0.1:PORT`), or None."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return raw.replace(b"\0", b" ").decode(errors="replace").strip() or None
    except FileNotFoundError:
        if sys.platform.startswith("linux"):
            return None
    except OSError:
        return None
    try:  # macOS and other systems without /proc
        completed = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() or None


def is_our_server(pid: int, port: int) -> bool:
    """Whether `pid` is still a redis/valkey server on `port` (guards against reused pids)."""
    command = process_command_line(pid)
    if command is None:
        return False
    if " <defunct>" in command or command.startswith("["):
        return False
    return str(port) in command and ("valkey" in command or "redis" in command)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphans() -> int:
    """Stop servers of labs whose owning process is gone; returns how many were stopped."""
    stopped = 0
    for record in all_records():
        if record.detached:
            # A `labkit up` lab whose servers are all gone, and that no process is attached to
            # (an attached notebook may be restarting them all): forget it.
            if not any(is_our_server(node["pid"], node["port"]) for node in record.nodes) and not FileLease.held(record.lock_path("attached")):
                record.delete()
            continue
        if record.owner_pid != os.getpid() and pid_alive(record.owner_pid):
            continue
        if record.owner_pid == os.getpid():
            continue  # our own lab, still managed by a live object
        for node in record.nodes:
            if is_our_server(node["pid"], node["port"]):
                try:
                    os.kill(node["pid"], signal.SIGKILL)
                    stopped += 1
                except ProcessLookupError:
                    pass
        shutil.rmtree(record.workdir, ignore_errors=True)
        record.delete()
    _remove_stale_lock_files()
    return stopped


def _remove_stale_lock_files() -> None:
    """Delete lock files of labs whose record is gone and that no process holds any more."""
    directory = labs_directory()
    for path in directory.glob("*.lock"):
        lab_id = path.name.rsplit(".", 2)[0]
        if (directory / f"{lab_id}.json").exists():
            continue
        lease = FileLease(path, create=False)
        if lease.acquire():  # nobody holds it: safe to delete
            path.unlink(missing_ok=True)
        lease.release()


class FileLock:
    """An exclusive lock on a file, held across processes (flock) and between threads; reentrant
    within a thread. The file is opened once, so every holder locks the same file even if it is
    deleted meanwhile.

    Example::

        lock = FileLock(record.lock_path("record"))
        with lock:
            ...   # no other process or thread holds it here
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._threads = threading.RLock()
        self._depth = 0

    def __enter__(self) -> FileLock:
        import fcntl  # POSIX only, like the port locks

        self._threads.acquire()
        try:
            if self._depth == 0:
                if self._descriptor is None:
                    raise RuntimeError(f"the lock {self.path} was closed")
                fcntl.flock(self._descriptor, fcntl.LOCK_EX)
            self._depth += 1
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        import fcntl

        self._depth -= 1
        if self._depth == 0 and self._descriptor is not None:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)
        self._threads.release()

    def close(self) -> None:
        """Close the file (a lock still held is released with it)."""
        with self._threads:
            if self._descriptor is not None:
                os.close(self._descriptor)
                self._descriptor = None


class FileLease:
    """A lock file taken without waiting and kept until `release()` or the process ends (even by
    SIGKILL: the system drops it then). `shared=True` lets many holders share it.

    Example::

        lease = FileLease(record.lock_path("monitor"))
        if lease.acquire():
            ...   # this process runs the monitor until it exits or releases it
    """

    def __init__(self, path: Path, *, shared: bool = False, create: bool = True) -> None:
        self.path = path
        self.shared = shared
        self._create = create
        self._descriptor: int | None = None

    @property
    def holding(self) -> bool:
        return self._descriptor is not None

    def acquire(self, note: str = "") -> bool:
        """Take the lease if nobody else holds it (or only sharers, for a shared one); True if held now.
        `note` (an exclusive lease: who holds it) is written into the file for `read_note()`."""
        import fcntl

        if self._descriptor is not None:
            return True
        try:
            descriptor = os.open(self.path, os.O_RDWR | (os.O_CREAT if self._create else 0), 0o600)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(descriptor, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError as error:
            os.close(descriptor)
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        self._descriptor = descriptor
        if note and not self.shared:
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, note.encode(), 0)
        return True

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    @staticmethod
    def read_note(path: Path) -> str:
        """What the holder of the lease on `path` wrote into it ("" if nobody holds it)."""
        if not FileLease.held(path):
            return ""
        try:
            return path.read_text()
        except OSError:
            return ""

    @staticmethod
    def held(path: Path) -> bool:
        """Whether some process holds a lease on `path` now (tested without keeping it)."""
        probe = FileLease(path, create=False)
        if not path.exists():
            return False
        taken = probe.acquire()
        probe.release()
        return not taken and path.exists()


class Watchdog:
    """The pipe to this process's watchdog; started on first use, shared by every lab."""

    _lock = threading.Lock()
    _process: subprocess.Popen | None = None
    _owner_pid: int | None = None

    @classmethod
    def _send(cls, line: str) -> None:
        with cls._lock:
            if cls._process is None or cls._owner_pid != os.getpid() or cls._process.poll() is not None:
                cls._process = subprocess.Popen(
                    [sys.executable, "-S", str(Path(__file__).with_name("watchdog.py"))],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                    text=True,
                )
                cls._owner_pid = os.getpid()
            assert cls._process.stdin is not None
            try:
                cls._process.stdin.write(line + "\n")
                cls._process.stdin.flush()
            except (BrokenPipeError, ValueError):
                cls._process = None

    @classmethod
    def watch(cls, pid: int, port: int) -> None:
        cls._send(f"watch {pid} {port}")

    @classmethod
    def forget(cls, pid: int) -> None:
        cls._send(f"forget {pid}")

    @classmethod
    def watch_directory(cls, path: str | os.PathLike[str]) -> None:
        cls._send(f"dir {path}")

    @classmethod
    def forget_directory(cls, path: str | os.PathLike[str]) -> None:
        cls._send(f"undir {path}")

    @classmethod
    def pid(cls) -> int | None:
        return cls._process.pid if cls._process is not None else None


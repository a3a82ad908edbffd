"""Make sure no server outlives its lab: a record of running labs, a watchdog, and a sweep.

Three layers, from the common case to the worst:

1. `stop()`, `with` blocks and an `atexit` hook stop labs the normal way.
2. A watchdog process (see `labkit.watchdog`) kills a kernel's servers the moment the kernel
   dies, even by SIGKILL, because its pipe from the kernel closes.
3. Every lab is recorded in `<run dir>/labs/`; the next labkit start sweeps servers whose
   owner is gone (for example when the watchdog was killed too).

Only processes recorded here, whose command line still shows a redis/valkey server on the
recorded port, are ever signalled: never anything found by name.

Example::

    sweep_orphans()   # -> number of leftover servers stopped
"""

from __future__ import annotations

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

    def save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=1))
        temporary.replace(self.path)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> LabRecord | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


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
            if not any(is_our_server(node["pid"], node["port"]) for node in record.nodes):
                record.delete()  # a `labkit up` lab whose servers are all gone
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
    return stopped


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


"""A tiny process that kills a notebook's servers when the notebook's kernel dies.

labkit starts one watchdog per Python process, in its own session, and keeps the write end of
a pipe to it. Each server pid (and each lab directory) is announced on that pipe. When the
kernel exits in any way, SIGKILL included, the pipe closes, and the watchdog kills every pid
still announced and removes the directories, then exits. It is run by path, not with `-m`,
so that it stays small and imports nothing from labkit.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        if sys.platform.startswith("linux"):
            return ""
    except OSError:
        return ""
    try:  # macOS: no /proc
        return subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _looks_like_our_server(pid: int, port: str) -> bool:
    command = _command_line(pid)
    return port in command and ("valkey" in command or "redis" in command)


def main() -> None:
    # Ignore the signals a terminal or Jupyter sends to the kernel's group: only EOF ends us.
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    watched: dict[int, str] = {}
    directories: set[str] = set()
    for line in sys.stdin:
        verb, _, rest = line.rstrip("\n").partition(" ")
        if verb == "watch":
            pid, _, port = rest.partition(" ")
            watched[int(pid)] = port
        elif verb == "forget":
            watched.pop(int(rest), None)
        elif verb == "dir":
            directories.add(rest)
        elif verb == "undir":
            directories.discard(rest)
    for pid, port in watched.items():
        if _looks_like_our_server(pid, port):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()

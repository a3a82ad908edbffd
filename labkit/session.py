"""The lab started by `labkit up` in a terminal, found again by `status`, `down` and notebooks.

Example::

    lab = labkit.attach()        # the lab `labkit up` started
    lab.client().set("k", "v")
"""

from __future__ import annotations

from .errors import NoLabError
from .reaper import FileLease, LabRecord, all_records, sweep_orphans
from .topology import Topology


def detached_record() -> LabRecord | None:
    """The record of the running `labkit up` lab, if any (stale records are swept first)."""
    sweep_orphans()
    records = [record for record in all_records() if record.detached]
    return records[-1] if records else None


def attach(background: bool = True) -> Topology:
    """The lab that `labkit up` started, as a topology object (its `stop()` is `labkit down`).

    It works as a lab started here does: faults (kill, pause, restart, fail_az, ...), failovers,
    endpoints and views. In the background it follows what other processes attached to the same
    lab change, runs a replication group's Multi-AZ monitor (in one attached process at a time;
    another takes over if that one exits) and a cluster's role watcher, and stops quietly when
    `labkit down` takes the lab away (`lab.lifecycle` is then "stopped").
    `background=False`: a one-off look, without threads (`labkit status` and `labkit down`).

    Example::

        lab = labkit.attach()
        lab.client().set("k", "v")
    """
    record = detached_record()
    if record is None:
        raise NoLabError("No lab started by `labkit up` is running. Start one with `labkit up --mode cluster` in a terminal.")
    return Topology.attach_record(record, background=background)


def multi_az_monitor_pid(record: LabRecord | None = None) -> int | None:
    """The process that runs the Multi-AZ monitor of the replication group `labkit up` started
    (`record`: that lab's), or None when no attached process runs it.

    Example::

        multi_az_monitor_pid()      # 4242: a notebook attached with labkit.attach()
    """
    record = record or detached_record()
    if record is None:
        return None
    note = FileLease.read_note(record.lock_path("monitor")).strip()
    return int(note) if note.isdigit() else None

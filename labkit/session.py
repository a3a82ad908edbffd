"""The lab started by `labkit up` in a terminal, found again by `status`, `down` and notebooks.

Example::

    lab = labkit.attach()        # the lab `labkit up` started
    lab.client().set("k", "v")
"""

from __future__ import annotations

from .errors import NoLabError
from .reaper import LabRecord, all_records, sweep_orphans
from .topology import Topology


def detached_record() -> LabRecord | None:
    """The record of the running `labkit up` lab, if any (stale records are swept first)."""
    sweep_orphans()
    records = [record for record in all_records() if record.detached]
    return records[-1] if records else None


def attach() -> Topology:
    """The lab that `labkit up` started, as a topology object (its `stop()` is `labkit down`).

    Example::

        lab = labkit.attach()
        lab.client().set("k", "v")
    """
    record = detached_record()
    if record is None:
        raise NoLabError("No lab started by `labkit up` is running. Start one with `labkit up --mode cluster` in a terminal.")
    return Topology.attach_record(record)

"""A lab that `labkit up` started, as one process sees it while several use it.

The lab outlives `labkit up`; notebooks find it again with `labkit.attach()`, and `labkit down`
stops it from a terminal. Its record (labkit.reaper) is what they share: each process reads it
before it changes the lab and writes it back after, under the record's lock, so a node restarted
or a replica promoted in one process is seen by the others. Between changes, a background thread
of each attached process follows the record (`changes()`) and notices when it is gone (the lab
was taken down).

A replication group's Multi-AZ monitor must run in exactly one process: the attached processes
compete for the "monitor" lease each tick; the holder runs it until it exits (even by SIGKILL,
when the system drops the lease and the next process takes it over).

Example::

    attachment = Attachment(record, attend=True)
    with attachment.lock:
        nodes = attachment.changes()      # None: the lab is gone; else what changed since last time
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ..reaper import LOCK_PURPOSES, FileLease, FileLock, LabRecord

Entries = dict[int, dict]  # port -> the node's entry in the record


@dataclass(frozen=True)
class RecordChanges:
    """What other processes changed in the record since this one last read or wrote it."""

    added: tuple[dict, ...] = ()
    removed: tuple[int, ...] = ()  # ports
    changed: tuple[tuple[dict, dict], ...] = ()  # (entry before, entry now)
    entries: Entries = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


class Attachment:
    """This process's share of a `labkit up` lab: the record lock, the monitor lease, and what it
    last saw of the record (so that only what others changed since is adopted)."""

    def __init__(self, record: LabRecord, *, attend: bool) -> None:
        self.record = record
        #: Held while this process reads-then-changes the lab (short: never across a wait for another process).
        self.lock = FileLock(record.lock_path("record"))
        #: Held by the one process that runs a replication group's Multi-AZ monitor.
        self.monitor = FileLease(record.lock_path("monitor"))
        # Shared by every attached process: the reaper does not forget a lab someone is using.
        self._attendance = FileLease(record.lock_path("attached"), shared=True)
        if attend:
            self._attendance.acquire()
        self._last_text: str | None = None
        self._last: Entries = _by_port(asdict(record)["nodes"])

    def exists(self) -> bool:
        """Whether the lab's record is still there (`labkit down` deletes it first)."""
        return self.record.path.exists()

    def _read(self) -> str | None:
        try:
            return self.record.path.read_text()
        except FileNotFoundError:
            return None

    def unchanged(self) -> bool | None:
        """True if the record is as last seen, False if it changed, None if it is gone (cheap: no parsing)."""
        text = self._read()
        if text is None:
            return None
        return text == self._last_text

    def changes(self) -> RecordChanges | None:
        """What changed in the record since it was last seen here (None: the record is gone).
        Call it with `lock` held, and apply the changes before releasing it."""
        text = self._read()
        if text is None:
            return None
        if text == self._last_text:
            return RecordChanges(entries=self._last)
        try:
            now = _by_port(json.loads(text)["nodes"])
        except (ValueError, KeyError, TypeError):
            return RecordChanges(entries=self._last)  # not a record labkit wrote: keep what we know
        before = self._last
        self._last_text, self._last = text, now
        return RecordChanges(
            added=tuple(entry for port, entry in now.items() if port not in before),
            removed=tuple(port for port in before if port not in now),
            changed=tuple((before[port], entry) for port, entry in now.items() if port in before and before[port] != entry),
            entries=now,
        )

    def saved(self, text: str, nodes: list[dict]) -> None:
        """Remember what this process just wrote, so that it is not adopted back as a change."""
        self._last_text, self._last = text, _by_port(nodes)

    def release(self, remove_files: bool = False) -> None:
        """Give up the monitor lease and the attendance; `remove_files` (the lab is gone) deletes the
        lock files. The record lock stays usable (a thread may still be on its way to it)."""
        self.monitor.release()
        self._attendance.release()
        if remove_files:
            for purpose in LOCK_PURPOSES:
                self.record.lock_path(purpose).unlink(missing_ok=True)


def _by_port(nodes: list[dict]) -> Entries:
    return {int(entry["port"]): dict(entry) for entry in nodes}

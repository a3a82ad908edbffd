"""Every error labkit raises on purpose, each with a message that says what to do.

The hierarchy::

    LabkitError
    ├── EngineError                 the server binary is missing, unrunnable or too old
    ├── ConfigurationError          bad arguments: replicas, shards, AZ lists, unknown nodes
    │   └── UnknownNodeError        a node that is not part of this topology
    ├── PortsExhaustedError         no free port pair below the ephemeral range
    ├── NodeStartError              a server process died or never answered on start
    ├── TopologyStateError          start() on a running lab, client() on a stopped one, ...
    ├── ClusterNotReadyError        the cluster did not converge before its deadline
    ├── FailoverError               a failover could not be done, or did not finish in time
    ├── ScalingError                a reshard, shard removal or scale-up copy could not be done
    ├── SnapshotError               a backup could not be taken, found or restored
    ├── ProbeError                  a probe could not read its keys back
    └── NoLabError                  `labkit status/down/attach` found no lab started by `labkit up`

Example::

    try:
        labkit.Cluster(shards=0)
    except labkit.LabkitError as error:
        print(error)   # "shards must be at least 1 (got 0): ..."
"""

from __future__ import annotations


class LabkitError(Exception):
    """Base class: catch this to handle anything labkit refuses to do.

    Besides its message, an error carries what it is about when it is about one thing: `port`,
    `node` (a node's name) and `shard` (None when they do not apply).

    Example::

        except labkit.LabkitError as error:
            print(error.node, error.port)
    """

    def __init__(self, message: str = "", *, port: int | None = None, node: str | None = None, shard: int | None = None) -> None:
        super().__init__(message)
        self.port = port
        self.node = node
        self.shard = shard


class EngineError(LabkitError):
    """The server binary cannot be found, cannot run, or is older than labkit supports."""


class ConfigurationError(LabkitError, ValueError):
    """An argument is out of range or malformed; the message names the fix."""


class UnknownNodeError(ConfigurationError):
    """A node, port or shard that does not belong to this topology."""


class PortsExhaustedError(LabkitError):
    """No free (port, port + 10000) pair is left in labkit's port range."""


class NodeStartError(LabkitError):
    """A server process exited or did not answer PING in time; carries the tail of its log."""

    def __init__(self, message: str, log_tail: str = "", **about: object) -> None:
        self.log_tail = log_tail
        if log_tail:
            message = f"{message}\n--- last lines of the node's log ---\n{log_tail}"
        super().__init__(message, **about)  # type: ignore[arg-type]


class TopologyStateError(LabkitError, RuntimeError):
    """The operation does not fit the lab's lifecycle (for example starting it twice)."""


class ClusterNotReadyError(LabkitError, TimeoutError):
    """The cluster did not reach cluster_state:ok with an agreed slot map in time."""


class NoLabError(LabkitError):
    """No lab started by `labkit up` is running for this user."""


class FailoverError(LabkitError):
    """A failover could not be done, or did not finish in time; the message says why and what to do."""


class ScalingError(LabkitError):
    """A scaling step could not be done (or a copy did not verify); the message says what to do."""


class SnapshotError(LabkitError):
    """A snapshot (backup) could not be taken, its files are gone, or it cannot be restored
    into the lab asked for; the message says what to do."""


class ProbeError(LabkitError):
    """The probe could not read its keys back; the message says what to do."""

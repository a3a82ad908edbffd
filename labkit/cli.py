"""`labkit up | status | down | doctor`: labs from a terminal, for facilitators and the curious.

Example::

    $ labkit up --mode cluster --shards 3 --replicas 2
    $ labkit status
    $ labkit down
"""

from __future__ import annotations

import argparse
import sys
import time

from .doctor import doctor
from .errors import LabkitError, NoLabError
from .session import attach, detached_record, multi_az_monitor_pid
from .topology import LabSpec, Topology


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="Start, inspect and stop Redis/Valkey labs.")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a lab that keeps running after this command returns")
    up.add_argument("--mode", choices=("standalone", "replication", "cluster"), default="cluster")
    up.add_argument("--shards", type=int, default=3, help="cluster mode: number of shards (default 3)")
    up.add_argument("--replicas", type=int, default=2, help="replicas per shard or group, 0-5 (default 2)")
    up.add_argument("--azs", default="az-a,az-b,az-c", help="comma-separated availability zones (default az-a,az-b,az-c)")
    up.add_argument("--node-timeout-ms", type=int, default=1000, help="cluster-node-timeout (default 1000 ms)")
    up.add_argument("--server", default=None, help="path to redis-server or valkey-server (default: $LABKIT_SERVER or the bundled Valkey)")
    commands.add_parser("status", help="show the nodes of the lab started by `labkit up`")
    commands.add_parser("down", help="stop the lab started by `labkit up`")
    check = commands.add_parser("doctor", help="check the server binary, ports and libraries")
    check.add_argument("--server", default=None)
    return parser


def spec_from_arguments(args: argparse.Namespace) -> LabSpec:
    """The LabSpec `labkit up` arguments describe (validated there, with the same messages as in Python)."""
    azs = tuple(part.strip() for part in args.azs.split(","))
    common = {"server": args.server, "node_timeout_ms": args.node_timeout_ms, "azs": azs}
    if args.mode == "standalone":
        return LabSpec("standalone", **{**common, "azs": azs[:1]})
    if args.mode == "replication":
        return LabSpec("replication", replicas=args.replicas, automatic_failover=args.replicas > 0, **common)
    return LabSpec("cluster", shards=args.shards, replicas=args.replicas, **common)


def _build(args: argparse.Namespace) -> Topology:
    return Topology.from_spec(spec_from_arguments(args))


def up(args: argparse.Namespace) -> int:
    if detached_record() is not None:
        raise LabkitError("A lab started by `labkit up` is already running: see `labkit status`, or stop it with `labkit down`.")
    topology = _build(args)
    topology.detached = True  # its servers outlive this command; `labkit down` stops them
    began = time.monotonic()

    def progress(message: str) -> None:
        print(f"  {time.monotonic() - began:6.2f} s  {message}", flush=True)

    print(f"labkit up: {args.mode}")
    topology.start(progress=progress)
    assert topology.engine is not None
    print(f"  {time.monotonic() - began:6.2f} s  ready ({topology.engine.display_name})\n")
    print(topology.table())
    print("\nUse it from a notebook with `lab = labkit.attach()`; stop it with `labkit down`.")
    if topology.spec.automatic_failover:
        print("Automatic failover (the Multi-AZ monitor) runs in a process attached to the lab: keep a notebook attached.")
    return 0


def status(_args: argparse.Namespace) -> int:
    lab = attach(background=False)
    lab.refresh()
    print(f"{lab.kind} lab started by `labkit up`, {lab.engine.display_name if lab.engine else ''}\n")
    print(lab.table())
    if lab.spec.automatic_failover:
        pid = multi_az_monitor_pid()
        where = f"runs in process {pid}" if pid else "is not running: it starts when a notebook attaches (`labkit.attach()`)"
        print(f"\nThe Multi-AZ monitor {where}.")
    return 0


def down(_args: argparse.Namespace) -> int:
    lab = attach(background=False)
    count = len(lab.nodes)
    lab.stop()
    print(f"labkit down: stopped {count} node(s) and removed the lab's files.")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "doctor":
            report = doctor(server=args.server)
            print(report)
            return 0 if report.ok else 1
        return {"up": up, "status": status, "down": down}[args.command](args)
    except NoLabError as error:
        print(f"labkit {args.command}: {error}", file=sys.stderr)
        return 1
    except LabkitError as error:
        print(f"labkit {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labkit: interrupted; whatever had started was stopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Resharding as an application sees it: `add_shard()` with atomic slot migration against key-by-key moves.

Each run starts a 3-shard x 1-replica cluster holding 10,000 keys, points a STOCK redis-py
`RedisCluster` (no labkit fixes) at one of its nodes, runs a `labkit.Probe` through it (writes of
new keys, reads of written ones), and adds a shard with `method="atomic"` or `method="keys"`.
Prints, as medians of `--runs` runs per method (min-max), side by side:

- seconds for the whole `add_shard()` (start 2 nodes, join them, move 4,096 slots), and for the
  slot move alone (from the fault log's add_shard event to its rebalance event);
- failed client operations, and their kinds (redis-py cannot follow ASK to a node it never saw);
- MOVED and ASK redirects the servers sent meanwhile (INFO errorstats, `cluster.redirect_counts()`);
- acknowledged writes lost (every acknowledged key read back at the end).

Targets for atomic: <= 3 s for the whole add_shard, 0 failed operations. On an engine without
CLUSTER MIGRATESLOTS (Redis OSS, Valkey < 9) the atomic column is skipped with the reason.
The machine may be shared (other labs, other users): figures vary with its load.

    python benchmarks/resharding.py [--runs 5] [--keys 10000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

import redis

import labkit
from labkit import Probe


@dataclass
class Runs:
    """The figures of one method, one entry per run."""

    seconds: list[float] = field(default_factory=list)
    move_seconds: list[float] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    operations: list[int] = field(default_factory=list)
    moved: list[int] = field(default_factory=list)
    asked: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    failure_kinds: Counter = field(default_factory=Counter)


def one_run(method: str, keys: int, runs: Runs) -> None:
    with labkit.Cluster(shards=3, replicas=1) as cluster:
        loader = cluster.client()
        pipe = loader.pipeline(transaction=False)
        for number in range(keys):
            pipe.set(f"user:{number}", f"profile-{number}")
        pipe.execute()
        loader.close()
        app = redis.RedisCluster(host="127.0.0.1", port=cluster.primary(0).port, decode_responses=True)
        try:
            mark = len(cluster.fault_log)
            before = cluster.redirect_counts()
            with Probe(app) as probe:
                began = time.perf_counter()
                cluster.add_shard(method=method)
                runs.seconds.append(time.perf_counter() - began)
                after = cluster.redirect_counts()
            events = {event.action: event.time for event in cluster.fault_log[mark:]}
            runs.move_seconds.append(events["rebalance"] - events["add_shard"])
            result = probe.result
            runs.failed.append(len(result.failed))
            runs.operations.append(len(result.operations))
            runs.failure_kinds.update(result.errors_by_kind)
            runs.moved.append(after["MOVED"] - before["MOVED"])
            runs.asked.append(after["ASK"] - before["ASK"])
            runs.lost.append(result.acknowledged_writes_lost)
            values = app.mget_nonatomic([f"user:{number}" for number in range(keys)])
            missing = sum(value != f"profile-{number}" for number, value in enumerate(values))
            if missing:
                raise SystemExit(f"{method}: {missing} of {keys} keys missing after add_shard")
        finally:
            app.close()


def spread(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keys", type=int, default=10_000)
    args = parser.parse_args()
    engine = labkit.find_engine()
    with labkit.Cluster(shards=1, replicas=0, azs=("az-a",)) as probe_cluster:
        atomic = probe_cluster.supports_atomic_slot_migration()
    methods = ["atomic", "keys"] if atomic else ["keys"]
    print(f"engine: {engine.display_name}; add_shard on 3x1 with {args.keys:,} keys under a stock redis-py "
          f"{redis.__version__} RedisCluster; {args.runs} runs per method; medians (min-max)", flush=True)
    if not atomic:
        print(f"atomic: skipped, {engine.display_name} has no CLUSTER MIGRATESLOTS (COMMAND INFO); Valkey 9.0 added it", flush=True)
    figures = {method: Runs() for method in methods}
    for number in range(args.runs):
        for method in methods:  # interleaved, so both methods meet the same machine load
            one_run(method, args.keys, figures[method])
        print(f"  run {number + 1}/{args.runs} done", flush=True)

    width = 26
    print(f"\n{'':<28}" + "".join(f"{method:>{width}}" for method in methods))
    rows = [
        ("add_shard seconds", lambda runs: spread(runs.seconds)),
        ("  of which moving slots", lambda runs: spread(runs.move_seconds)),
        ("failed operations", lambda runs: spread(runs.failed, 0)),
        ("operations made", lambda runs: spread(runs.operations, 0)),
        ("MOVED redirects", lambda runs: spread(runs.moved, 0)),
        ("ASK redirects", lambda runs: spread(runs.asked, 0)),
        ("acknowledged writes lost", lambda runs: str(sum(runs.lost))),
    ]
    for label, cell in rows:
        print(f"{label:<28}" + "".join(f"{cell(figures[method]):>{width}}" for method in methods))
    for method in methods:
        kinds = dict(figures[method].failure_kinds)
        print(f"{method}: failures by kind in all runs: {kinds or 'none'}")
    if atomic:
        runs = figures["atomic"]
        verdict = "met" if statistics.median(runs.seconds) <= 3.0 and sum(runs.failed) == 0 else "NOT met"
        print(f"target for atomic (median add_shard <= 3 s, 0 failed operations): {verdict}")


if __name__ == "__main__":
    main()

"""What a client experiences when things fail or scale, measured with labkit.Probe.

Prints, as medians of several runs on this machine:

1. write-unavailability after SIGKILL of a cluster primary (node timeout 1000 ms), seen by a
   RedisCluster client writing keys of that shard (target <= 2.0 s with the bundled Valkey);
2. write-unavailability after SIGKILL of a replication-group primary, seen through the primary
   endpoint (target <= 1.0 s);
3. a graceful failover (cluster `test_failover(shard)` and replication group `test_failover()`):
   the longest time without a successful write, and acknowledged writes lost (targets <= 0.1 s and 0);
4. `add_shard()` on a 3x1 cluster holding 10,000 keys under traffic: duration and failed client
   operations (targets <= 10 s and 0).

The machine may be shared (other labs, other users): figures vary with its load.

    python benchmarks/failover.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import labkit
from labkit import Probe


def settle(seconds: float = 0.3) -> None:
    time.sleep(seconds)  # let the probe record some normal traffic before and after the event


def cluster_kill(runs: int) -> list[float]:
    figures = []
    with labkit.Cluster(shards=3, replicas=1, node_timeout_ms=1000) as cluster:
        for _ in range(runs):
            tag = cluster.hash_tag_for(0)
            with Probe(cluster, read=False, key_prefix=f"{tag}:probe:{time.time_ns()}:") as probe:
                settle()
                old = cluster.primary(0)
                cluster.kill(old)
                cluster.wait_for_failover(0, since=old)
                settle(0.5)
            figures.append(probe.result.write_unavailable_s)
            cluster.restart(old)  # rejoins as a replica: the next run kills the new primary
    return figures


def group_kill(runs: int) -> list[float]:
    figures = []
    with labkit.ReplicationGroup(replicas=2) as group:
        for _ in range(runs):
            with Probe(group.primary_endpoint, read=False) as probe:
                settle()
                old = group.primary()
                group.kill(old)
                group.wait_for_failover(since=old)
                settle(0.5)
            figures.append(probe.result.write_unavailable_s)
            group.restart(old)
    return figures


def graceful(runs: int) -> tuple[list[float], list[int], list[float], list[int]]:
    """The longest stretch without a successful write (failed writes included), and the losses."""
    cluster_gaps, cluster_lost, group_gaps, group_lost = [], [], [], []
    with labkit.Cluster(shards=3, replicas=1) as cluster:
        for _ in range(runs):
            tag = cluster.hash_tag_for(0)
            with Probe(cluster, read=False, key_prefix=f"{tag}:probe:{time.time_ns()}:") as probe:
                settle()
                cluster.test_failover(0)
                settle()
            cluster_gaps.append(probe.result.longest_gap_s("write"))
            cluster_lost.append(probe.result.acknowledged_writes_lost)
    with labkit.ReplicationGroup(replicas=2) as group:
        for _ in range(runs):
            with Probe(group.primary_endpoint, read=False) as probe:
                settle()
                group.test_failover()
                settle()
            group_gaps.append(probe.result.longest_gap_s("write"))
            group_lost.append(probe.result.acknowledged_writes_lost)
    return cluster_gaps, cluster_lost, group_gaps, group_lost


def add_shard(runs: int, keys: int = 10_000) -> tuple[list[float], list[int], list[int]]:
    durations, failed, operations = [], [], []
    for _ in range(runs):
        with labkit.Cluster(shards=3, replicas=1) as cluster:
            pipe = cluster.client().pipeline(transaction=False)
            for number in range(keys):
                pipe.set(f"user:{number}", number)
            pipe.execute()
            with Probe(cluster) as probe:
                began = time.perf_counter()
                cluster.add_shard()
                durations.append(time.perf_counter() - began)
            failed.append(len(probe.result.failed))
            operations.append(len(probe.result.operations))
            assert probe.result.acknowledged_writes_lost == 0
    return durations, failed, operations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    engine = labkit.find_engine()
    median = statistics.median
    print(f"engine: {engine.display_name}; {args.runs} runs each; medians (min-max)\n", flush=True)

    figures = cluster_kill(args.runs)
    print(f"cluster primary SIGKILL -> writes back: {median(figures):.3f} s ({min(figures):.3f}-{max(figures):.3f})  target <= 2.0 s", flush=True)

    figures = group_kill(args.runs)
    print(f"replication-group primary SIGKILL (primary endpoint) -> writes back: {median(figures):.3f} s "
          f"({min(figures):.3f}-{max(figures):.3f})  target <= 1.0 s", flush=True)

    cluster_windows, cluster_lost, group_windows, group_lost = graceful(args.runs)
    print(f"graceful failover, cluster: longest write gap {median(cluster_windows):.3f} s "
          f"({min(cluster_windows):.3f}-{max(cluster_windows):.3f}), acknowledged writes lost {sum(cluster_lost)} in all runs  "
          "target <= 0.1 s, 0", flush=True)
    print(f"graceful failover, replication group: longest write gap {median(group_windows):.3f} s "
          f"({min(group_windows):.3f}-{max(group_windows):.3f}), acknowledged writes lost {sum(group_lost)} in all runs  "
          "target <= 0.1 s, 0", flush=True)

    durations, failed, operations = add_shard(args.runs)
    print(f"add_shard on 3x1 with 10,000 keys under traffic: {median(durations):.2f} s "
          f"({min(durations):.2f}-{max(durations):.2f}), failed client operations {sum(failed)} of {sum(operations)}  "
          "target <= 10 s, 0", flush=True)


if __name__ == "__main__":
    main()

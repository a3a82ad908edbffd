"""What a client experiences when things fail or scale, measured with labkit.Probe.

Prints, as medians of several runs on this machine:

1. write-unavailability after SIGKILL of a cluster primary (node timeout 1000 ms), seen by a stock
   `redis.RedisCluster` (default options) writing keys of that shard, on 3 shards x 1 and x 2
   replicas (target <= 1.5 s with the bundled Valkey), and when the engine itself had promoted a
   replica (ROLE polled every 2 ms);
2. write-unavailability after SIGKILL of a replication-group primary, seen through the primary
   endpoint (target <= 1.0 s);
3. a graceful failover (cluster `test_failover(shard)` and replication group `test_failover()`):
   the longest time without a successful write, and acknowledged writes lost (targets <= 0.1 s and 0);
4. `add_shard()` on a 3x1 cluster holding 10,000 keys under traffic: duration and failed client
   operations (targets <= 10 s and 0).

The machine may be shared (other labs, other users): figures vary with its load.

    python benchmarks/failover.py [--runs 5] [--only cluster-kill] [--config cluster-ping-interval=0]

`--config` passes server settings to every lab (`cluster-ping-interval=0` restores Valkey's own
default, half the node timeout, to compare with labkit's tenth); LABKIT_SERVER picks the engine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import redis

import labkit
from labkit import Probe

#: Server settings for every lab of this run (--config).
CONFIG: dict[str, str] = {}


def settle(seconds: float = 0.3) -> None:
    time.sleep(seconds)  # let the probe record some normal traffic before and after the event


def engine_promotion_s(replicas: list, began: float, timeout: float = 30.0) -> float:
    """Seconds from `began` until one of `replicas` answers ROLE as a primary."""
    clients = [node.client(socket_timeout=0.5, socket_connect_timeout=0.5) for node in replicas]
    try:
        while time.monotonic() - began < timeout:
            for client in clients:
                try:
                    if client.execute_command("ROLE")[0] == "master":
                        return time.monotonic() - began
                except redis.RedisError:
                    pass
            time.sleep(0.002)
        return float("nan")
    finally:
        for client in clients:
            client.close()


def cluster_kill(runs: int, replicas: int = 1) -> tuple[list[float], list[float]]:
    """(write-unavailability seen by a stock RedisCluster, the engine's promotion time) per run."""
    writes_back, promoted = [], []
    with labkit.Cluster(shards=3, replicas=replicas, node_timeout_ms=1000, config=CONFIG) as cluster:
        # A stock client, as a learner or an application makes one: default retries and timeouts.
        client = redis.RedisCluster(host="127.0.0.1", port=cluster.primary(1).port)
        for _ in range(runs):
            tag = cluster.hash_tag_for(0)
            with Probe(client, read=False, key_prefix=f"{tag}:probe:{time.time_ns()}:") as probe:
                settle()
                old = cluster.primary(0)
                candidates = cluster.replicas(0)
                began = time.monotonic()
                cluster.kill(old)
                promoted.append(engine_promotion_s(candidates, began))
                cluster.wait_for_failover(0, since=old)
                settle(1.0)
            writes_back.append(probe.result.write_unavailable_s)
            cluster.restart(old)  # rejoins as a replica: the next run kills the new primary
            cluster.wait_converged(30)
        client.close()
    return writes_back, promoted


def group_kill(runs: int) -> list[float]:
    figures = []
    with labkit.ReplicationGroup(replicas=2, config=CONFIG) as group:
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
    with labkit.Cluster(shards=3, replicas=1, config=CONFIG) as cluster:
        for _ in range(runs):
            tag = cluster.hash_tag_for(0)
            with Probe(cluster, read=False, key_prefix=f"{tag}:probe:{time.time_ns()}:") as probe:
                settle()
                cluster.test_failover(0)
                settle()
            cluster_gaps.append(probe.result.longest_gap_s("write"))
            cluster_lost.append(probe.result.acknowledged_writes_lost)
    with labkit.ReplicationGroup(replicas=2, config=CONFIG) as group:
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
        with labkit.Cluster(shards=3, replicas=1, config=CONFIG) as cluster:
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


BENCHMARKS = ("cluster-kill", "group-kill", "graceful", "add-shard")


def spread(figures: list[float], digits: int = 3) -> str:
    return f"{statistics.median(figures):.{digits}f} s ({min(figures):.{digits}f}-{max(figures):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run only these (repeatable)")
    parser.add_argument("--config", action="append", default=[], metavar="NAME=VALUE", help="a server setting for every lab")
    args = parser.parse_args()
    CONFIG.update(setting.split("=", 1) for setting in args.config)
    chosen = set(args.only or BENCHMARKS)
    engine = labkit.find_engine()
    settings = f"; config {CONFIG}" if CONFIG else ""
    print(f"engine: {engine.display_name}; {args.runs} runs each; medians (min-max){settings}\n", flush=True)

    if "cluster-kill" in chosen:
        for replicas in (1, 2):
            writes_back, promoted = cluster_kill(args.runs, replicas)
            print(f"cluster 3x{replicas} primary SIGKILL -> writes back (stock RedisCluster): {spread(writes_back)}  target <= 1.5 s; "
                  f"replica promoted by the engine after {spread(promoted)}", flush=True)
    if "group-kill" in chosen:
        figures = group_kill(args.runs)
        print(f"replication-group primary SIGKILL (primary endpoint) -> writes back: {spread(figures)}  target <= 1.0 s", flush=True)

    if "graceful" in chosen:
        cluster_windows, cluster_lost, group_windows, group_lost = graceful(args.runs)
        print(f"graceful failover, cluster: longest write gap {spread(cluster_windows)}, "
              f"acknowledged writes lost {sum(cluster_lost)} in all runs  target <= 0.1 s, 0", flush=True)
        print(f"graceful failover, replication group: longest write gap {spread(group_windows)}, "
              f"acknowledged writes lost {sum(group_lost)} in all runs  target <= 0.1 s, 0", flush=True)

    if "add-shard" in chosen:
        durations, failed, operations = add_shard(args.runs)
        print(f"add_shard on 3x1 with 10,000 keys under traffic: {spread(durations, 2)}, "
              f"failed client operations {sum(failed)} of {sum(operations)}  target <= 10 s, 0", flush=True)


if __name__ == "__main__":
    main()

"""How fast labkit builds clusters, tears them down, and what a node costs in memory.

Prints, as medians of several runs on this machine: the time from launching the processes to a
ready cluster (every node cluster_state:ok, one slot map, every replica link up) for 3x1, 3x2
and 15x2 clusters; the teardown time; the resident memory of an idle node. Where `redis-cli` is
installed, the same clusters are also built the classic way (`redis-cli --cluster create`) and
waited for with the same readiness check, in the same run, and the ratio is printed.

Targets on a 2-core machine: 3x2 ready within 2.3 s (the engine itself will not declare a fresh
cluster ok sooner than about 2.0 s after start), 15x2 within 6 s, teardown of 9 nodes within 0.2 s.

    python benchmarks/cluster_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import redis

import labkit
from labkit.node import Role
from labkit.topology.cluster import Cluster

SHAPES = [(3, 1), (3, 2), (15, 2)]


class ClassicCluster(Cluster):
    """The same nodes, joined by `redis-cli --cluster create` instead of labkit's direct commands."""

    def _build(self, progress) -> None:
        specs = [(f"node-{index}", Role.PRIMARY, None, self.azs[index % len(self.azs)], {"cluster": True})
                 for index in range(self.shard_count * (1 + self.replica_count))]
        nodes = self._new_nodes(specs)
        self._launch(nodes)
        subprocess.run(
            [shutil.which("redis-cli"), "--cluster", "create", *(f"127.0.0.1:{node.port}" for node in nodes),
             "--cluster-replicas", str(self.replica_count), "--cluster-yes"],
            check=True, capture_output=True, timeout=120,
        )
        self.refresh()
        clients = {node.port: node.client() for node in nodes}
        for node in nodes:
            self.node_ids[node.port] = clients[node.port].execute_command("CLUSTER", "MYID")
        self._wait_ready(clients)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def measure(cls, shards: int, replicas: int) -> tuple[float, float, float]:
    lab = cls(shards=shards, replicas=replicas)
    began = time.perf_counter()
    lab.start()
    ready = time.perf_counter() - began
    memory = statistics.median(rss_bytes(node.pid) for node in lab.nodes) if Path("/proc").exists() else float("nan")
    began = time.perf_counter()
    lab.stop()
    teardown = time.perf_counter() - began
    return ready, teardown, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    engine = labkit.find_engine()
    classic = shutil.which("redis-cli") is not None
    print(f"engine: {engine.display_name} ({engine.path}); {args.runs} runs each; medians\n")
    header = f"{'cluster':>8} {'nodes':>5} {'ready s':>8} {'teardown s':>10} {'RSS/node MB':>11}"
    print(header + (f" {'redis-cli ready s':>17} {'labkit/classic':>14}" if classic else ""))
    for shards, replicas in SHAPES:
        runs = [measure(Cluster, shards, replicas) for _ in range(args.runs)]
        ready = statistics.median(run[0] for run in runs)
        teardown = statistics.median(run[1] for run in runs)
        memory = statistics.median(run[2] for run in runs) / 2**20
        line = f"{shards}x{replicas:<6} {shards * (1 + replicas):>5} {ready:>8.3f} {teardown:>10.3f} {memory:>11.1f}"
        if classic:
            try:
                classic_ready = statistics.median(measure(ClassicCluster, shards, replicas)[0] for _ in range(args.runs))
                line += f" {classic_ready:>17.3f} {ready / classic_ready:>14.2f}"
            except (subprocess.CalledProcessError, redis.RedisError, labkit.LabkitError) as error:
                line += f"  redis-cli failed: {error}"
        print(line, flush=True)
    if not classic:
        print("\n(redis-cli not installed: no comparison with `redis-cli --cluster create`; apt-get install redis-tools)")


if __name__ == "__main__":
    main()

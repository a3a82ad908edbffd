"""How long a backup and a restore take: a 3x1 cluster with N keys snapshotted, then restored into 2x1.

Prints the snapshot time (BGSAVE on each shard's replica, files moved), the restore time (what
`from_snapshot=` adds to starting an empty 2x1 cluster: a temporary server per RDB file, DUMP/PTTL
and RESTORE), and keys restored per second.

    python benchmarks/backup.py [--keys 100000]
"""

from __future__ import annotations

import argparse
import time

import labkit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    keys = parser.parse_args().keys
    with labkit.Cluster(shards=3, replicas=1) as cluster:
        client = cluster.client()
        for start in range(0, keys, 10_000):
            with client.pipeline(transaction=False) as pipe:
                for number in range(start, min(start + 10_000, keys)):
                    pipe.set(f"key:{number}", "x" * 100, ex=3600 if number % 2 else None)
                pipe.execute()
        started = time.perf_counter()
        snapshot = cluster.snapshot()
        took_snapshot = time.perf_counter() - started
    with snapshot:
        started = time.perf_counter()
        labkit.Cluster(shards=2, replicas=1).start().stop()
        empty = time.perf_counter() - started
        started = time.perf_counter()
        with labkit.Cluster(shards=2, replicas=1, from_snapshot=snapshot) as restored:
            seeded = time.perf_counter() - started
            assert restored.restored_keys == keys
    restore = max(seeded - empty, 1e-9)
    print(f"{keys:,} keys of 100 bytes, half with a TTL, 3x1 cluster -> 2x1 cluster")
    print(f"snapshot (3 replicas BGSAVE, files moved): {took_snapshot:6.2f} s")
    print(f"restore (start with from_snapshot= minus an empty start): {restore:6.2f} s, {keys / restore:,.0f} keys/s")


if __name__ == "__main__":
    main()

"""Run the notebooks that promise to work on *your own server* against one, under nbval.

The README says the data-structure and pattern notebooks work with `LABKIT_REDIS_URL`, cluster mode
or not. This proves it: it starts a local cluster (cluster mode enabled, the way an ElastiCache
configuration endpoint behaves for a client) and a replication group (cluster mode disabled; the
URL points at its primary, like a primary endpoint), and runs those notebooks with
`LABKIT_REDIS_URL` set to each, so `labkit.connect()` uses it instead of a local server.

    .venv/bin/python tools/own_server.py                   # both modes, every such notebook
    .venv/bin/python tools/own_server.py --mode cluster 01_strings_and_counters
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import labkit

ROOT = Path(__file__).resolve().parent.parent
#: The notebooks that work against any server (the README lists the same).
OWN_SERVER_NOTEBOOKS = (
    "00_welcome", "01_strings_and_counters", "02_lists_and_queues", "03_hashes_and_sessions",
    "04_sets_and_dedup", "05_sorted_sets_leaderboards", "06_bitmaps_and_hyperloglog", "07_geospatial",
    "08_pubsub_and_chat", "09_time_series", "10_streams_and_consumer_groups", "18_streaming_pipelines",
)


def _lab(mode: str) -> labkit.Cluster | labkit.ReplicationGroup:
    return labkit.Cluster(shards=3, replicas=1) if mode == "cluster" else labkit.ReplicationGroup(replicas=1)


def run(mode: str, names: list[str], pytest_args: list[str], capture: bool = False) -> int:
    """Start a lab of `mode`, run nbval on `names` with LABKIT_REDIS_URL pointing at it; pytest's exit code."""
    paths = [str(ROOT / "notebooks" / f"{name}.ipynb") for name in names]
    with _lab(mode) as lab:
        url = f"redis://127.0.0.1:{lab.primary(0).port}"
        print(f"own server, {mode} mode: LABKIT_REDIS_URL={url}", flush=True)
        # The checks' outcomes go to a throw-away progress file, not the user's own.
        progress = os.path.join(tempfile.mkdtemp(prefix="labkit-progress-"), "progress.json")
        env = {"LABKIT_PROGRESS_FILE": progress, **os.environ, "LABKIT_REDIS_URL": url}
        command = [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q", *pytest_args, *paths]
        if not capture:
            return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        # Run beside the other mode: print this mode's report in one piece when it is done.
        finished = subprocess.run(command, cwd=ROOT, env=env, check=False, capture_output=True, text=True)
        print(f"--- own server, {mode} mode ---\n{finished.stdout}{finished.stderr}", flush=True)
        return finished.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"notebooks (default: {', '.join(OWN_SERVER_NOTEBOOKS)})")
    parser.add_argument("--mode", choices=("cluster", "replication", "both"), default="both")
    options, pytest_args = parser.parse_known_args(argv)
    names = [name.removesuffix(".ipynb").rsplit("/", 1)[-1] for name in options.names] or list(OWN_SERVER_NOTEBOOKS)
    unknown = [name for name in names if not (ROOT / "notebooks" / f"{name}.ipynb").exists()]
    if unknown:
        parser.error(f"no such notebook: {', '.join(unknown)}")
    modes = ("cluster", "replication") if options.mode == "both" else (options.mode,)
    # The two modes use two separate labs, so they run side by side (each notebook waits on its server
    # more than it computes); within a mode the notebooks share one server and run one after another.
    with ThreadPoolExecutor(max_workers=len(modes)) as pool:
        codes = list(pool.map(lambda mode: run(mode, names, pytest_args, capture=len(modes) > 1), modes))
    failed = [mode for mode, code in zip(modes, codes) if code != 0]
    if failed:
        print(f"own server: notebooks failed in {' and '.join(failed)} mode", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

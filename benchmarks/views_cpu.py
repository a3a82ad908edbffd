"""CPU cost of a live TopologyView + Dashboard on a 9-node cluster (3 shards x 2 replicas) refreshed 4 times a second.

Target: at most 5% of one core (process CPU time / wall time).

Two measurements:
- in a real Jupyter kernel (what a learner runs): the views are displayed, so every refresh is
  serialised and sent on the kernel's iopub channel; the kernel's CPU is read from /proc (Linux);
- in this process (anywhere): the same views, updates serialised for a front end that is not there.

The servers' own CPU is not counted (they are separate processes). The kernel figure is the whole
kernel process; the idle kernel's own share (measured first, with the cluster started but no views)
is printed beside it.

    .venv/bin/python benchmarks/views_cpu.py [--seconds 30] [--interval 0.25] [--mode kernel|inprocess|both]
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time

TARGET_PERCENT = 5.0

CLUSTER = """
import labkit, time
cluster = labkit.Cluster(shards=3, replicas=2).start()
client = cluster.client()
for number in range(300):
    client.set(f"key:{number}", number)
"""

SETUP = """
topology_view = labkit.viz.TopologyView(cluster)
dashboard = labkit.viz.Dashboard(cluster)
topology_view.watch({interval}, display={display})
dashboard.watch({interval}, display={display})
"""

REPORT = """
print(topology_view.updates, dashboard.updates, repr(topology_view.error), repr(dashboard.error))
"""

TEARDOWN = """
topology_view.stop(); dashboard.stop(); cluster.stop()
"""


def in_process(seconds: float, interval: float) -> float:
    scope: dict = {}
    exec(CLUSTER, scope)
    exec(SETUP.format(interval=interval, display=False), scope)
    try:
        time.sleep(2 * interval)  # let the first refreshes (which build the traces) pass
        before_updates = scope["topology_view"].updates
        wall0, cpu0 = time.perf_counter(), time.process_time()
        time.sleep(seconds)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        updates = scope["topology_view"].updates - before_updates
    finally:
        exec(TEARDOWN, scope)
    percent = 100 * cpu / wall
    print(f"in-process: {percent:.2f}% of one core ({cpu:.2f} s CPU in {wall:.1f} s wall, "
          f"{updates / wall:.2f} refreshes/s per view, 2 views)")
    return percent


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def in_kernel(seconds: float, interval: float) -> float | None:
    if not os.path.exists("/proc/self/stat"):
        print("kernel: skipped (needs Linux /proc to read the kernel's CPU time)")
        return None
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        pid = manager.provisioner.process.pid

        def run(code: str) -> str:
            out: list[str] = []

            def hook(message: dict) -> None:
                if message["msg_type"] == "stream":
                    out.append(message["content"]["text"])
                elif message["msg_type"] == "error":
                    out.append("\n".join(message["content"]["traceback"]))

            reply = client.execute_interactive(code, timeout=120, output_hook=hook)
            if reply["content"]["status"] != "ok":
                raise RuntimeError("".join(out) or str(reply["content"]))
            return "".join(out)

        run(CLUSTER)
        idle_wall0, idle_cpu0 = time.perf_counter(), _cpu_seconds(pid)
        time.sleep(min(10.0, seconds / 3))
        idle_percent = 100 * (_cpu_seconds(pid) - idle_cpu0) / (time.perf_counter() - idle_wall0)
        run(SETUP.format(interval=interval, display=True))
        try:
            time.sleep(2 * interval)
            first = run(REPORT).split()
            wall0, cpu0 = time.perf_counter(), _cpu_seconds(pid)
            # Drain iopub (display updates, comm messages) while waiting, as a front end would.
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    client.get_iopub_msg(timeout=0.2)
                except Exception:
                    pass
            wall, cpu = time.perf_counter() - wall0, _cpu_seconds(pid) - cpu0
            last = run(REPORT).split()
        finally:
            run(TEARDOWN)
        updates = int(last[0]) - int(first[0])
        percent = 100 * cpu / wall
        print(f"kernel:     {percent:.2f}% of one core ({cpu:.2f} s CPU in {wall:.1f} s wall, "
              f"{updates / wall:.2f} refreshes/s per view, 2 views; errors: {last[2]} {last[3]})")
        print(f"            of which the idle kernel (cluster started, no views): {idle_percent:.2f}%; "
              f"the views themselves: {percent - idle_percent:.2f}%")
        return percent
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--mode", choices=("kernel", "inprocess", "both"), default="both")
    options = parser.parse_args()
    print(textwrap.dedent(f"""\
        views_cpu: TopologyView + Dashboard on a 3x2 cluster, refreshed every {options.interval} s for {options.seconds:.0f} s
        target: <= {TARGET_PERCENT}% of one core"""))
    results = []
    if options.mode in ("inprocess", "both"):
        results.append(in_process(options.seconds, options.interval))
    if options.mode in ("kernel", "both"):
        results.append(in_kernel(options.seconds, options.interval))
    measured = [value for value in results if value is not None]
    worst = max(measured)
    print(f"worst: {worst:.2f}% of one core -> {'within' if worst <= TARGET_PERCENT else 'OVER'} the {TARGET_PERCENT}% target")
    return 0


if __name__ == "__main__":
    sys.exit(main())

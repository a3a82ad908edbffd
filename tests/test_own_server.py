"""The notebooks that promise to work on *your own server* (00–10, 18), run under nbval against a
local cluster and against a replication group's primary through LABKIT_REDIS_URL (tools/own_server.py).

Each mode is one test, so `make test` runs them beside the rest of the suite on its workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("mode", ["cluster", "replication"])
def test_own_server_notebooks_pass_nbval_against_a_server_in_mode(mode):
    finished = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "own_server.py"), "--mode", mode],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    report = (finished.stdout + finished.stderr)[-6000:]
    assert finished.returncode == 0, f"own server, {mode} mode:\n{report}"
    assert " passed" in finished.stdout and " failed" not in finished.stdout, report

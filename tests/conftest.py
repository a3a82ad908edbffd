"""Shared fixtures: real servers, started once per session where tests only need a clean database."""

from __future__ import annotations

import os
import tempfile

import pytest

# Exercise checks record the learner's progress; tests (and the notebook kernels they start, which
# inherit this environment) keep theirs in a throw-away file, never in the user's own.
os.environ.setdefault("LABKIT_PROGRESS_FILE", os.path.join(tempfile.mkdtemp(prefix="labkit-progress-"), "progress.json"))

import labkit
from fault_support import SHARED_LABS, reset_lab


@pytest.fixture(scope="session")
def standalone():
    with labkit.Standalone() as lab:
        yield lab


@pytest.fixture()
def fresh_client(standalone):
    client = standalone.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def redis_oss_server():
    """A Redis OSS binary (CI installs Debian's); skipped locally when there is none."""
    import os
    import shutil

    path = os.environ.get("LABKIT_TEST_REDIS_SERVER") or shutil.which("redis-server")
    if not path:
        if os.environ.get("LABKIT_REQUIRE_REDIS_OSS") == "1":
            pytest.fail("LABKIT_REQUIRE_REDIS_OSS=1 but no Redis OSS binary: set LABKIT_TEST_REDIS_SERVER")
        pytest.skip("no Redis OSS binary here; set LABKIT_TEST_REDIS_SERVER=/path/to/redis-server (.ci/run does)")
    return path


@pytest.fixture(scope="session")
def cluster():
    """A 3 shards x 2 replicas cluster shared by every test that only reads it (tests must leave it
    healthy: same roles, no keys of their own left behind)."""
    with labkit.Cluster(shards=3, replicas=2) as lab:
        yield lab


@pytest.fixture()
def small_cluster():
    """A fresh 2 shards x 1 replica cluster for a test that fails over or reshards it."""
    with labkit.Cluster(shards=2, replicas=1) as lab:
        yield lab


@pytest.fixture(scope="session")
def _shared_cluster_3x1():
    with labkit.Cluster(shards=3, replicas=1) as lab:
        SHARED_LABS.append(lab)
        yield lab
        SHARED_LABS.remove(lab)


@pytest.fixture()
def cluster_3x1(_shared_cluster_3x1):
    """A 3 shards x 1 replica cluster shared by the tests that kill, fail over or fail an AZ of it:
    reset to its built layout (every node up, the built primaries primary) before each test."""
    reset_lab(_shared_cluster_3x1)
    return _shared_cluster_3x1

"""How `make test` spreads the suite over parallel workers (pytest-xdist, `-n 4`).

Most of the suite waits on servers rather than computing, so four workers on two cores finish much
sooner than one. The work units are:

- one notebook: nbval runs its cells one after another in one kernel, so they stay together, in order;
- one test module: its tests share module-level labs;
- except the exercise harness, whose cases (one notebook each) are independent units, and the two
  own-server runs (tests/test_own_server.py), one unit each.
"""

from __future__ import annotations

import pytest

HARNESS = "tests/test_exercises_in_notebooks.py"
OWN_SERVER = "tests/test_own_server.py"


def _work_unit(nodeid: str) -> str:
    if nodeid.startswith((HARNESS + "::", OWN_SERVER + "::")):
        return nodeid
    return nodeid.split("::", 1)[0] if ".ipynb::" in nodeid else nodeid.rsplit("::", 1)[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The longest units first (each notebook, run by nbval or tried by the harness), so that no worker
    # is left with a long one at the end while the others wait.
    items.sort(key=_start_order)


def _start_order(item: pytest.Item) -> int:
    if item.nodeid.startswith(OWN_SERVER):
        return 0  # two whole runs of twelve notebooks each
    return 1 if item.path.suffix == ".ipynb" or item.nodeid.startswith(HARNESS) else 2


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid)

    return ByWorkUnit(config, log)

"""Shared fixtures: real servers, started once per session where tests only need a clean database."""

from __future__ import annotations

import pytest

import labkit


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

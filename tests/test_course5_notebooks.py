"""Notebooks 14-16: the TLS section of 16 really runs on a TLS server, and says why when it cannot;
each notebook stops its servers last. (tests/test_exercises_in_notebooks.py tries every exercise.)"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

import labkit

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
COURSE5 = ("14_scaling_out_in_and_up.ipynb", "15_cluster_failover_and_az_failure.ipynb", "16_security_acl_rbac.ipynb")


def _code_cells(name: str) -> list[str]:
    notebook = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _run_tls_section() -> str:
    """Run the cells of notebook 16 that choose a TLS server and use it; return what they print."""
    namespace: dict = {}
    exec("import os, socket, ssl\nimport redis\nimport labkit", namespace)  # noqa: S102 - the notebook's own imports
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            for source in _code_cells("16_security_acl_rbac.ipynb"):
                if "tls_server" in source:
                    exec(source, namespace)  # noqa: S102 - the notebook's own cells
    finally:
        secure = namespace.get("secure")
        if secure is not None:
            secure.stop()
    return output.getvalue()


def test_notebook_16_encrypts_a_connection_when_a_tls_server_is_given(redis_oss_server, monkeypatch):
    if not labkit.find_engine(redis_oss_server).supports_tls:
        pytest.skip(f"{redis_oss_server} has no TLS")
    monkeypatch.setenv("LABKIT_TEST_REDIS_SERVER", redis_oss_server)
    printed = _run_tls_section()
    assert "TLS with" in printed
    assert "over TLS: tokenised through a SSLConnection" in printed
    assert "protocol: TLSv1." in printed
    assert "issued by CN=labkit lab CA" in printed
    assert "PING over raw TLS: b'+PONG\\r\\n'" in printed
    assert "plain-text client: ConnectionError" in printed


def test_notebook_16_says_why_tls_is_skipped_without_a_tls_server(monkeypatch):
    monkeypatch.delenv("LABKIT_TEST_REDIS_SERVER", raising=False)
    printed = _run_tls_section()
    if labkit.find_engine().supports_tls:
        assert "TLS with" in printed
    else:
        assert "TLS skipped:" in printed and "built without TLS" in printed
        assert "protocol:" not in printed


@pytest.mark.parametrize("name", COURSE5)
def test_each_notebook_stops_its_servers_last(name):
    assert "labkit.stop_all()" in _code_cells(name)[-1]

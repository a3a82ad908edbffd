"""A real browser: JupyterLab runs notebooks/appendix_live_views.ipynb in Chromium and every view renders.

Starts JupyterLab headless on a free local port with a token, opens a copy of the notebook in
Debian's Chromium driven by Playwright (never a downloaded browser), runs every cell, and checks
that each plotly view drew (with its data) and that no widget failed ("Error displaying widget").
Screenshots go to tests/artifacts/.

Where Chromium or Playwright is missing the test skips with the reason; LABKIT_REQUIRE_BROWSER=1
(set by .ci/run) turns that skip into a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "appendix_live_views.ipynb"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: The views the notebook displays: topology, slot map, dashboard, timeline, stream, leaderboard, time series, places.
EXPECTED_PLOTS = 8


def chromium_path() -> str | None:
    for candidate in (os.environ.get("LABKIT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def skip_or_fail(reason: str) -> None:
    if os.environ.get("LABKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (LABKIT_REQUIRE_BROWSER=1 requires the browser test to run)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_settings(directory: Path) -> None:
    """JupyterLab settings for an unattended run: every cell rendered, no news, no autosave."""
    settings = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    }
    for name, values in settings.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def clean_copy(source: Path, target: Path) -> None:
    notebook = json.loads(source.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    target.write_text(json.dumps(notebook))


def api(port: int, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
        return json.loads(body) if body else None


@pytest.fixture()
def jupyterlab(tmp_path):
    """A JupyterLab server of our own, on a free port, with a token; stopped (by its pid) afterwards."""
    work = tmp_path / "lab"
    work.mkdir()
    clean_copy(NOTEBOOK, work / NOTEBOOK.name)
    write_settings(tmp_path / "settings")
    token = secrets.token_hex(16)
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    log = open(tmp_path / "jupyterlab.log", "wb")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
            f"--LabApp.user_settings_dir={tmp_path / 'settings'}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),  # CI runs as root
        ],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {server.returncode}:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                api(port, token, "/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not answer within 90 s:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.2)
        yield port, token, tmp_path
    finally:
        try:  # shut the kernels down first: the notebook's kernel owns a cluster if a cell failed midway
            for kernel in api(port, token, "/api/kernels"):
                api(port, token, f"/api/kernels/{kernel['id']}", method="DELETE")
        except Exception:
            pass
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


NOTEBOOK_STATE = """() => {
    if (!window.jupyterapp) return null;
    const panel = window.jupyterapp.shell.currentWidget;
    if (!panel || !panel.content || !panel.sessionContext || !panel.sessionContext.session) return null;
    const kernel = panel.sessionContext.session.kernel;
    const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
    const errors = [];
    for (const cell of cells) {
        for (let i = 0; i < cell.model.outputs.length; i++) {
            const output = cell.model.outputs.get(i).toJSON();
            if (output.output_type === 'error') errors.push(output.ename + ': ' + output.evalue);
        }
    }
    return {
        kernel: kernel ? kernel.status : 'none',
        counts: cells.map(cell => cell.model.executionCount),
        errors: errors,
    };
}"""

PLOTS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(plot => ({
    title: (plot.layout && plot.layout.title && plot.layout.title.text) || '',
    traces: (plot.data || []).length,
    points: (plot.data || []).map(trace => trace.x ? trace.x.length : (trace.z ? trace.z.length : 0)),
    svg: plot.querySelectorAll('.main-svg').length,
    height: plot.getBoundingClientRect().height,
}))"""


@pytest.fixture()
def chromium():
    """Debian's Chromium and Playwright, or a skip (a failure under LABKIT_REQUIRE_BROWSER=1)."""
    executable = chromium_path()
    if executable is None:
        skip_or_fail("Chromium is not installed (Debian: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("the Python package playwright is not installed (pip install playwright; no browser download needed)")
    return executable


@pytest.mark.timeout(600)
def test_every_view_renders_in_jupyterlab_in_chromium(chromium, jupyterlab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    executable = chromium
    port, token, tmp_path = jupyterlab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 9000})
            console_errors: list[str] = []
            page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: console_errors.append(f"uncaught: {error}"))
            page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={token}", timeout=120_000)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=120_000)
            page.wait_for_function(f"() => {{ const s = ({NOTEBOOK_STATE})(); return s && s.kernel === 'idle'; }}", timeout=120_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            # Done when the last code cell has run and the kernel is idle again.
            page.wait_for_function(
                f"() => {{ const s = ({NOTEBOOK_STATE})(); return s && s.kernel === 'idle' && s.counts[s.counts.length - 1] !== null; }}",
                timeout=400_000, polling=500,
            )
            state = page.evaluate(NOTEBOOK_STATE)
            # Let the last widget messages draw: every plot gets its data (under load this takes a while;
            # if one never does, the assertions below say which).
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_function(
                    f"() => {{ const plots = ({PLOTS})(); return plots.length >= {EXPECTED_PLOTS} && plots.every(plot => plot.traces > 0); }}",
                    timeout=60_000, polling=250,
                )
            page.screenshot(path=str(ARTIFACTS / "appendix_live_views.png"), full_page=True)
            plots = page.evaluate(PLOTS)
            for index, plot in enumerate(page.locator(".js-plotly-plot").all()):
                plot.screenshot(path=str(ARTIFACTS / f"appendix_live_views_plot_{index}.png"))
            text = page.evaluate("() => document.body.innerText")
        finally:
            browser.close()

    summary = [(plot["title"][:40], plot["traces"], plot["points"][:4]) for plot in plots]
    print("plots:", summary, "\nbrowser console errors:", console_errors)
    assert state["errors"] == [], f"cells raised: {state['errors']}"
    assert all(count is not None for count in state["counts"]), f"not every cell ran: {state['counts']}"
    assert "Error displaying widget" not in text
    assert "Model not found" not in text
    assert len(plots) == EXPECTED_PLOTS, f"expected {EXPECTED_PLOTS} plotly views, found {len(plots)}: {plots}"
    for plot in plots:
        assert plot["svg"] >= 1 and plot["height"] > 100, f"a view did not draw: {plot}"
    by_title = {plot["title"].split("<br>")[0]: plot for plot in plots}
    topology = next(plot for plot in plots if plot["traces"] == 4 and plot["title"].startswith("cluster"))
    assert topology["points"][3] == 9  # nine nodes drawn
    dashboard = next((plot for plot in plots if plot["traces"] == 36), None)
    assert dashboard is not None, f"the dashboard did not draw its 36 lines: {summary}; console: {console_errors}"
    assert min(dashboard["points"]) > 2  # every line got its points: the shared time axis reached all 36 traces
    slot_map = next(plot for plot in plots if "slots served" in plot["title"])
    assert slot_map["points"][0] == 128  # 128 rows of slots
    timeline = next((plot for plot in plots if plot["title"].startswith("operations")), None)
    assert timeline is not None, f"the timeline did not draw: {summary}; console: {console_errors}"
    assert sum(timeline["points"]) > 50
    assert any(title.startswith("stream orders") for title in by_title)
    assert any(title.startswith("top 5 of scores") for title in by_title)
    assert not [error for error in console_errors if "widget" in error.lower()], console_errors


def test_a_missing_browser_skips_unless_the_browser_test_is_required(monkeypatch):
    monkeypatch.delenv("LABKIT_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        skip_or_fail("Chromium is not installed")
    monkeypatch.setenv("LABKIT_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="LABKIT_REQUIRE_BROWSER=1"):
        skip_or_fail("Chromium is not installed")

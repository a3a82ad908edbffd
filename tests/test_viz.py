"""labkit.viz on real topologies: what each view draws, live refresh threads, and the static fallback."""

from __future__ import annotations

import functools
import math
import signal
import threading
import time
import types

import pytest

import labkit
from fault_support import eventually
from labkit import viz
from labkit.errors import ConfigurationError, TopologyStateError
from labkit.viz._base import STATUS_COLOURS, _Poller


wait_for = functools.partial(eventually, timeout=15.0, interval=0.02)


@pytest.fixture(autouse=True)
def no_watchers_left():
    yield
    viz.stop_all()


def by_name(view, state):
    """Index of each node in the TopologyView's node trace (the trace follows the state's order)."""
    return {node.name: index for index, node in enumerate(state.nodes)}


# -- TopologyView ---------------------------------------------------------------------------
def test_topology_view_puts_nodes_in_az_columns_and_shard_rows_with_links(cluster):
    view = viz.TopologyView(cluster)
    figure = view.figure
    view.refresh()
    assert view.figure is figure  # built once, changed in place
    links, down, lag, nodes = figure.data
    state = view.last
    assert len(nodes.x) == 9
    azs = list(cluster.azs)
    for index, node in enumerate(state.nodes):
        assert nodes.x[index] == azs.index(node.az)
        assert nodes.y[index] == -node.shard
        assert nodes.marker.symbol[index] == ("square" if node.role is labkit.Role.PRIMARY else "circle")
        assert nodes.marker.color[index] == STATUS_COLOURS["up"]
    assert list(links.x).count(None) == 6 and not down.x  # six replica links, all up
    assert len(lag.text) == 6 and all(text.startswith("lag ") for text in lag.text)
    assert list(figure.layout.xaxis.ticktext) == azs
    assert list(figure.layout.yaxis.ticktext) == ["shard 0", "shard 1", "shard 2"]
    assert figure.layout.title.text == "cluster · 3 shards · 9 nodes, 9 up · cluster_state ok"


def test_topology_view_shows_a_paused_node_then_a_failover(small_cluster):
    view = viz.TopologyView(small_cluster)
    replica = small_cluster.replicas(1)[0]
    replica.signal(signal.SIGSTOP)
    try:
        view.refresh()
    finally:
        replica.signal(signal.SIGCONT)
    nodes = view.figure.data[3]
    index = by_name(view, view.last)[replica.name]
    assert nodes.marker.color[index] == STATUS_COLOURS["paused"]
    assert "paused" in nodes.text[index]
    assert list(view.figure.data[1].x).count(None) == 1  # its link is drawn as down

    old_primary, candidate = small_cluster.primary(0), small_cluster.replicas(0)[0]
    candidate.client().execute_command("CLUSTER", "FAILOVER")
    wait_for(lambda: view.refresh().last.primary(0) is not None and view.last.primary(0).name == candidate.name
             and view.last.node(replica.name).status is labkit.NodeStatus.UP)
    nodes = view.figure.data[3]
    positions = by_name(view, view.last)
    promoted, demoted = positions[candidate.name], positions[old_primary.name]
    assert nodes.marker.symbol[promoted] == "square" and nodes.marker.symbol[demoted] == "circle"
    assert nodes.marker.line.width[promoted] == 4 and nodes.marker.line.width[demoted] == 4
    assert "promoted" in nodes.text[promoted] and "demoted" in nodes.text[demoted]
    assert "primary (failed over)" in view.text()


# -- SlotMap ----------------------------------------------------------------------------------
def move_slots(cluster, slots, source, target, finish=True):
    source_node, target_node = cluster.primary(source), cluster.primary(target)
    source_id, target_id = cluster.node_id(source_node), cluster.node_id(target_node)
    with source_node.client() as from_client, target_node.client() as to_client:
        for slot in slots:
            to_client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            from_client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            if finish:
                keys = from_client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
                if keys:
                    from_client.execute_command("MIGRATE", "127.0.0.1", target_node.port, "", 0, 5000, "KEYS", *keys)
                to_client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
                from_client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)


def test_slot_map_colours_slots_by_owner_and_marks_migrating_slots(small_cluster):
    client = small_cluster.client()
    for number in range(50):
        client.set(f"user:{number}", number)
    slot_map = viz.SlotMap(small_cluster)
    slot_map.refresh()
    grid, migrating, bars = slot_map.figure.data
    assert grid.z[0][0] == 0 and grid.z[127][127] == 1 and grid.z[63][127] == 0 and grid.z[64][0] == 1
    assert list(bars.x) == ["shard 0", "shard 1"] and sum(bars.y) == 50
    assert not migrating.x

    move_slots(small_cluster, [130], 0, 1, finish=False)  # slot 130: row 1, column 2
    slot_map.refresh()
    assert list(slot_map.figure.data[1].x) == [2] and list(slot_map.figure.data[1].y) == [1]
    assert "1 migrating" in slot_map.figure.layout.title.text

    move_slots(small_cluster, [130], 0, 1)
    move_slots(small_cluster, range(0, 10), 0, 1)
    wait_for(lambda: not slot_map.refresh().last.migrations)
    grid = slot_map.figure.data[0]
    assert [grid.z[0][column] for column in range(11)] == [1] * 10 + [0]
    assert grid.z[1][2] == 1
    assert "shard 1: 8203 slots" in slot_map.text()
    assert sum(slot_map.figure.data[2].y) == 50  # keys moved with their slots, none lost
    client.close()


# -- Dashboard --------------------------------------------------------------------------------
def test_dashboard_draws_one_line_per_node_in_each_of_four_charts(cluster):
    dashboard = viz.Dashboard(cluster, history=5)
    for _ in range(7):
        dashboard.refresh()
    assert len(dashboard.figure.data) == 9 * 4
    names = {trace.name for trace in dashboard.figure.data}
    assert names == {node.name for node in cluster.nodes}
    state = dashboard.last
    for index, trace in enumerate(dashboard.figure.data):
        assert len(trace.x) == 5 and len(trace.y) == 5  # history keeps the last 5 points
        assert list(trace.x) == sorted(trace.x)
        node = state.node(trace.name)
        metric = index % 4
        expected = [node.ops_per_sec, node.memory_used_bytes / 2**20, node.connected_clients, node.keys][metric]
        assert math.isclose(trace.y[-1], expected, rel_tol=1e-3, abs_tol=0.01)  # memory is drawn in MB to 2 places
    assert dashboard.figure.layout.title.text == "cluster · 3 shards · 9 nodes, 9 up · cluster_state ok"
    with pytest.raises(ConfigurationError, match="history"):
        viz.Dashboard(cluster, history=1)


# -- watching -----------------------------------------------------------------------------------
def test_views_of_one_topology_share_a_refresh_thread_that_stops_with_the_topology():
    group = labkit.ReplicationGroup(replicas=1).start()
    try:
        topology_view, dashboard = viz.TopologyView(group), viz.Dashboard(group)
        topology_view.watch(0.1, display=False)
        dashboard.watch(0.1, display=False)
        poller = topology_view._poller
        assert poller is dashboard._poller and poller.thread.is_alive()
        wait_for(lambda: dashboard.updates >= 4 and poller.ticks >= 3)
        topology_view.stop()
        assert not topology_view.watching and dashboard.watching and poller.thread.is_alive()
        before = topology_view.updates
        wait_for(lambda: poller.ticks >= 6)
        assert topology_view.updates == before  # a stopped view gets no more updates
    finally:
        group.stop()
    wait_for(lambda: not poller.thread.is_alive(), timeout=5)
    assert not dashboard.watching and dashboard.error is None


def test_stop_all_ends_every_refresh_thread(cluster):
    views = [viz.TopologyView(cluster), viz.SlotMap(cluster)]
    for view in views:
        view.watch(0.2, display=False)
    threads = {view._poller.thread for view in views}
    assert len(threads) == 1
    assert viz.stop_all() == 1
    assert not any(thread.is_alive() for thread in threads)
    assert not any(view.watching for view in views)
    assert not _Poller._registry


def test_watch_refuses_bad_intervals_missing_sources_and_stopped_labs(cluster):
    with pytest.raises(ConfigurationError, match="interval"):
        viz.TopologyView(cluster).watch(0.001, display=False)
    with pytest.raises(ConfigurationError, match="no source"):
        viz.Leaderboard().watch(display=False)
    stopped = labkit.Standalone()
    with pytest.raises(TopologyStateError, match="not running"):
        viz.Dashboard(stopped).watch(display=False)
    with pytest.raises(ConfigurationError, match="labkit topology"):
        viz.TopologyView("127.0.0.1:6379")


# -- Timeline -----------------------------------------------------------------------------------
def fake_operations(start: float):
    Operation = types.SimpleNamespace
    return [
        Operation(time=start + number * 0.01, kind="write" if number % 2 else "read", key=f"k{number}",
                  outcome="ok" if not 40 <= number < 50 else "timeout", latency_s=0.0005 if number < 40 else 0.25)
        for number in range(100)
    ]


def test_timeline_colours_operations_by_outcome_and_marks_fault_events():
    start = 1_700_000_000.0
    probe = types.SimpleNamespace(operations=fake_operations(start))
    events = [types.SimpleNamespace(time=start + 0.4, action="pause", target="primary", detail="SIGSTOP")]
    timeline = viz.Timeline(probe, events)
    timeline.refresh()
    visible = [trace for trace in timeline.figure.data if trace.visible]
    assert [trace.name for trace in visible] == ["ok (90)", "timeout (10)"]
    ok, failed = visible
    assert ok.marker.color != failed.marker.color
    assert failed.x[0] == pytest.approx(0.4) and failed.y[0] == pytest.approx(250)
    assert set(ok.marker.symbol) == {"circle", "diamond"}
    (shape,) = timeline.figure.layout.shapes
    assert shape.x0 == pytest.approx(0.4)
    assert timeline.figure.layout.annotations[0].text == "pause primary"
    assert timeline.text().splitlines() == ["operations: 100 operations, ok 90, timeout 10", "  +0.40s pause primary (SIGSTOP)"]


def test_timeline_of_a_real_probe_and_fault_log():
    from labkit.probe import Probe

    with labkit.ReplicationGroup(replicas=1) as group:
        probe = Probe(group, interval_s=0.005).start()
        wait_for(lambda: len(probe.operations) >= 20)
        group.pause(group.primary())
        wait_for(lambda: any(op.outcome != "ok" for op in probe.operations), timeout=10)
        group.resume(group.primary())
        probe.stop(verify=False)
        timeline = viz.Timeline(probe, group)
        timeline.refresh()
        names = [trace.name for trace in timeline.figure.data if trace.visible]
        assert names[0].startswith("ok (") and len(names) >= 2
        assert [annotation.text for annotation in timeline.figure.layout.annotations][:2] == ["pause primary", "resume primary"]
        total = sum(len(trace.x) for trace in timeline.figure.data if trace.visible)
        assert total == len(probe.operations)


# -- StreamView, Leaderboard, TimeSeriesChart, GeoScatter -----------------------------------------
def test_stream_view_draws_pending_and_idle_time_per_consumer(fresh_client):
    r = fresh_client
    for number in range(6):
        r.xadd("orders", {"n": number}, id=f"1-{number + 1}")
    r.xgroup_create("orders", "billing", id="0")
    r.xreadgroup("billing", "w1", {"orders": ">"}, count=4)
    r.xreadgroup("billing", "w2", {"orders": ">"}, count=1)
    view = viz.StreamView(r, "orders")
    view.refresh()
    pending, idle = view.figure.data
    assert list(pending.x) == ["billing/w1", "billing/w2"] and list(pending.y) == [4, 1]
    assert all(value >= 0 for value in idle.y)
    assert "stream orders: 6 entries, last id 1-6" in view.figure.layout.title.text
    assert "last delivered 1-5" in view.figure.layout.title.text
    r.xack("orders", "billing", "1-1", "1-2")
    assert list(view.refresh().figure.data[0].y) == [2, 1]
    with pytest.raises(ConfigurationError):
        viz.StreamView(r)


def test_leaderboard_reads_the_top_members_of_a_sorted_set(fresh_client):
    r = fresh_client
    r.zadd("scores", {"ada": 120, "lin": 95, "bo": 120, "cy": 40})
    board = viz.Leaderboard(r, "scores", top=3)
    board.refresh()
    bars = board.figure.data[0]
    assert list(bars.y) == ["1. bo", "2. ada", "3. lin"]  # ties as ZREVRANGE orders them
    assert list(bars.x) == [120, 120, 95]
    r.zincrby("scores", 100, "cy")
    assert list(board.refresh().figure.data[0].y)[0] == "1. cy"
    assert board.text().splitlines()[1] == "  1. cy  140"
    with pytest.raises(ConfigurationError, match="top"):
        viz.Leaderboard(top=0)
    with pytest.raises(ConfigurationError, match="pair"):
        viz.Leaderboard().update([("solo",)])


def test_time_series_chart_draws_one_line_per_series():
    chart = viz.TimeSeriesChart(title="temperature", y_title="°C")
    chart.update({"s1": [(1_700_000_060, 21.7), (1_700_000_000, 21.5)], "s2": [(1_700_000_000, 19)]})
    first, second = chart.figure.data
    assert first.name == "s1" and list(first.y) == [21.5, 21.7]  # sorted by time
    assert first.x[0].year == 2023 and list(second.y) == [19.0]
    chart.update({"s1": [(1_700_000_000, 1)]})
    assert len(chart.figure.data) == 2 and list(chart.figure.data[1].y) == []
    assert "s1: 1 points" in chart.text()
    with pytest.raises(ConfigurationError):
        chart.update([(1, 2)])


def test_geo_scatter_needs_no_map_tiles_and_keeps_proportions():
    geo = viz.GeoScatter(title="Paris")
    places = [("Louvre", 2.3376, 48.8606), ("Eiffel Tower", 2.2945, 48.8584), ("Sacré-Cœur", 2.3431, 48.8867)]
    geo.update(places, center=(2.3522, 48.8566), radius_km=2, highlight=["Louvre"])
    kinds = {trace.type for trace in geo.figure.data}
    assert kinds == {"scatter"}  # no scattergeo/scattermap: nothing is fetched from the internet
    others, matches, circle, you = geo.figure.data
    assert list(matches.text) == ["Louvre"] and len(others.x) == 2
    assert max(circle.y) - 48.8566 == pytest.approx(2 / 111.2, rel=0.01)  # 2 km north of the centre
    assert geo.figure.layout.yaxis.scaleratio == pytest.approx(1 / math.cos(math.radians(48.8686)), rel=0.001)
    with pytest.raises(ConfigurationError, match="latitude"):
        geo.update([("nowhere", 0, 89)])


# -- where widgets cannot render --------------------------------------------------------------
def test_views_carry_a_text_and_html_fallback_beside_the_widget(cluster, capsys):
    view = viz.TopologyView(cluster)
    assert "nothing drawn yet" in view.text()
    view.refresh()
    bundle = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == str(view.last)
    assert bundle["text/html"].startswith("<pre") and "shard-0-primary" in bundle["text/html"]
    view.show(static=True)
    printed = capsys.readouterr().out
    assert "cluster · 3 shards" in printed and "widget" not in printed


def test_updating_from_several_threads_at_once_is_safe(cluster):
    dashboard = viz.Dashboard(cluster)
    state = cluster.state()
    errors = []

    def hammer():
        try:
            for _ in range(10):
                dashboard.update(state)
        except Exception as error:  # pragma: no cover - the assertion below reports it
            errors.append(error)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and dashboard.updates == 30
    assert all(len(trace.x) == 30 for trace in dashboard.figure.data)


def test_a_displayed_view_gets_background_updates_only_once_the_browser_drew_it(cluster, capsys):
    view = viz.TopologyView(cluster)
    dashboard = viz.Dashboard(cluster)
    dashboard.watch(0.05, display=True)  # outside Jupyter, display() prints; no browser will answer
    time.sleep(0.5)
    assert dashboard.updates == 1  # the first drawing only: updates sent mid-creation can blank a view
    # The browser's answer once it has drawn the figure: its computed layout.
    dashboard.figure._js2py_layoutDelta = {"layout_delta": {}, "layout_edit_id": dashboard.figure._last_layout_edit_id}
    wait_for(lambda: dashboard.updates >= 4, timeout=5)
    view.watch(0.05, display=False)  # not displayed: nothing to wait for
    wait_for(lambda: view.updates >= 3, timeout=5)
    capsys.readouterr()

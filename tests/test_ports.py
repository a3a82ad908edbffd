"""Port pairs below the ephemeral range, reserved safely across processes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import pytest

import labkit
from labkit.ports import BUS_PORT_OFFSET, ephemeral_range_start, is_free, port_range, reserve_ports


def test_ports_and_bus_ports_stay_below_the_ephemeral_range():
    with reserve_ports(20) as reservation:
        for port in reservation.numbers:
            assert port + BUS_PORT_OFFSET < min(32768, ephemeral_range_start())
            assert port in port_range()


def test_a_port_in_use_is_skipped():
    with reserve_ports(1) as first:
        port = first.numbers[0]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        assert not is_free(port)
        with reserve_ports(1, start=port) as second:
            assert second.numbers[0] != port


def test_a_busy_bus_port_is_skipped_too():
    with reserve_ports(1) as first:
        port = first.numbers[0]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port + BUS_PORT_OFFSET))
        with reserve_ports(1, start=port) as second:
            assert second.numbers[0] != port


def test_reserved_ports_are_not_handed_out_twice_in_one_process():
    with reserve_ports(5, start=port_range().start + 100) as a, reserve_ports(5, start=port_range().start + 100) as b:
        assert not set(a.numbers) & set(b.numbers)


CHILD = textwrap.dedent(
    """
    import json, sys, time
    from labkit.ports import reserve_ports
    start = int(sys.argv[1])
    reservation = reserve_ports(25, start=start)
    print(json.dumps(reservation.numbers), flush=True)
    sys.stdin.readline()  # hold the ports until the test says so
    """
)


def test_two_processes_starting_at_the_same_moment_never_share_a_port():
    start = port_range().start + 2000
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(start)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        results = [json.loads(child.stdout.readline()) for child in children]
    finally:
        for child in children:
            child.communicate("\n", timeout=10)
    assert len(results[0]) == len(results[1]) == 25
    assert not set(results[0]) & set(results[1])


def test_ports_of_a_dead_process_are_free_again():
    start = port_range().start + 4000
    child = subprocess.run([sys.executable, "-c", CHILD, str(start)], input="\n", capture_output=True, text=True, timeout=30)
    taken = json.loads(child.stdout.splitlines()[0])
    with reserve_ports(1, start=taken[0]) as again:
        assert again.numbers[0] == taken[0] or not is_free(taken[0])


def test_asking_for_more_ports_than_exist_says_what_to_do():
    with pytest.raises(labkit.PortsExhaustedError, match="Stop other labs"):
        reserve_ports(len(port_range()) + 1)

"""LabSpec: one validated description of a lab, and the topologies built from it."""

from __future__ import annotations

import argparse

import pytest

import labkit
from labkit.cli import spec_from_arguments
from labkit.topology import LabSpec, Topology


def test_a_topology_records_its_spec_and_can_be_rebuilt_from_it():
    cluster = labkit.Cluster(shards=2, replicas=1, azs=("az-a", "az-b"), config={"maxmemory": "64mb"})
    spec = cluster.spec
    assert (spec.kind, spec.shards, spec.replicas, spec.azs, spec.config) == ("cluster", 2, 1, ("az-a", "az-b"), (("maxmemory", "64mb"),))
    twin = Topology.from_spec(spec)
    assert isinstance(twin, labkit.Cluster) and twin.spec == spec and twin.shard_count == 2
    assert LabSpec.from_record("cluster", spec.as_record()) == spec
    group = labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b"), failure_detection_s=0.5)
    assert group.spec.automatic_failover and Topology.from_spec(group.spec).failure_detection_s == 0.5


def test_replace_validates_again_and_refuses_unknown_fields():
    spec = LabSpec("replication", replicas=2)
    bigger = spec.replace(config={"maxmemory": "128mb"})
    assert bigger.config == (("maxmemory", "128mb"),) and spec.config == ()
    with pytest.raises(labkit.ConfigurationError, match="replicas must be"):
        spec.replace(replicas=9)
    with pytest.raises(labkit.ConfigurationError, match="'colour' is not an option|colour is not an option"):
        spec.replace(colour="red")


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: labkit.Cluster(shard=3), "'shard' is not an option of a cluster lab"),
        (lambda: labkit.Standalone(replicas=2), "'replicas' is not an option of a standalone lab"),
        (lambda: labkit.Standalone(config={"maxmemory": ["64mb"]}), "must be a string or a number"),
        (lambda: labkit.Standalone(tls="yes"), "tls must be True or False"),
        (lambda: labkit.Standalone(start_timeout=-1), "start_timeout must be a number of seconds"),
        (lambda: labkit.Standalone(az=3), "not a valid availability-zone name"),
        (lambda: labkit.ReplicationGroup(replicas=0, automatic_failover=True), "needs at least one replica"),
        (lambda: LabSpec("sentinel"), "kind must be one of"),
        (lambda: LabSpec("replication", shards=2), "has one shard"),
        (lambda: Topology.from_spec({"kind": "cluster"}), "needs a LabSpec"),
    ],
)
def test_bad_options_say_what_to_do(make, message):
    with pytest.raises(labkit.ConfigurationError, match=message):
        make()


def test_a_node_of_another_lab_is_refused_by_name(standalone):
    other = labkit.Standalone()
    with pytest.raises(labkit.UnknownNodeError, match="belongs to another lab") as caught:
        other.node(standalone.nodes[0])
    assert caught.value.port == standalone.port
    with pytest.raises(labkit.UnknownNodeError, match="name a node by"):
        standalone.node(1.5)


def test_the_cli_builds_the_same_spec_as_python():
    args = argparse.Namespace(mode="replication", shards=3, replicas=1, azs="az-a, az-b", node_timeout_ms=1000, server=None)
    assert spec_from_arguments(args) == labkit.ReplicationGroup(replicas=1, azs=("az-a", "az-b")).spec
    args = argparse.Namespace(mode="standalone", shards=3, replicas=2, azs="az-c,az-a", node_timeout_ms=1000, server=None)
    assert spec_from_arguments(args) == labkit.Standalone(az="az-c").spec

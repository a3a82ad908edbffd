"""Users, access strings and user groups on real nodes, without locking the lab out."""

from __future__ import annotations

import pytest
import redis

import labkit
from fault_support import eventually
from labkit.acl import ADMIN_USER, CLUSTER_CLIENT_RULES, User, UserGroup, access_denied, rotate_password

MARKETING_PASSWORD = "marketing-password-1"
ANALYTICS_PASSWORD = "analytics-password-1"


def _group() -> UserGroup:
    return UserGroup("business-units", [
        User.disabled_default(),
        User("marketing", f"on ~campaign:* -@all +@read +@write {CLUSTER_CLIENT_RULES}", passwords=(MARKETING_PASSWORD,)),
        User("analytics", f"on ~* -@all +@read {CLUSTER_CLIENT_RULES}", passwords=(ANALYTICS_PASSWORD,)),
    ])


def test_bad_users_and_groups_say_what_to_do():
    with pytest.raises(labkit.ConfigurationError, match="no user named 'default'"):
        UserGroup("g", [User("marketing", passwords=("x" * 16,))])
    with pytest.raises(labkit.ConfigurationError, match="at least 16 characters"):
        User("marketing", passwords=("short",))
    with pytest.raises(labkit.ConfigurationError, match="allows two"):
        User("marketing", passwords=("a" * 16, "b" * 16, "c" * 16))
    with pytest.raises(labkit.ConfigurationError, match="not in the access string"):
        User("marketing", "on >secret ~*")
    with pytest.raises(labkit.ConfigurationError, match="labkit's own admin user"):
        User(ADMIN_USER)


def test_a_user_group_applies_to_every_node_of_a_cluster_without_locking_labkit_out():
    with labkit.Cluster(shards=2, replicas=1) as cluster:
        _group().apply(cluster)
        # The default user is off on every node, replicas included.
        for node in cluster.nodes:
            with pytest.raises(redis.AuthenticationError):
                node.client(username="default").ping()
        marketing = cluster.client(username="marketing", password=MARKETING_PASSWORD)
        marketing.set("campaign:spring", "launch")
        assert marketing.get("campaign:spring") == "launch"
        with pytest.raises(redis.exceptions.NoPermissionError) as denied:
            marketing.get("salary:alice")
        assert access_denied(denied.value)
        analytics = cluster.client(username="analytics", password=ANALYTICS_PASSWORD)
        assert analytics.get("campaign:spring") == "launch"
        with pytest.raises(redis.exceptions.NoPermissionError):
            analytics.set("campaign:spring", "changed")
        # labkit itself still works: its admin user, replication and the whole-cluster client.
        admin = cluster.client()
        admin.set("salary:alice", "1")
        assert admin.get("salary:alice") == "1"
        cluster.refresh()
        replica = cluster.replicas(0)[0]
        assert replica.client().info("replication")["master_link_status"] == "up"
        denials = [entry for node in cluster.nodes for entry in node.client().acl_log()]
        assert any((entry["username"], entry["reason"], entry["object"]) == ("marketing", "key", "salary:alice") for entry in denials)


def test_password_rotation_keeps_both_passwords_until_the_old_one_is_dropped():
    with labkit.ReplicationGroup(replicas=1) as group:
        _group().apply(group)
        new_password = "marketing-password-2"
        rotate_password(group, "marketing", new_password)
        for password in (MARKETING_PASSWORD, new_password):
            assert group.client(username="marketing", password=password).set("campaign:a", password)
        rotate_password(group, "marketing", new_password, drop_old=MARKETING_PASSWORD)
        with pytest.raises(redis.AuthenticationError):
            group.client(username="marketing", password=MARKETING_PASSWORD).ping()
        replica = group.client(group.replicas()[0], username="marketing", password=new_password)
        assert replica.ping()  # the replica has the rotated password too (ACLs were set on every node)
        with pytest.raises(labkit.ConfigurationError, match="no user 'nobody'"):
            rotate_password(group, "nobody", "x" * 16)


# -- a user group survives every way a node can (re)start -------------------------------------------------
# Nodes keep their ACL users in memory only: a restarted process, a new shard's nodes and a scale-up copy
# start with the `default` user alone. labkit re-applies the group from each node's on_started hook.

GROUP_USERS = ["analytics", "default", ADMIN_USER, "marketing"]


def _assert_group_on(node: labkit.Node) -> None:
    """`node` has exactly the group's users, refuses the default user, and lets marketing in."""
    with node.client() as admin:  # labkit's own credentials
        assert sorted(admin.execute_command("ACL", "USERS")) == GROUP_USERS, node.name
    with pytest.raises(redis.AuthenticationError):
        node.client(username="default", password=None).ping()
    with node.client(username="marketing", password=MARKETING_PASSWORD) as marketing:
        assert marketing.ping()


def _assert_secured_and_healthy(lab) -> None:
    for node in lab.nodes:
        if node.status is labkit.NodeStatus.UP:
            _assert_group_on(node)

    def linked():
        state = lab.state()
        return state if all(node.link_up for node in state.nodes if node.role is labkit.Role.REPLICA) else None

    state = eventually(linked, 20)
    assert all(node.status is labkit.NodeStatus.UP for node in state.nodes)
    if lab.kind == "cluster":
        assert state.cluster_state == "ok"
    marketing = lab.client(username="marketing", password=MARKETING_PASSWORD)
    marketing.set("campaign:check", "ok")
    assert marketing.get("campaign:check") == "ok"


@pytest.fixture(scope="module")
def secured_cluster():
    # Three shards: a killed primary is replaced only while a majority of primaries is up.
    with labkit.Cluster(shards=3, replicas=1) as cluster:
        _group().apply(cluster)
        yield cluster


@pytest.fixture(scope="module")
def secured_group():
    with labkit.ReplicationGroup(replicas=2, failure_detection_s=0.5) as group:
        _group().apply(group)
        yield group


@pytest.fixture(params=["cluster", "replication group"])
def secured(request, secured_cluster, secured_group):
    return secured_cluster if request.param == "cluster" else secured_group


def test_a_restarted_replica_gets_the_user_group_back(secured):
    replica = secured.replicas(0)[0]
    secured.restart(replica)
    assert replica.status is labkit.NodeStatus.UP
    _assert_secured_and_healthy(secured)


def test_a_killed_then_restarted_primary_gets_the_user_group_back(secured):
    old = secured.primary(0)
    secured.kill(old)
    if secured.kind == "cluster":
        secured.wait_for_failover(0, since=old)
    else:
        secured.wait_for_failover(since=old)
    secured.restart(old)
    assert old.status is labkit.NodeStatus.UP
    _assert_secured_and_healthy(secured)


def test_nodes_of_a_failed_and_restored_az_get_the_user_group_back(secured):
    # The AZ with the fewest primaries: a cluster fails over only while most of its primaries are up.
    az = min(secured.azs, key=lambda zone: sum(primary.az == zone for primary in secured.primaries()))
    report = secured.fail_az(az)
    assert report.killed
    restored = secured.restore_az(az)
    assert restored and all(node.status is labkit.NodeStatus.UP for node in restored)
    _assert_secured_and_healthy(secured)


def test_a_new_shards_nodes_get_the_user_group(secured_cluster):
    # No rebalance: moving slots proves nothing about users, and the shard is removed again below.
    shard = secured_cluster.add_shard(rebalance=False)
    new_nodes = [node for node in secured_cluster.nodes if node.shard == shard]
    assert len(new_nodes) == 2 and all(node.status is labkit.NodeStatus.UP for node in new_nodes)
    for node in new_nodes:
        _assert_group_on(node)
    _assert_secured_and_healthy(secured_cluster)
    secured_cluster.remove_shard(shard)  # back to the module's shape


def test_a_scale_up_copy_has_the_user_group_on_every_node(secured):
    secured.client().set("campaign:kept", "yes")
    bigger = secured.scale_up(config={"maxmemory": "64mb"})
    try:
        assert bigger.user_group == secured.user_group
        _assert_secured_and_healthy(bigger)
        assert bigger.client(username="marketing", password=MARKETING_PASSWORD).get("campaign:kept") == "yes"
    finally:
        bigger.stop()

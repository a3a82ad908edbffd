"""Users, access strings and user groups on real nodes, without locking the lab out."""

from __future__ import annotations

import pytest
import redis

import labkit
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

"""Exercises for notebook 16_security_acl_rbac: least-privilege users (support, a write-only producer), the default user, password rotation.

Every check asks each node of your cluster with ACL GETUSER and ACL DRYRUN (which says whether a
user may run a command without running it), and logs in with the password you pass::

    from labkit.exercises import security as ex
    ex.use(cluster)
    ex.q1.check("the support password")
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

import redis

from ..node import NodeStatus
from .core import NotAttempted, Problem, expect, use

__all__ = ["NOTEBOOK", "REPORTING_OLD_PASSWORD", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "16_security_acl_rbac"

#: q4: the password the `reporting` user starts with (and must lose).
REPORTING_OLD_PASSWORD = "reporting-password-2025"


def _nodes(lab: Any) -> list[Any]:
    nodes = [node for node in lab.nodes if node.status is NodeStatus.UP]
    expect(nodes, "no node of the cluster is up; restart them first")
    return nodes


def _user(node: Any, name: str) -> dict | None:
    with node.client() as admin:
        return admin.acl_getuser(name)


def _may(node: Any, user: str, *command: str) -> bool:
    """Whether `user` may run `command` on `node` (ACL DRYRUN: checked, not run)."""
    with node.client() as admin:
        reply = admin.execute_command("ACL", "DRYRUN", user, *command)
    return reply in ("OK", b"OK", True)


def _expect_login(node: Any, user: str, password: Any) -> None:
    expect(isinstance(password, str), f"pass {user}'s password as a string (got {type(password).__name__})")
    try:
        with node.client(username=user, password=password) as client:
            client.ping()
    except redis.AuthenticationError:
        expect(False, f"{user} cannot log in to {node.name} with that password (is the user on, with that password, on every node?)")


def _expect_user_everywhere(lab: Any, name: str) -> list[Any]:
    nodes = _nodes(lab)
    for node in nodes:
        user = _user(node, name)
        expect(user is not None, f"there is no user {name!r} on {node.name}: apply your user group to the cluster (group.apply(lab)), which sets it on every node")
        expect("on" in user["flags"], f"{name} is off on {node.name}; switch it on ('on' in its access string)")
    return nodes


class SupportUser(Problem):
    title = "A least-privilege user for the support team"
    needs = "cluster"
    takes_answer = True
    hints = (
        "Keys ~ticket:*, the channel &ticket-events, and commands: -@all +@read +@write +publish. But +@write alone still allows FLUSHALL.",
        "Add -@dangerous after +@write, and CLUSTER_CLIENT_RULES so a cluster client can find the slots. Then UserGroup(...).apply(lab).",
    )
    solution_code = dedent("""
        from labkit.acl import CLUSTER_CLIENT_RULES, User, UserGroup
        password = "support-password-0001"
        support = User("support", f"on ~ticket:* &ticket-events -@all +@read +@write -@dangerous +publish {CLUSTER_CLIENT_RULES}", passwords=(password,))
        UserGroup("business-units", [User.disabled_default(), support]).apply(lab)
        answer = password
    """)
    wrong_code = dedent("""
        from labkit.acl import CLUSTER_CLIENT_RULES, User, UserGroup
        password = "support-password-0001"
        support = User("support", f"on ~ticket:* &ticket-events -@all +@read +@write +publish {CLUSTER_CLIENT_RULES}", passwords=(password,))
        UserGroup("business-units", [User.disabled_default(), support]).apply(lab)
        answer = password
    """)
    wrong_message = "FLUSHALL"

    def verify(self, r: Any, answer: Any) -> str:
        for node in _expect_user_everywhere(self.lab, "support"):
            _expect_login(node, "support", answer)
            expect(_may(node, "support", "SET", "ticket:42", "open"), f"support may not SET ticket:42 on {node.name}: allow writes to ~ticket:*")
            expect(_may(node, "support", "HGETALL", "ticket:42"), f"support may not read ticket:42 on {node.name}")
            expect(not _may(node, "support", "GET", "salary:alice"), f"support may read salary:alice on {node.name}: limit its keys to ~ticket:*")
            expect(_may(node, "support", "PUBLISH", "ticket-events", "new"), f"support may not PUBLISH to ticket-events on {node.name}: allow the channel (&ticket-events) and +publish")
            expect(not _may(node, "support", "PUBLISH", "marketing-news", "x"), f"support may publish to marketing-news on {node.name}: allow only &ticket-events")
            expect(not _may(node, "support", "FLUSHALL"), f"support may run FLUSHALL on {node.name} (+@write includes it): add -@dangerous")
            expect(not _may(node, "support", "CONFIG", "SET", "maxmemory", "1mb"), f"support may run CONFIG SET on {node.name}: start from -@all")
            expect(_may(node, "support", "CLUSTER", "SLOTS"), f"support may not run CLUSTER SLOTS on {node.name}, so a cluster client cannot find the shards: add CLUSTER_CLIENT_RULES")
        return "support reads and writes ticket:*, publishes to ticket-events, and nothing else, on every node"


class IngestUser(Problem):
    title = "A write-only user for the event producer"
    needs = "cluster"
    takes_answer = True
    hints = (
        "%W~pattern gives write-only access to keys: the producer can add events but never read them back.",
        "'on %W~events:* -@all +@write -@dangerous' plus CLUSTER_CLIENT_RULES; put it in a UserGroup with a default user and apply it to lab.",
    )
    solution_code = dedent("""
        from labkit.acl import CLUSTER_CLIENT_RULES, User, UserGroup
        password = "ingest-password-0001"
        ingest = User("ingest", f"on %W~events:* -@all +@write -@dangerous {CLUSTER_CLIENT_RULES}", passwords=(password,))
        UserGroup("business-units", [User.disabled_default(), ingest]).apply(lab)
        answer = password
    """)
    wrong_code = dedent("""
        from labkit.acl import CLUSTER_CLIENT_RULES, User, UserGroup
        password = "ingest-password-0001"
        ingest = User("ingest", f"on ~events:* -@all +@read +@write -@dangerous {CLUSTER_CLIENT_RULES}", passwords=(password,))
        UserGroup("business-units", [User.disabled_default(), ingest]).apply(lab)
        answer = password
    """)
    wrong_message = "ingest may read"

    def verify(self, r: Any, answer: Any) -> str:
        for node in _expect_user_everywhere(self.lab, "ingest"):
            _expect_login(node, "ingest", answer)
            expect(_may(node, "ingest", "XADD", "events:clicks", "*", "page", "/"), f"ingest may not XADD to events:clicks on {node.name}: allow writes to events:*")
            for command in (("GET", "events:last"), ("XRANGE", "events:clicks", "-", "+")):
                expect(not _may(node, "ingest", *command), f"ingest may read ({command[0]} {command[1]}) on {node.name}: make its keys write-only (%W~events:*)")
            expect(not _may(node, "ingest", "SET", "campaign:spring", "x"), f"ingest may write campaign:spring on {node.name}: only events:*")
            expect(not _may(node, "ingest", "FLUSHALL"), f"ingest may run FLUSHALL on {node.name}: add -@dangerous")
            expect(_may(node, "ingest", "CLUSTER", "SLOTS"), f"ingest may not run CLUSTER SLOTS on {node.name}: add CLUSTER_CLIENT_RULES")
        return "ingest adds events and reads nothing, on every node"


class DefaultDisabled(Problem):
    title = "Disable the default user on every node"
    needs = "cluster"
    hints = (
        "A user group must contain a user named default; User.disabled_default() is one that is off with no rights.",
        "UserGroup('locked', [User.disabled_default(), ...your users]).apply(lab): labkit keeps its own admin user, so the lab still works.",
    )
    solution_code = dedent("""
        from labkit.acl import User, UserGroup
        UserGroup("locked", [User.disabled_default()]).apply(lab)
    """)
    wrong_code = dedent("""
        from labkit.acl import User, UserGroup
        UserGroup("locked", [User("default", "on ~* &* +@all", passwords=("default-password-0001",))]).apply(lab)
    """)
    wrong_message = "still on"

    def attempted(self, r: Any, answer: Any) -> bool:
        # A fresh node's default user is on, with no password: anything else is an attempt.
        for node in _nodes(self.lab):
            user = _user(node, "default")
            if user is None or "off" in user["flags"] or "nopass" not in user["flags"]:
                return True
        raise NotAttempted("the default user is still on, without a password, on every node: apply a user group whose default user is disabled")

    def verify(self, r: Any, answer: Any) -> str:
        nodes = _nodes(self.lab)
        for node in nodes:
            user = _user(node, "default")
            expect(user is not None, f"{node.name} has no default user; a user group always keeps one (disabled)")
            expect("off" in user["flags"], f"the default user is still on on {node.name} (a password is not enough: clients could still log in as default); use User.disabled_default()")
            try:
                with node.client(username="default", password="") as client:
                    client.ping()
                expect(False, f"a client logged in to {node.name} as default")
            except redis.AuthenticationError:
                pass
        with self.lab.client() as client:
            client.ping()
        return f"default is off on all {len(nodes)} nodes, and the lab still answers (labkit logs in as its own admin user)"


class RotatePassword(Problem):
    title = "Rotate a password without downtime"
    needs = "cluster"
    takes_answer = True
    hints = (
        "rotate_password(lab, 'reporting', new) adds a second password: both work while clients switch.",
        "Then rotate_password(lab, 'reporting', new, drop_old=ex.REPORTING_OLD_PASSWORD) removes the old one. Pass the new one to check().",
    )
    solution_code = dedent("""
        from labkit.acl import rotate_password
        from labkit.exercises import security as ex
        new = "reporting-password-2026"
        rotate_password(lab, "reporting", new)
        rotate_password(lab, "reporting", new, drop_old=ex.REPORTING_OLD_PASSWORD)
        answer = new
    """)
    wrong_code = dedent("""
        from labkit.acl import rotate_password
        new = "reporting-password-2026"
        rotate_password(lab, "reporting", new)
        answer = new
    """)
    wrong_message = "old password still works"

    def prepare(self, r: Any) -> None:
        """The `reporting` user with its old password, on every node (reads report:*)."""
        from ..acl import CLUSTER_CLIENT_RULES, User

        user = User("reporting", f"on ~report:* -@all +@read {CLUSTER_CLIENT_RULES}", passwords=(REPORTING_OLD_PASSWORD,))
        for node in _nodes(self.lab):
            with node.client() as admin:
                admin.execute_command("ACL", "SETUSER", user.name, *user.rules())

    def verify(self, r: Any, answer: Any) -> str:
        expect(answer != REPORTING_OLD_PASSWORD, "that is the old password; pass the new one")
        nodes = _expect_user_everywhere(self.lab, "reporting")
        for node in nodes:
            _expect_login(node, "reporting", answer)
            try:
                with node.client(username="reporting", password=REPORTING_OLD_PASSWORD) as client:
                    client.ping()
                expect(False, f"the old password still works on {node.name}: drop it once the clients use the new one (drop_old=...)")
            except redis.AuthenticationError:
                pass
        return f"only the new password opens reporting, on all {len(nodes)} nodes"


q1 = SupportUser()
q2 = IngestUser()
q3 = DefaultDisabled()
q4 = RotatePassword()

"""Exercises for notebook 16_security_acl_rbac: ACL SETUSER strings written by hand for business-unit
users, a refused attempt found in ACL LOG, and a password rotated without a moment when clients are
locked out.

ACL rules live on each node separately, so every check asks every node (ACL GETUSER, and ACL DRYRUN
for commands that must never really run), then logs in as the user through a cluster client and
tries what it may and may not do. Passwords are drawn per run (`ex.q1.password`, ...)::

    from labkit.exercises import security as ex
    ex.use(cluster)
    ex.q1.prepare()        # prints the password marketing must have this run
    ex.q1.check()
"""

from __future__ import annotations

import hashlib
import secrets
from textwrap import dedent
from typing import Any

import redis

from ..acl import CLUSTER_CLIENT_RULES
from ..node import NodeStatus
from .az_failure import calls_per_node
from .core import Incorrect, NotAttempted, Problem, Wrong, expect, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "16_security_acl_rbac"

#: Salary keys the ACL LOG exercise draws from (alice's is the one the notebook's sections use).
_EMPLOYEES = ("bruno", "chidi", "dana", "emeka", "farah", "goran", "hana", "ines", "jomo", "kenji")


def _nodes(lab: Any) -> list[Any]:
    nodes = [node for node in lab.nodes if node.status is NodeStatus.UP]
    expect(nodes, "no node of the cluster is up; restart them first")
    return nodes


def _on_every_node(lab: Any, *command: str) -> None:
    for node in _nodes(lab):
        with node.client() as admin:
            admin.execute_command(*command)


def _delete_user(lab: Any, name: str) -> None:
    for node in lab.nodes:
        if node.status is NodeStatus.UP:
            with node.client() as admin:
                admin.execute_command("ACL", "DELUSER", name)


def _sha256(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def _may(node: Any, user: str, *command: str) -> bool:
    """Whether `user` may run `command` on `node` (ACL DRYRUN: decided, never run)."""
    with node.client() as admin:
        return admin.execute_command("ACL", "DRYRUN", user, *command) in ("OK", b"OK", True)


def _expect_user(lab: Any, name: str, password: str) -> list[Any]:
    """The user exists, is on, and has `password`, on every node; returns the nodes."""
    nodes = _nodes(lab)
    for node in nodes:
        with node.client() as admin:
            user = admin.acl_getuser(name)
        expect(user is not None, f"there is no user {name!r} on {node.name}: ACL rules live on each node, and a cluster client "
                                 "sends ACL SETUSER to one node only; send it to every node (for node in cluster.nodes: ...)")
        expect("on" in user["flags"], f"{name} is off on {node.name}: put 'on' in its rules")
        expect(_sha256(password) in user["passwords"], f"{name}'s password on {node.name} is not the one this run drew "
                                                      f"({name} must accept the password prepare() printed; add it with '>password')")
    return nodes


def _expect_rules(nodes: list[Any], name: str, rules: list[tuple[bool, tuple[str, ...], str]]) -> None:
    for node in nodes:
        for allowed, command, message in rules:
            expect(_may(node, name, *command) == allowed, message.format(node=node.name))


def _can_log_in(node: Any, name: str, password: str) -> bool:
    try:
        with node.client(username=name, password=password, socket_timeout=2.0) as client:
            return bool(client.ping())
    except redis.AuthenticationError:
        return False


def _login(lab: Any, name: str, password: str) -> Any:
    """A cluster client logged in as `name` (it needs CLUSTER SLOTS to find the shards)."""
    expect(_can_log_in(_nodes(lab)[0], name, password), f"{name} cannot log in with that password")
    try:
        client = lab.client(username=name, password=password)
        client.ping()
        return client
    except (redis.RedisError, redis.exceptions.RedisClusterException) as error:
        raise Incorrect(f"a cluster client cannot start as {name} ({type(error).__name__}): it asks the nodes for the slot map, "
                        "so allow CLUSTER_CLIENT_RULES (labkit.acl) too") from error


def _refused(call: Any) -> bool:
    try:
        call()
    except redis.exceptions.NoPermissionError:
        return True
    return False


class _UserProblem(Problem):
    """A user the learner creates on every node, with a password drawn per run."""

    needs = "cluster"
    takes_answer = False
    user = ""

    def cleanup(self, r: Any) -> None:
        self.password = None
        _delete_user(self.lab, self.user)

    def setup(self, r: Any) -> None:
        self.password = f"{self.user}-{secrets.token_hex(8)}"
        print(f"{self.user}'s password for this run: {self.password} (also in {self._call('password')})")

    def attempted(self, r: Any, answer: Any) -> bool:
        if getattr(self, "password", None) is None:
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare()')}: it draws {self.user}'s password")
        if any(node.client().acl_getuser(self.user) is not None for node in _nodes(self.lab)):
            return True
        raise NotAttempted(f"there is no user {self.user!r} yet: create it with ACL SETUSER on every node")


class MarketingUser(_UserProblem):
    title = "ACL SETUSER by hand: the marketing user, least privilege"
    user = "marketing"
    hints = (
        "Rules are words: 'on', '>password', '~campaign:*' (keys), '&campaign-news' (channel), then '-@all' and what the job needs.",
        "+@read +@write still allow FLUSHALL and KEYS: add -@dangerous after them; +publish for the channel; "
        "and CLUSTER_CLIENT_RULES so that a cluster client can find the shards.",
        "A cluster client sends ACL SETUSER to one node: loop over cluster.nodes and send it to each with cluster.client(node).",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        MARKETING_RULES = f"on >{ex.q1.password} ~campaign:* &campaign-news -@all +@read +@write -@dangerous +publish {CLUSTER_CLIENT_RULES}"
        for node in cluster.nodes:
            cluster.client(node).execute_command("ACL", "SETUSER", "marketing", "reset", *MARKETING_RULES.split())
        as_marketing = cluster.client(username="marketing", password=ex.q1.password)
        print(as_marketing.get("campaign:spring"), as_marketing.publish("campaign-news", "spring sale"))
        try:
            as_marketing.get("salary:alice")
        except redis.exceptions.NoPermissionError as error:
            print("salary:alice:", type(error).__name__)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            MARKETING_RULES = f"on >{ex.q1.password} ~campaign:* &campaign-news -@all +@read +@write -@dangerous +publish {CLUSTER_CLIENT_RULES}"
            cluster.client().execute_command("ACL", "SETUSER", "marketing", *MARKETING_RULES.split())
        """), "there is no user 'marketing' on", why="one ACL SETUSER through the cluster client reaches one node"),
        Wrong(dedent("""
            ex.q1.prepare()
            MARKETING_RULES = f"on >{ex.q1.password} ~campaign:* &campaign-news -@all +@read +@write +publish {CLUSTER_CLIENT_RULES}"
            for node in cluster.nodes:
                cluster.client(node).execute_command("ACL", "SETUSER", "marketing", "reset", *MARKETING_RULES.split())
        """), "FLUSHALL", why="no -@dangerous: +@write includes FLUSHALL"),
        Wrong(dedent("""
            ex.q1.prepare()
            MARKETING_RULES = f"on >{ex.q1.password} ~* &campaign-news -@all +@read +@write -@dangerous +publish {CLUSTER_CLIENT_RULES}"
            for node in cluster.nodes:
                cluster.client(node).execute_command("ACL", "SETUSER", "marketing", "reset", *MARKETING_RULES.split())
        """), "salary:alice", why="every key (~*) instead of ~campaign:*"),
        Wrong(dedent("""
            ex.q1.prepare()
            MARKETING_RULES = f"on >{SUPPORT_PASSWORD} ~campaign:* &campaign-news -@all +@read +@write -@dangerous +publish {CLUSTER_CLIENT_RULES}"
            for node in cluster.nodes:
                cluster.client(node).execute_command("ACL", "SETUSER", "marketing", "reset", *MARKETING_RULES.split())
        """), "password", why="the password copied from the support cell above"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        nodes = _expect_user(lab, "marketing", self.password)
        _expect_rules(nodes, "marketing", [
            (True, ("GET", "campaign:spring"), "marketing may not read campaign:spring on {node}: allow ~campaign:* and +@read"),
            (True, ("SET", "campaign:spring", "x"), "marketing may not write campaign:spring on {node}: add +@write"),
            (False, ("GET", "salary:alice"), "marketing may read salary:alice on {node}: limit its keys to ~campaign:*"),
            (False, ("HGETALL", "report:q1"), "marketing may read report:q1 on {node}: limit its keys to ~campaign:*"),
            (True, ("PUBLISH", "campaign-news", "hi"), "marketing may not publish on campaign-news on {node}: add &campaign-news and +publish"),
            (False, ("PUBLISH", "hr-news", "hi"), "marketing may publish on hr-news on {node}: allow only the channel &campaign-news"),
            (False, ("FLUSHALL",), "marketing may run FLUSHALL on {node} (+@write includes it): add -@dangerous after +@write"),
            (False, ("KEYS", "*"), "marketing may run KEYS on {node} (+@read includes it): add -@dangerous"),
            (False, ("CONFIG", "SET", "maxmemory", "1mb"), "marketing may run CONFIG SET on {node}: start from -@all"),
            (True, ("CLUSTER", "SLOTS"), "marketing may not run CLUSTER SLOTS on {node}, so a cluster client cannot find the shards: "
                                        "add CLUSTER_CLIENT_RULES"),
        ])
        client = _login(lab, "marketing", self.password)
        expect(client.get("campaign:spring") is not None, "logged in as marketing, GET campaign:spring found nothing")
        expect(_refused(lambda: client.get("salary:alice")), "logged in as marketing, GET salary:alice was not refused")
        return "marketing reads and writes campaign:*, publishes on campaign-news, and nothing else, on every node"


class AnalyticsUser(_UserProblem):
    title = "ACL SETUSER by hand: the analytics user, read-only"
    user = "analytics"
    hints = (
        "analytics reads report:* and campaign:*: two key patterns, ~report:* ~campaign:*, and -@all +@read.",
        "+@read includes KEYS, which scans the whole keyspace and blocks the server: KEYS is also in @dangerous, so add -@dangerous.",
        "Send the same ACL SETUSER to every node (cluster.client(node)), with CLUSTER_CLIENT_RULES for the cluster client.",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        ANALYTICS_RULES = f"on >{ex.q2.password} ~report:* ~campaign:* -@all +@read -@dangerous {CLUSTER_CLIENT_RULES}"
        for node in cluster.nodes:
            cluster.client(node).execute_command("ACL", "SETUSER", "analytics", "reset", *ANALYTICS_RULES.split())
        as_analytics = cluster.client(username="analytics", password=ex.q2.password)
        print(as_analytics.hgetall("report:q1"), as_analytics.get("campaign:spring"))
        try:
            as_analytics.set("campaign:spring", "changed")
        except redis.exceptions.NoPermissionError as error:
            print("SET campaign:spring:", type(error).__name__)
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            ANALYTICS_RULES = f"on >{ex.q2.password} ~* -@all +@read {CLUSTER_CLIENT_RULES}"
            for node in cluster.nodes:
                cluster.client(node).execute_command("ACL", "SETUSER", "analytics", "reset", *ANALYTICS_RULES.split())
        """), "salary:alice", why="reads every key (~*)"),
        Wrong(dedent("""
            ex.q2.prepare()
            ANALYTICS_RULES = f"on >{ex.q2.password} ~report:* ~campaign:* -@all +@read {CLUSTER_CLIENT_RULES}"
            for node in cluster.nodes:
                cluster.client(node).execute_command("ACL", "SETUSER", "analytics", "reset", *ANALYTICS_RULES.split())
        """), "KEYS", why="+@read without -@dangerous still allows KEYS"),
        Wrong(dedent("""
            ex.q2.prepare()
            ANALYTICS_RULES = f"on >{ex.q2.password} ~report:* ~campaign:* +@all -@dangerous {CLUSTER_CLIENT_RULES}"
            for node in cluster.nodes:
                cluster.client(node).execute_command("ACL", "SETUSER", "analytics", "reset", *ANALYTICS_RULES.split())
        """), "may write", why="+@all instead of +@read: writes allowed"),
        Wrong(dedent("""
            ex.q2.prepare()
            ANALYTICS_RULES = f"on >{ex.q2.password} ~report:* ~campaign:* -@all +@read -@dangerous {CLUSTER_CLIENT_RULES}"
            cluster.client().execute_command("ACL", "SETUSER", "analytics", *ANALYTICS_RULES.split())
        """), "there is no user 'analytics' on", why="one node only"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        nodes = _expect_user(lab, "analytics", self.password)
        _expect_rules(nodes, "analytics", [
            (True, ("HGETALL", "report:q1"), "analytics may not read report:q1 on {node}: allow ~report:* and +@read"),
            (True, ("GET", "campaign:spring"), "analytics may not read campaign:spring on {node}: allow ~campaign:* too"),
            (False, ("GET", "salary:alice"), "analytics may read salary:alice on {node}: list only ~report:* and ~campaign:*"),
            (False, ("SET", "campaign:spring", "x"), "analytics may write campaign:spring on {node}: read-only means -@all +@read"),
            (False, ("HSET", "report:q1", "revenue", "0"), "analytics may write report:q1 on {node}: read-only means -@all +@read"),
            (False, ("KEYS", "*"), "analytics may run KEYS on {node}: +@read includes it, and it is in @dangerous too: add -@dangerous"),
            (False, ("FLUSHALL",), "analytics may run FLUSHALL on {node}: start from -@all"),
            (True, ("CLUSTER", "SLOTS"), "analytics may not run CLUSTER SLOTS on {node}, so a cluster client cannot find the shards: "
                                        "add CLUSTER_CLIENT_RULES"),
        ])
        client = _login(lab, "analytics", self.password)
        expect(client.hgetall("report:q1"), "logged in as analytics, HGETALL report:q1 found nothing")
        expect(_refused(lambda: client.set("campaign:spring", "changed")), "logged in as analytics, SET campaign:spring was not refused")
        return "analytics reads report:* and campaign:*, writes nothing and runs no dangerous command, on every node"


class FindInAclLog(Problem):
    title = "Find a refused attempt in ACL LOG"
    needs = "cluster"
    takes_answer = True
    hints = (
        "ACL LOG is kept by each node: the node that refused the command logged it. Ask every node: cluster.client(node).acl_log().",
        "Each entry has 'username', 'reason' ('key', 'command', 'channel', 'auth') and 'object' (the key, command or channel).",
        "Keep the intern's entry whose reason is 'key': its object is the key it tried to read.",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        for node in cluster.nodes:
            for entry in cluster.client(node).acl_log():
                if entry["username"] == "intern" and entry["reason"] == "key":
                    print(node.name, entry["reason"], entry["object"])
                    answer = entry["object"]
    """)
    wrong_answers = (
        Wrong("ex.q3.prepare()\nanswer = 'salary:alice'", "section above", why="the key refused in the section above"),
        Wrong("ex.q3.prepare()\nanswer = sorted(cluster.client().keys('salary:*'))[-1]", "ACL LOG",
              why="guesses from the keys instead of reading ACL LOG"),
        Wrong(dedent("""
            ex.q3.prepare()
            for node in cluster.nodes:
                for entry in cluster.client(node).acl_log():
                    if entry["username"] == "intern" and entry["reason"] == "command":
                        answer = entry["object"]
        """), "not a key", why="the intern's refused command instead of its refused key"),
    )

    def cleanup(self, r: Any) -> None:
        self.key = None
        self._log_calls = None
        lab = self.lab
        _delete_user(lab, "intern")
        for node in _nodes(lab):
            with node.client() as admin:
                admin.execute_command("ACL", "LOG", "RESET")

    def setup(self, r: Any) -> None:
        """An intern who may read campaign:* reads a campaign, tries to change it, then tries a salary (drawn per run)."""
        lab = self.lab
        names = self.rng.sample(_EMPLOYEES, 4)
        admin = lab.client()
        for name in names:
            admin.set(f"salary:{name}", str(self.rng.randrange(50_000, 150_000, 500)))
        self.key = f"salary:{self.rng.choice(names)}"
        password = f"intern-{secrets.token_hex(8)}"
        _on_every_node(lab, "ACL", "SETUSER", "intern", "reset", "on", f">{password}", "~campaign:*", "-@all", "+@read",
                       *CLUSTER_CLIENT_RULES.split())
        intern = lab.client(username="intern", password=password)
        intern.get("campaign:spring")
        for attempt in (lambda: intern.set("campaign:spring", "50% off everything"), lambda: intern.get(self.key)):
            try:
                attempt()
            except redis.exceptions.NoPermissionError:
                pass
        intern.close()
        self._log_calls = calls_per_node(lab, "acl|log")
        print("The intern did three things; the cluster refused two of them.")

    def verify(self, r: Any, answer: Any) -> str:
        if getattr(self, "key", None) is None:
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare()')}: it makes the intern try things")
        expect(isinstance(answer, str), f"pass the key as a string, e.g. 'salary:someone' (got {answer!r})")
        expect(answer != "salary:alice", "salary:alice was refused in the section above, to support; ex.q3.prepare() cleared "
                                         "the logs and the intern tried another key: read ACL LOG now")
        now = calls_per_node(self.lab, "acl|log")
        read = [name for name, count in now.items() if count > (self._log_calls or {}).get(name, 0)]
        expect(read, "no node answered an ACL LOG since ex.q3.prepare(): read the logs (every node keeps its own) instead of guessing")
        expect(answer.startswith("salary:"), f"{answer!r} is not a key: that entry's reason is 'command'; look for the entry whose reason is 'key'")
        expect(answer == self.key, f"the intern was not refused {answer!r}: look for its entry with reason 'key' (on the node that owns the key)")
        shard = self.lab.state().slot_owners()[self.lab.client().keyslot(self.key)]
        return f"the intern tried to read {self.key}; shard {shard}'s primary, which owns its slot, refused it and logged it"


class RotatePassword(_UserProblem):
    title = "Rotate a password with ACL SETUSER, without locking clients out"
    user = "reporting"
    takes_answer = True
    hints = (
        "'>new' adds a password and keeps the others: both work while clients move over. '<old' removes one.",
        "Two steps on every node: first ACL SETUSER reporting >new (check both log in), then ACL SETUSER reporting <old.",
        "Pass the new password: ex.q4.check(new_password).",
    )
    solution_code = dedent("""
        ex.q4.prepare()
        new_password = "reporting-rotated-" + ex.q4.old_password[-6:]
        for node in cluster.nodes:                      # 1. add the new one: both passwords work now
            cluster.client(node).execute_command("ACL", "SETUSER", "reporting", f">{new_password}")
        for password in (ex.q4.old_password, new_password):
            print(cluster.client(username="reporting", password=password).hget("report:q1", "orders"))
        for node in cluster.nodes:                      # 2. the clients have moved over: remove the old one
            cluster.client(node).execute_command("ACL", "SETUSER", "reporting", f"<{ex.q4.old_password}")
        answer = new_password
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q4.prepare()
            new_password = "reporting-rotated-" + ex.q4.old_password[-6:]
            for node in cluster.nodes:
                cluster.client(node).execute_command("ACL", "SETUSER", "reporting", f">{new_password}")
            answer = new_password
        """), "old password still works", why="adds the new password but never removes the old one"),
        Wrong(dedent("""
            ex.q4.prepare()
            new_password = "reporting-rotated-" + ex.q4.old_password[-6:]
            for node in cluster.nodes:
                cluster.client(node).execute_command("ACL", "SETUSER", "reporting", "resetpass", f">{new_password}")
            answer = new_password
        """), "in one step", why="resetpass: the old password stops at once, before clients moved over"),
        Wrong("ex.q4.prepare()\nanswer = ex.q4.old_password", "the old password", why="passes the old password"),
    )

    def cleanup(self, r: Any) -> None:
        super().cleanup(r)
        self.old_password = None
        self._setuser_calls = None

    def setup(self, r: Any) -> None:
        """reporting reads report:*, with a password drawn per run, on every node."""
        lab = self.lab
        self.password = self.old_password = f"reporting-{secrets.token_hex(8)}"
        _on_every_node(lab, "ACL", "SETUSER", "reporting", "reset", "on", f">{self.old_password}", "~report:*", "-@all", "+@read",
                       *CLUSTER_CLIENT_RULES.split())
        self._setuser_calls = calls_per_node(lab, "acl|setuser")
        print(f"reporting's password now: {self.old_password} (ex.q4.old_password)")

    def attempted(self, r: Any, answer: Any) -> bool:
        return answer is not None and answer is not Ellipsis

    def verify(self, r: Any, answer: Any) -> str:
        lab = self.lab
        if getattr(self, "old_password", None) is None:
            raise NotAttempted(f"run the exercise cell from its first line, {self._call('prepare()')}: it creates reporting")
        expect(isinstance(answer, str), f"pass the new password as a string (got {type(answer).__name__})")
        expect(answer != self.old_password, "that is the old password: pass the new one")
        nodes = _expect_user(lab, "reporting", answer)
        for node in nodes:
            with node.client() as admin:
                hashes = admin.acl_getuser("reporting")["passwords"]
            expect(_sha256(self.old_password) not in hashes, f"the old password still works on {node.name}: once clients use the "
                                                             "new one, remove it with '<old-password'")
        now = calls_per_node(lab, "acl|setuser")
        one_step = [node.name for node in nodes if now.get(node.name, 0) - (self._setuser_calls or {}).get(node.name, 0) < 2]
        expect(not one_step, f"on {', '.join(one_step)} the password changed in one step (one ACL SETUSER): clients still using the "
                             "old password were refused at once. Add the new one first (both work), then remove the old one")
        client = _login(lab, "reporting", answer)
        expect(client.hgetall("report:q1"), "logged in with the new password, reporting could not read report:q1")
        stale = [node.name for node in nodes if _can_log_in(node, "reporting", self.old_password)]
        expect(not stale, f"the old password still logs in on {', '.join(stale)}")
        return f"only the new password opens reporting now, on all {len(nodes)} nodes; you added it before removing the old one"


q1 = MarketingUser()
q2 = AnalyticsUser()
q3 = FindInAclLog()
q4 = RotatePassword()

"""Users, access strings and user groups, applied to every node the way ElastiCache RBAC does.

ACL rules live on each node separately (replicas and shards do not copy them), so a user group is
applied to every node of a topology. When the group replaces the `default` user (for example with
a disabled one), labkit first gives itself an admin user, so that the lab, its replicas and its
views keep working: the lab is never locked out.

Example::

    marketing = User("marketing", "on ~campaign:* -@all +@read +@write", passwords=("s3cret-marketing",))
    group = UserGroup("business-units", [User.disabled_default(), marketing])
    group.apply(cluster)
    cluster.client(username="marketing", password="s3cret-marketing").get("campaign:1")
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import redis

from .errors import ConfigurationError
from .node import Node, NodeStatus

ADMIN_USER = "labkit-admin"
#: What a cluster-aware client (redis-py's RedisCluster, ...) must be allowed to discover the slot map.
CLUSTER_CLIENT_RULES = "+@connection +cluster|slots +cluster|shards +cluster|nodes +cluster|info +cluster|myid +command +readonly"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")


class SecuredLab(Protocol):
    """What labkit.acl needs of a topology: its nodes, and where to keep the access it must re-apply."""

    nodes: list[Node]
    access: Access | None

    def require_running(self) -> None: ...
    def set_access(self, access: Access | None) -> None: ...


@dataclass(frozen=True)
class User:
    """A user: a name, up to two passwords (rotation), and an access string such as `on ~app:* +@read`."""

    name: str
    access: str = "on ~* &* +@all"
    passwords: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigurationError(f"{self.name!r} is not a valid user name: use letters, digits, '_', '.', ':' or '-' (at most 40).")
        if self.name == ADMIN_USER:
            raise ConfigurationError(f"{ADMIN_USER!r} is labkit's own admin user; choose another name.")
        if not isinstance(self.access, str):
            raise ConfigurationError(f"user {self.name!r}: access must be an access string such as 'on ~app:* +@read' (got {self.access!r}).")
        if isinstance(self.passwords, str):
            object.__setattr__(self, "passwords", (self.passwords,))
        if not isinstance(self.passwords, (tuple, list)):
            raise ConfigurationError(f"user {self.name!r}: passwords must be a tuple of strings (got {self.passwords!r}).")
        object.__setattr__(self, "passwords", tuple(self.passwords))
        if len(self.passwords) > 2:
            raise ConfigurationError(f"user {self.name!r} has {len(self.passwords)} passwords; ElastiCache allows two (old and new, while rotating).")
        for password in self.passwords:
            if not isinstance(password, str) or len(password) < 16:
                raise ConfigurationError(f"user {self.name!r}: passwords must be strings of at least 16 characters, as in ElastiCache.")
        if any(word.startswith((">", "<", "#", "nopass", "resetpass")) for word in self.access.split()):
            raise ConfigurationError(f"user {self.name!r}: put passwords in passwords=, not in the access string.")

    @classmethod
    def disabled_default(cls) -> User:
        """The `default` user switched off, with no rights: connections must name a user."""
        return cls("default", "off -@all")

    def rules(self) -> list[str]:
        """The ACL SETUSER rules for this user (reset first, so the rules are exactly these)."""
        secrets_rules = [f">{password}" for password in self.passwords] or ["nopass"]
        return ["reset", *secrets_rules, *self.access.split()]


@dataclass(frozen=True)
class UserGroup:
    """Users applied together to a topology; like ElastiCache, it must contain a `default` user."""

    name: str
    users: tuple[User, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if isinstance(self.users, (str, User)):
            raise ConfigurationError(f"user group {self.name!r}: users must be a list of User objects (got {self.users!r}).")
        object.__setattr__(self, "users", tuple(self.users))
        strays = [user for user in self.users if not isinstance(user, User)]
        if strays:
            raise ConfigurationError(f"user group {self.name!r}: {strays[0]!r} is not a User; write User('name', 'on ~* +@read', passwords=(...,)).")
        names = [user.name for user in self.users]
        if "default" not in names:
            raise ConfigurationError(
                f"user group {self.name!r} has no user named 'default'; like ElastiCache, add one "
                "(User.disabled_default() to require every client to log in)."
            )
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ConfigurationError(f"user group {self.name!r} lists {', '.join(duplicates)} twice.")

    def apply(self, topology: SecuredLab) -> UserGroup:
        """Make these users, and only these, the users of every node of `topology`, now and
        after any node starts again (restart, a new shard, a scale-up copy).

        Example::

            UserGroup("app", [User.disabled_default(), app_user]).apply(cluster)
        """
        admin = ensure_admin(topology)
        access = Access(admin, self)
        for node in _running_nodes(topology):
            access.apply(node)
        topology.set_access(access)
        return self

    def with_password(self, user: str, new_password: str, drop_old: str | None = None) -> UserGroup:
        """This group with `new_password` added to `user` (and `drop_old` removed)."""
        users = []
        for member in self.users:
            if member.name == user:
                kept = [password for password in member.passwords if password != drop_old]
                member = dataclasses.replace(member, passwords=tuple([*kept, new_password][-2:]))
            users.append(member)
        return dataclasses.replace(self, users=tuple(users))


@dataclass(frozen=True)
class Access:
    """What every node of a lab must have: labkit's admin user and (once applied) a user group.
    The lab runs `apply(node, fresh=True)` for each node that starts, so a restarted node, a new
    shard's nodes and a scale-up copy get the same users as the rest.

    Example::

        lab.access.apply(lab.nodes[0])
    """

    admin: tuple[str, str]
    group: UserGroup | None = None

    def apply(self, node: Node, fresh: bool = False) -> None:
        """Give `node` the admin user (also for replication: masteruser/masterauth) and the group's users."""
        user, password = self.admin
        with _admin_client(node, fresh) as client:
            client.execute_command("ACL", "SETUSER", user, "reset", f">{password}", "on", "~*", "&*", "+@all")
        node.credentials = self.admin
        # From here on as labkit's admin: the group may switch off the user the first connection used.
        with node.client() as client:
            # Replicas authenticate to their primary as this user once `default` may be disabled.
            client.config_set("masteruser", user)
            client.config_set("masterauth", password)
            if self.group is not None:
                for member in self.group.users:
                    client.execute_command("ACL", "SETUSER", member.name, *member.rules())
                keep = {member.name for member in self.group.users} | {user}
                for existing in client.execute_command("ACL", "USERS"):
                    if existing not in keep:
                        client.execute_command("ACL", "DELUSER", existing)


def rotate_password(topology: SecuredLab, user: str, new_password: str, *, drop_old: str | None = None) -> None:
    """Add `new_password` to `user` on every node (both work), then optionally remove `drop_old`.

    Example::

        rotate_password(group, "app", "a-new-password-of-16+", drop_old="the-old-password-16+")
    """
    if not isinstance(new_password, str) or len(new_password) < 16:
        raise ConfigurationError("the new password must be a string of at least 16 characters.")
    for node in _running_nodes(topology):
        with node.client() as client:
            if client.execute_command("ACL", "GETUSER", user) is None:
                raise ConfigurationError(f"there is no user {user!r} on {node.name}; apply a user group that contains it first.", port=node.port, node=node.name)
            rules = [f">{new_password}"] + ([f"<{drop_old}"] if drop_old else [])
            client.execute_command("ACL", "SETUSER", user, *rules)
    access = topology.access
    if access is not None and access.group is not None:
        # Nodes that start later get the passwords as they are now, not as the group first had them.
        topology.set_access(dataclasses.replace(access, group=access.group.with_password(user, new_password, drop_old)))


def ensure_admin(topology: SecuredLab) -> tuple[str, str]:
    """Give labkit its own admin user on every node and use it for labkit's connections.

    Example::

        user, password = ensure_admin(cluster)
    """
    access = topology.access or Access((ADMIN_USER, secrets.token_urlsafe(24)))
    for node in _running_nodes(topology):
        Access(access.admin).apply(node)  # the admin user only: the group's users stay as they are
    topology.set_access(access)
    return access.admin


@contextlib.contextmanager
def _admin_client(node: Node, fresh: bool) -> Iterator[redis.Redis]:
    # A freshly started process knows only `default`; a running one may know only labkit's admin.
    if fresh or node.credentials is None:
        client = node.client(username=None, password=None)
    else:
        client = node.client()
    try:
        yield client
    finally:
        client.close()


def _running_nodes(topology: SecuredLab) -> list[Node]:
    topology.require_running()
    nodes = [node for node in topology.nodes if node.status is NodeStatus.UP]
    if not nodes:
        raise ConfigurationError("no node of this topology is up; start it (or restore its nodes) first.")
    return nodes


def access_denied(error: BaseException) -> bool:
    """Whether a redis-py error is a NOPERM (the user lacks the right) error."""
    return isinstance(error, redis.exceptions.NoPermissionError) or "NOPERM" in str(error)

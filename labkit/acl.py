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

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from .errors import ConfigurationError
from .node import NodeStatus

ADMIN_USER = "labkit-admin"
#: What a cluster-aware client (redis-py's RedisCluster, ...) must be allowed to discover the slot map.
CLUSTER_CLIENT_RULES = "+@connection +cluster|slots +cluster|shards +cluster|nodes +cluster|info +cluster|myid +command +readonly"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")


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
        if isinstance(self.passwords, str):
            object.__setattr__(self, "passwords", (self.passwords,))
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
        object.__setattr__(self, "users", tuple(self.users))
        names = [user.name for user in self.users]
        if "default" not in names:
            raise ConfigurationError(
                f"user group {self.name!r} has no user named 'default'; like ElastiCache, add one "
                "(User.disabled_default() to require every client to log in)."
            )
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ConfigurationError(f"user group {self.name!r} lists {', '.join(duplicates)} twice.")

    def apply(self, topology: Any) -> UserGroup:
        """Make these users, and only these, the users of every node of `topology`."""
        ensure_admin(topology)
        for node in _running_nodes(topology):
            with node.client() as client:
                for user in self.users:
                    client.execute_command("ACL", "SETUSER", user.name, *user.rules())
                keep = {user.name for user in self.users} | {ADMIN_USER}
                for existing in client.execute_command("ACL", "USERS"):
                    if existing not in keep:
                        client.execute_command("ACL", "DELUSER", existing)
        topology.user_group = self
        return self


def rotate_password(topology: Any, user: str, new_password: str, *, drop_old: str | None = None) -> None:
    """Add `new_password` to `user` on every node (both work), then optionally remove `drop_old`."""
    if not isinstance(new_password, str) or len(new_password) < 16:
        raise ConfigurationError("the new password must be a string of at least 16 characters.")
    for node in _running_nodes(topology):
        with node.client() as client:
            if client.execute_command("ACL", "GETUSER", user) is None:
                raise ConfigurationError(f"there is no user {user!r} on {node.name}; apply a user group that contains it first.")
            rules = [f">{new_password}"] + ([f"<{drop_old}"] if drop_old else [])
            client.execute_command("ACL", "SETUSER", user, *rules)


def ensure_admin(topology: Any) -> tuple[str, str]:
    """Give labkit its own admin user on every node and use it for labkit's connections."""
    credentials = getattr(topology, "admin_credentials", None)
    if credentials is None:
        credentials = (ADMIN_USER, secrets.token_urlsafe(24))
    user, password = credentials
    for node in _running_nodes(topology):
        with node.client() as client:
            client.execute_command("ACL", "SETUSER", user, "reset", f">{password}", "on", "~*", "&*", "+@all")
            # Replicas authenticate to their primary as this user once `default` may be disabled.
            client.config_set("masteruser", user)
            client.config_set("masterauth", password)
        node.credentials = credentials
    topology.admin_credentials = credentials
    return credentials


def _running_nodes(topology: Any) -> Iterable[Any]:
    topology._require_running()
    nodes = [node for node in topology.nodes if node.status is NodeStatus.UP]
    if not nodes:
        raise ConfigurationError("no node of this topology is up; start it (or restore its nodes) first.")
    return nodes


def access_denied(error: BaseException) -> bool:
    """Whether a redis-py error is a NOPERM (the user lacks the right) error."""
    return isinstance(error, redis.exceptions.NoPermissionError) or "NOPERM" in str(error)

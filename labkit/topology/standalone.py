"""One server on its own: the simplest lab."""

from __future__ import annotations

from typing import Any

import redis

from ..node import Node, Role
from .base import NodeSpec, Progress, Topology
from .spec import LabSpec, common_options


class Standalone(Topology):
    """A single Redis/Valkey server.

    Example::

        with Standalone() as lab:
            lab.client().set("greeting", "hello")
    """

    kind = "standalone"

    def __init__(self, *, az: str = "az-a", **options: Any) -> None:
        self._setup(LabSpec("standalone", azs=(az,), **common_options(self.kind, options)))

    def _build(self, progress: Progress) -> None:
        progress("starting 1 node")
        self.add_nodes([NodeSpec("node-0", Role.PRIMARY, None, self.azs[0])])

    @property
    def node0(self) -> Node:
        return self.nodes[0]

    @property
    def port(self) -> int:
        return self.nodes[0].port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def _topology_client(self, **kwargs: Any) -> redis.Redis:
        return self.nodes[0].client(**kwargs)

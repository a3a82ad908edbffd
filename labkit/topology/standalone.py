"""One server on its own: the simplest lab."""

from __future__ import annotations

from typing import Any

import redis

from ..node import Node, Role
from .base import Progress, Topology


class Standalone(Topology):
    """A single Redis/Valkey server.

    Example::

        with Standalone() as lab:
            lab.client().set("greeting", "hello")
    """

    kind = "standalone"

    def __init__(self, *, az: str = "az-a", **options: Any) -> None:
        super().__init__(azs=(az,), **options)

    def _build(self, progress: Progress) -> None:
        progress("starting 1 node")
        self._launch(self._new_nodes([("node-0", Role.PRIMARY, None, self.azs[0], {})]))

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

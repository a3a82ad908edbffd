"""`labkit.connect()`: one line to get a client for the notebooks that need a single server.

Order: `LABKIT_REDIS_URL` (your own server or a managed cluster) if set; otherwise a local
Standalone that labkit starts (and stops at exit or with `labkit.stop_all()`); otherwise,
when no server binary can run here, an in-process fakeredis server. It prints one line that
says which backend is in use and what it cannot do.

Example::

    r = labkit.connect()
    r.set("greeting", "hello")
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

from .errors import EngineError, LabkitError, NodeStartError
from .topology import Standalone
from .topology.base import Lifecycle

URL_ENV = "LABKIT_REDIS_URL"

_shared_lab: Standalone | None = None
_shared_lock = threading.Lock()


def connect(url: str | None = None, *, decode_responses: bool = True, quiet: bool = False, **kwargs: Any) -> Any:
    """A client for `url`, `$LABKIT_REDIS_URL`, a local server, or (last resort) fakeredis."""
    say = (lambda _text: None) if quiet else print
    target = url or os.environ.get(URL_ENV, "").strip()
    if target:
        return _remote(target, decode_responses, say, **kwargs)
    try:
        lab = shared_standalone()
    except (EngineError, NodeStartError, OSError) as error:
        return _fake(error, decode_responses, say)
    assert lab.engine is not None
    say(f"labkit: using a local {lab.engine.display_name} server that labkit started (standalone; labkit.stop_all() stops it).")
    return lab.client(decode_responses=decode_responses, **kwargs)


def shared_standalone() -> Standalone:
    """The one local Standalone that `connect()` calls in this process share."""
    global _shared_lab
    with _shared_lock:
        if _shared_lab is None or _shared_lab.lifecycle is not Lifecycle.RUNNING:
            _shared_lab = Standalone().start()
        return _shared_lab


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))  # _replace is namedtuple's public API despite its name
    return url


def _remote(url: str, decode_responses: bool, say, **kwargs: Any) -> Any:
    try:
        probe = redis.Redis.from_url(url, socket_connect_timeout=5, **kwargs)
        cluster_enabled = probe.info("cluster").get("cluster_enabled") == 1
        probe.close()
    except ValueError as error:
        raise LabkitError(f"{URL_ENV} (or url=) {url!r} is not a valid Redis URL: {error}. Use redis://host:6379 or rediss:// for TLS.") from error
    except redis.RedisError as error:
        raise LabkitError(
            f"Cannot reach {_redacted(url)}: {error}. Check the address, the password and (for ElastiCache) "
            f"that this machine is inside the VPC; unset {URL_ENV} to use a local server."
        ) from error
    if cluster_enabled:
        from redis.cluster import RedisCluster

        say(f"labkit: using {_redacted(url)} (cluster mode enabled; labs that kill nodes need a local topology).")
        return RedisCluster.from_url(url, decode_responses=decode_responses, **kwargs)
    say(f"labkit: using {_redacted(url)} (cluster mode disabled; labs that kill nodes need a local topology).")
    return redis.Redis.from_url(url, decode_responses=decode_responses, **kwargs)


def _fake(reason: Exception, decode_responses: bool, say) -> Any:
    import fakeredis

    first_line = str(reason).splitlines()[0]
    say(
        f"labkit: no server binary can run here ({first_line}); using fakeredis, an in-process imitation. "
        "It has no replication, no cluster, no persistence and no real network latency, so topology labs will not work."
    )
    return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=decode_responses)

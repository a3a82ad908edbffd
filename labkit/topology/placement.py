"""Where each node goes: the availability-zone rules ElastiCache recommends.

- primaries are spread across the AZs (shard i's primary in AZ i mod n);
- every replica is in a different AZ from its primary;
- a shard's replicas are spread over the other AZs.

Example::

    place(shards=3, replicas=2, azs=("az-a", "az-b", "az-c"))
    # [ShardPlacement(primary='az-a', replicas=('az-b', 'az-c')),
    #  ShardPlacement(primary='az-b', replicas=('az-c', 'az-a')), ...]
    placement_problems([("az-a", ("az-a",))])  # ['shard 0: replica 1 is in az-a, the same AZ as its primary']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import ConfigurationError

DEFAULT_AZS = ("az-a", "az-b", "az-c")
_AZ_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ShardPlacement:
    primary: str
    replicas: tuple[str, ...]


def validate_azs(azs: object) -> tuple[str, ...]:
    """A clean tuple of AZ names, or a ConfigurationError that says what is wrong."""
    if isinstance(azs, str):
        # A string is iterable too: "az-a" would silently become five one-letter AZs, or one AZ
        # where the learner meant a list. Ask for the list.
        raise ConfigurationError(
            f"azs must be a list or tuple of availability-zone names, not a string (got {azs!r}); "
            f"write azs=({', '.join(repr(part.strip()) for part in azs.split(','))},)."
        )
    if not isinstance(azs, Iterable):
        raise ConfigurationError(f"azs must be a list of availability-zone names such as ('az-a', 'az-b', 'az-c'); got {azs!r}.")
    names = tuple(azs)
    if not names:
        raise ConfigurationError("azs is empty: give at least one availability-zone name, e.g. azs=('az-a', 'az-b', 'az-c').")
    for name in names:
        if not isinstance(name, str) or not _AZ_NAME.match(name):
            raise ConfigurationError(
                f"{name!r} is not a valid availability-zone name: use letters, digits, '.', '_' or '-' "
                "(at most 64 characters, e.g. 'az-a' or 'us-east-1a')."
            )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigurationError(f"azs lists {', '.join(duplicates)} more than once; name each availability zone once.")
    return names


def place(shards: int, replicas: int, azs: Sequence[str]) -> list[ShardPlacement]:
    """The AZ of every node, shard by shard, following the rules above."""
    count = len(azs)
    plan = []
    for shard in range(shards):
        primary = azs[shard % count]
        others = [azs[(shard + 1 + step) % count] for step in range(count - 1)] or [primary]
        plan.append(ShardPlacement(primary, tuple(others[index % len(others)] for index in range(replicas))))
    return plan


def placement_problems(shards: Iterable[tuple[str | None, Sequence[str | None]]], azs: Sequence[str] | None = None) -> list[str]:
    """Every way a layout breaks the rules, as sentences (an empty list means it follows them).

    `shards` is one `(primary_az, replica_azs)` pair per shard.
    """
    problems: list[str] = []
    layout = list(shards)
    for index, (primary, replicas) in enumerate(layout):
        if not replicas:
            problems.append(f"shard {index}: no replica, so losing its primary loses its data and its writes")
        for number, replica in enumerate(replicas, start=1):
            if replica == primary:
                problems.append(f"shard {index}: replica {number} is in {replica}, the same AZ as its primary")
        spread = [replica for replica in replicas if replica != primary]
        zones_available = len(set(azs or [])) - 1 if azs else len(spread)
        if len(set(spread)) < min(len(spread), zones_available):
            problems.append(f"shard {index}: its replicas share an AZ while another AZ is free")
    primaries = [primary for primary, _ in layout]
    zones = set(azs) if azs else set(primaries)
    if len(layout) > 1 and len(set(primaries)) < min(len(layout), len(zones)):
        problems.append("primaries are not spread across the AZs: " + ", ".join(f"shard {i} in {az}" for i, az in enumerate(primaries)))
    return problems

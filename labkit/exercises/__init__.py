"""Self-checking exercises, one module per notebook: `from labkit.exercises import strings as ex`."""

from .core import (
    MISSING,
    Incorrect,
    NotAttempted,
    Outcome,
    Problem,
    Result,
    Wrong,
    as_text,
    call_learner,
    command_calls,
    current_client,
    current_topology,
    expect,
    expect_callable,
    expect_key,
    expect_ttl,
    expect_type,
    use,
)
from .progress import progress

__all__ = [
    "MISSING", "Incorrect", "NotAttempted", "Outcome", "Problem", "Result", "Wrong", "as_text", "call_learner", "command_calls",
    "current_client", "current_topology", "expect", "expect_callable", "expect_key", "expect_ttl", "expect_type", "progress", "use",
]

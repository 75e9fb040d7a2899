"""Serve's HAProxy run through ``inplay up``'s wrapper (``cluster.local.haproxy_wrapper_env``):
the stats and Prometheus frontends, as Serve's template writes them (``bind *:`` and
``bind :``), listen on loopback only, and the HTTP frontend names the client in
``X-Forwarded-For`` (replacing what the client sent)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import psutil

from cluster.config import Settings
from cluster.local import haproxy_wrapper_env
from storage.embedded import free_port


def serve_lines(section: str) -> list[str]:
    """The first lines of a section of Serve's HAProxy template, as written there."""
    from ray.serve._private.haproxy_templates import HAPROXY_CONFIG_TEMPLATE

    lines = HAPROXY_CONFIG_TEMPLATE.splitlines()
    start = lines.index(section)
    return lines[start:start + 2]


def config(stats: int, metrics: int, frontend: int) -> str:
    prometheus, stats_listen = serve_lines("frontend prometheus"), serve_lines("listen stats")
    assert re.fullmatch(r"\s*bind :\{\{ config\.metrics_port \}\}", prometheus[1]), prometheus
    assert re.fullmatch(r"\s*bind \*:\{\{ config\.stats_port \}\}", stats_listen[1])
    render = {"{{ config.metrics_port }}": str(metrics), "{{ config.stats_port }}": str(stats)}

    def rendered(lines: list[str]) -> str:
        text = "\n".join(lines)
        for name, value in render.items():
            text = text.replace(name, value)
        return text

    return f"""global
    maxconn 256
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
{rendered(prometheus)}
    mode http
    http-request use-service prometheus-exporter if {{ path /metrics }}
frontend http_frontend
    bind 127.0.0.1:{frontend}
    http-request return status 200 content-type text/plain lf-string \
        "%[req.hdr(x-forwarded-for)] %[req.hdr(x-inplay-received)]"
{rendered(stats_listen)}
  stats enable
  stats uri /stats
"""


def listening(pid: int) -> set[tuple[str, int]]:
    return {(c.laddr.ip, c.laddr.port) for c in psutil.Process(pid).net_connections("tcp")
            if c.status == psutil.CONN_LISTEN}


def test_wrapped_haproxy_keeps_stats_and_metrics_on_loopback(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    wrapper = haproxy_wrapper_env(settings)["RAY_SERVE_HAPROXY_BINARY_PATH"]
    assert Path(wrapper).stat().st_mode & 0o777 == 0o700
    stats, metrics, frontend = free_port(), free_port(), free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(config(stats, metrics, frontend))
    assert subprocess.run([wrapper, "-c", "-f", str(cfg)], capture_output=True,
                          timeout=30).returncode == 0
    text = cfg.read_text()
    assert f"bind 127.0.0.1:{metrics}" in text and f"bind 127.0.0.1:{stats}" in text
    assert text.count("X-Forwarded-For %[src]") == 1  # run twice: added once
    assert text.count("X-Inplay-Received %[date(0,ms)]") == 1
    proc = subprocess.Popen([wrapper, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while len(found := listening(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        # the wrapper exec'd the real HAProxy: the same process, Serve's arguments
        assert "/haproxy" in " ".join(psutil.Process(proc.pid).cmdline())
        assert found == {("127.0.0.1", stats), ("127.0.0.1", metrics),
                         ("127.0.0.1", frontend)}, found
        assert httpx.get(f"http://127.0.0.1:{stats}/stats").status_code == 200
        answer = httpx.get(f"http://127.0.0.1:{frontend}/",
                           headers={"X-Forwarded-For": "203.0.113.9",
                                    "X-Inplay-Received": "1"})
        address, stamp = answer.text.split(" ")
        assert address == "127.0.0.1"  # the client's address, never what it claimed
        # and when HAProxy took the request (ms), never what the client claimed
        assert abs(int(stamp) / 1000 - time.time()) < 5, stamp
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_without_loopback_only_the_binds_stay_and_the_client_is_still_named(
        tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", ray_loopback_only=False)
    wrapper = haproxy_wrapper_env(settings)["RAY_SERVE_HAPROXY_BINARY_PATH"]
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(config(free_port(), free_port(), free_port()))
    assert subprocess.run([wrapper, "-c", "-f", str(cfg)], capture_output=True,
                          timeout=30).returncode == 0
    text = cfg.read_text()
    assert "bind 127.0.0.1:" not in text.split("frontend http_frontend")[0]
    assert "X-Forwarded-For %[src]" in text

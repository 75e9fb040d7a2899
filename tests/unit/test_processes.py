"""cluster.processes on real processes (psutil; no /proc parsing, so the same on macOS)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import processes
from storage.embedded import RESERVED_PORTS, free_port

# a parent that starts a child in its own session and sleeps; both print their pid
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "child"])
print(child.pid, flush=True)
time.sleep(120)
"""


def wait_until(check: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition never held")


@pytest.fixture
def tree() -> Iterator[tuple[subprocess.Popen[str], int, str]]:
    """A parent in a session of its own with one child; the marker on the parent's command."""
    marker = f"proc-test-{secrets.token_hex(4)}"
    proc = subprocess.Popen([sys.executable, "-c", TREE, marker], stdout=subprocess.PIPE,
                            text=True, start_new_session=True,
                            env={**os.environ, "PROC_TEST_MARK": marker})
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    yield proc, child, marker
    processes.terminate({proc.pid, child}, grace_s=2)
    proc.wait(5)


def test_cmdline_parent_session_and_marks(tree: tuple[subprocess.Popen[str], int, str],
                                          ) -> None:
    proc, child, marker = tree
    assert marker in processes.cmdline(proc.pid)
    # the child's pid is printed as soon as it is forked, maybe before it exec'd its command
    wait_until(lambda: processes.cmdline(child).endswith("child"))
    assert processes.parent_pid(child) == proc.pid
    assert processes.parent_pid(proc.pid) == os.getpid()
    assert processes.os_session(proc.pid) == proc.pid  # start_new_session: its own session
    assert processes.os_session(child) == proc.pid  # inherited
    assert {proc.pid, child} <= set(processes.all_pids())
    # the environment is inherited by the child: a whole launch is found by one variable
    assert processes.marked_pids("PROC_TEST_MARK", marker) == {proc.pid, child}
    assert processes.session_pids(marker) == {proc.pid, child}
    assert processes.descendants({proc.pid}) == {proc.pid, child}
    assert processes.label(proc.pid).startswith("python")
    assert processes.cpu_seconds(proc.pid) is not None
    assert (processes.rss_bytes(proc.pid) or 0) > 1_000_000


def test_gone_processes_are_absent_not_errors() -> None:
    done = subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert done.returncode == 0
    gone = 2**22 + 12345  # above Linux's pid_max default and macOS's 99999
    assert processes.cmdline(gone) == ""
    assert processes.parent_pid(gone) is None
    assert processes.os_session(gone) is None
    assert not processes.alive(gone)
    assert processes.listening({gone}) == []
    assert processes.allocator_of(gone) == "allocator unknown"
    assert processes.cpu_seconds(gone) is None
    processes.terminate({gone}, grace_s=0.1)


def test_a_zombie_is_not_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_until(lambda: not processes.alive(proc.pid))  # exited, not reaped yet
    assert proc.returncode is None
    proc.wait()


def test_terminate_escalates_to_sigkill_for_a_process_that_ignores_sigterm() -> None:
    stubborn = subprocess.Popen([sys.executable, "-c", (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(120)")], stdout=subprocess.PIPE, text=True)
    assert stubborn.stdout is not None and stubborn.stdout.readline().strip() == "ready"
    started = time.monotonic()
    processes.terminate({stubborn.pid}, grace_s=0.5)
    assert stubborn.wait(5) == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_terminate_never_signals_this_process() -> None:
    processes.terminate({os.getpid()}, grace_s=0.1)  # still here


def test_listening_reports_address_and_port_of_each_socket() -> None:
    port4, port6 = free_port(), free_port()
    script = f"""
import socket, time
a = socket.socket(); a.bind(("127.0.0.1", {port4})); a.listen()
b = socket.socket(socket.AF_INET6); b.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
b.bind(("::", {port6})); b.listen()
c = socket.socket(); c.bind(("127.0.0.1", 0))  # bound, not listening
print("ready", flush=True); time.sleep(120)
"""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        found = processes.listening({proc.pid})
        assert (proc.pid, "127.0.0.1", port4) in found
        assert (proc.pid, "::", port6) in found
        assert len(found) == 2, found
    finally:
        proc.kill()
        proc.wait()


def test_cwd_pids_finds_processes_working_inside_a_directory(tmp_path: Path) -> None:
    inside = tmp_path / "data" / "redis"
    inside.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], cwd=inside)
    try:
        wait_until(lambda: proc.pid in processes.cwd_pids(tmp_path))
        assert proc.pid not in processes.cwd_pids(tmp_path / "data" / "other")
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(sys.platform != "linux", reason="mapped files are listed on Linux")
def test_allocator_of_sees_a_preloaded_jemalloc() -> None:
    from storage.embedded import bundled_jemalloc

    assert processes.allocator_of(os.getpid()) in ("libc malloc", "jemalloc")
    lib = bundled_jemalloc()
    if lib is None:
        pytest.skip("Ray's wheel ships no jemalloc here")
    proc = subprocess.Popen([sys.executable, "-c", "print('ready', flush=True); "
                             "import time; time.sleep(120)"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "LD_PRELOAD": str(lib)})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        assert processes.allocator_of(proc.pid) == "jemalloc"
    finally:
        proc.kill()
        proc.wait()


def test_free_port_single_block_and_udp() -> None:
    for _ in range(20):
        assert free_port() not in RESERVED_PORTS
    base = free_port(block=8)
    assert 32000 <= base < 60000 - 8
    socks = []
    try:
        for port in range(base, base + 8):  # all eight were free a moment ago
            sock = socket.socket()
            socks.append(sock)
            sock.bind(("127.0.0.1", port))
    finally:
        for sock in socks:
            sock.close()
    udp = free_port(udp=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", udp))

"""Finding and stopping the processes of one local Ray session (never anyone else's).

``ray stop`` kills every Ray process on the machine, which would take down other inplay
homes and test runs; inplay stops only the processes of the session it started: those whose
command line names the session, and all their descendants (workers, HAProxy).

Everything here goes through psutil, so it works on Linux and macOS alike. A process that is
gone, a zombie, or one of another user that the OS will not describe is treated as absent:
these helpers never raise for a pid that vanished between two looks.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

# what a look at a pid that is gone, a zombie, or not ours to inspect raises
_GONE = (psutil.Error, OSError)


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except _GONE:
        return None


def cmdline(pid: int) -> str:
    """The command line, arguments joined by spaces ("" if gone or not readable)."""
    proc = _process(pid)
    if proc is None:
        return ""
    try:
        return " ".join(arg for arg in proc.cmdline() if arg)
    except _GONE:
        return ""


def parent_pid(pid: int) -> int | None:
    proc = _process(pid)
    if proc is None:
        return None
    try:
        return int(proc.ppid())
    except _GONE:
        return None


def all_pids() -> list[int]:
    return [int(p) for p in psutil.pids()]


def os_session(pid: int) -> int | None:
    """The OS session id of ``pid`` (inherited by every descendant unless it calls setsid)."""
    try:
        return os.getsid(pid)
    except OSError:
        return None


def descendants(roots: Iterable[int]) -> set[int]:
    """``roots`` and every process below them (one pass over the process table)."""
    found = set(roots)
    children: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):
        children.setdefault(proc.info["ppid"] or 0, []).append(proc.pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def session_pids(marker: str) -> set[int]:
    """Processes whose command line contains ``marker``, plus all their descendants."""
    me = os.getpid()
    roots = set()
    for proc in psutil.process_iter(["cmdline"]):
        line = proc.info["cmdline"]
        if proc.pid != me and line and marker in " ".join(line):
            roots.add(proc.pid)
    return descendants(roots) - {me}


def _others_where(test: Callable[[psutil.Process], bool]) -> set[int]:
    """Processes (not this one) for which ``test`` holds; those gone or hidden are skipped."""
    me = os.getpid()
    found = set()
    for proc in psutil.process_iter():
        try:
            if proc.pid != me and test(proc):
                found.add(proc.pid)
        except _GONE:
            continue
    return found


def marked_pids(name: str, value: str) -> set[int]:
    """Processes (not this one) whose environment has ``name=value``.

    A variable set when a process is started is inherited by everything it starts, Ray's
    workers included: this finds a whole launch, even the parts orphaned to init. Processes
    that rewrite their environment block for their title (valkey-server) hide it.
    """
    return _others_where(lambda proc: proc.environ().get(name) == value)


def cwd_pids(directory: Path) -> set[int]:
    """Processes (not this one) whose working directory is ``directory`` or below it.

    valkey-server changes into its data directory and hides its environment: this is how the
    embedded store of a home is found when nothing else points at it.
    """
    root = os.path.realpath(directory)

    def inside(proc: psutil.Process) -> bool:
        cwd = proc.cwd()
        return bool(cwd) and (cwd == root or cwd.startswith(root + os.sep))

    return _others_where(inside)


def terminate(pids: set[int], grace_s: float = 10.0) -> None:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL whatever is left.

    Each pid is bound to its process (start time) first, so a pid the OS reuses meanwhile is
    never signalled.
    """
    procs = [p for p in map(_process, pids - {os.getpid()}) if p is not None]
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)):
        for proc in procs:
            with contextlib.suppress(*_GONE):
                proc.send_signal(sig)
        deadline = time.monotonic() + wait_s
        while True:
            procs = [p for p in procs if _running(p)]
            if not procs or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        if not procs:
            return


def _running(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running()) and proc.status() not in (psutil.STATUS_ZOMBIE,
                                                                 psutil.STATUS_DEAD)
    except _GONE:
        return False


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    proc = _process(pid)
    return proc is not None and _running(proc)


def listening(pids: set[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP socket these processes listen on.

    Per process (``Process.net_connections``), not machine-wide: on macOS the machine-wide
    table needs root, a process's own sockets do not. An IPv4-mapped IPv6 address is given as
    the IPv4 address it maps.
    """
    out: set[tuple[int, str, int]] = set()
    for pid in pids:
        proc = _process(pid)
        if proc is None:
            continue
        try:
            connections = proc.net_connections(kind="tcp")
        except _GONE:
            continue
        for conn in connections:
            if conn.status != psutil.CONN_LISTEN or not conn.laddr:
                continue
            host = conn.laddr.ip.split("%", 1)[0]  # drop an IPv6 zone ("fe80::1%lo0")
            addr = ipaddress.ip_address(host)
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
                addr = addr.ipv4_mapped
            out.add((pid, str(addr), int(conn.laddr.port)))
    return sorted(out)


def allocator_of(pid: int) -> str:
    """"jemalloc" when that library is mapped into the process, else "libc malloc".

    psutil lists mapped files on Linux (and the BSDs); on macOS it cannot, which is said as
    "allocator unknown" (the preloaded jemalloc is a Linux library anyway).
    """
    proc = _process(pid)
    if proc is None or not hasattr(proc, "memory_maps"):
        return "allocator unknown"
    try:
        maps = proc.memory_maps(grouped=True)
    except (*_GONE, NotImplementedError):
        return "allocator unknown"
    return "jemalloc" if any("libjemalloc" in m.path for m in maps) else "libc malloc"


def label(pid: int) -> str:
    """A short name for reports: ``ray::EventActor``, ``python -m mod``, ``valkey-server``."""
    proc = _process(pid)
    try:
        args = [a for a in proc.cmdline() if a] if proc is not None else []
    except _GONE:
        args = []
    if not args:
        return "?"
    first = args[0]
    if first.startswith("ray::"):
        head, _, rest = first.split()[0].partition("::")
        return f"{head}::{rest.split('.')[0]}"
    base = os.path.basename(first.split()[0])
    if base.startswith("python"):
        if "-m" in args[1:]:
            i = args.index("-m")
            return f"python -m {args[i + 1]}" if i + 1 < len(args) else base
        rest_args = [a for a in args[1:] if not a.startswith("-")]
        if rest_args:
            return f"python {os.path.basename(rest_args[0])}"
    return base


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds the process has used (its reaped children not included)."""
    proc = _process(pid)
    if proc is None:
        return None
    try:
        times = proc.cpu_times()
    except _GONE:
        return None
    return float(times.user + times.system)


def rss_bytes(pid: int) -> int | None:
    """Resident set size."""
    proc = _process(pid)
    if proc is None:
        return None
    try:
        return int(proc.memory_info().rss)
    except _GONE:
        return None

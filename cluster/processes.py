"""Finding and stopping the processes of one local Ray session (never anyone else's).

``ray stop`` kills every Ray process on the machine, which would take down other inplay
homes and test runs; inplay stops only the processes of the session it started: those whose
command line names the session, and all their descendants (workers, HAProxy).
"""

from __future__ import annotations

import ipaddress
import os
import signal
import time
from pathlib import Path


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command (state, ppid, pgrp, session, ...)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command may contain spaces or parentheses: the fields follow the last ')'
    return stat.rsplit(")", 1)[1].split()


def parent_pid(pid: int) -> int | None:
    fields = _stat(pid)
    return None if fields is None else int(fields[1])


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def os_session(pid: int) -> int | None:
    """The OS session id of ``pid`` (inherited by every descendant unless it calls setsid)."""
    fields = _stat(pid)
    return None if fields is None else int(fields[3])


def session_pids(marker: str) -> set[int]:
    """Processes whose command line contains ``marker``, plus all their descendants."""
    pids = all_pids()
    roots = {p for p in pids if marker in cmdline(p) and p != os.getpid()}
    parents = {p: parent_pid(p) for p in pids}
    found = set(roots)
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in found and pid not in found and pid != os.getpid():
                found.add(pid)
                changed = True
    return found


def terminate(pids: set[int], grace_s: float = 10.0) -> None:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL whatever is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 2.0)
        while time.monotonic() < deadline:
            pids = {p for p in pids if alive(p)}
            if not pids:
                return
            time.sleep(0.1)


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _listening_inodes() -> dict[int, tuple[str, int]]:
    """Socket inode -> (address, port) of every TCP socket listening on this machine."""
    found: dict[int, tuple[str, int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            hex_addr, hex_port = fields[1].split(":")
            # the kernel prints the address as 32-bit words in host order (little-endian on
            # x86 and arm64): one word for IPv4, four for IPv6
            raw = bytes.fromhex(hex_addr)
            addr = ipaddress.ip_address(b"".join(raw[i:i + 4][::-1]
                                                 for i in range(0, len(raw), 4)))
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
                addr = addr.ipv4_mapped
            found[int(fields[9])] = (str(addr), int(hex_port, 16))
    return found


def listening(pids: set[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP socket these processes listen on."""
    inodes = _listening_inodes()
    out: list[tuple[int, str, int]] = []
    for pid in sorted(pids):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = int(target[8:-1])
                if inode in inodes:
                    out.append((pid, *inodes[inode]))
    return sorted(set(out))


def allocator_of(pid: int) -> str:
    """"jemalloc" when that library is mapped into the process, else "libc malloc"."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return "allocator unknown"
    return "jemalloc" if "libjemalloc" in maps else "libc malloc"

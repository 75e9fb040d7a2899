"""The SSE clients: N streams spread over worker processes, each an asyncio loop (uvloop) of
raw sockets with httptools for HTTP/1.1 (status, chunked transfer coding) and
``oddsbench.sse`` for the messages.

A stream is one ``asyncio.Protocol``: no client library, no task per stream, no JSON decoded
(only the ``id`` of each ``odds`` message is kept, with the time its bytes arrived), so the
clients cost little next to the server they measure — and what they cost is measured
(``getrusage`` of each worker) and reported.

``ClientPool`` runs in the benchmark's process and drives the workers over pipes: ``open``
(more streams; a stream counts as open once its first ``snapshot`` arrived), ``record`` /
``collect`` (the samples of a measured window), ``status``, ``close_streams`` and ``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import multiprocessing as mp
import resource
import socket
import struct
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import numpy.typing as npt

from simulations.oddsbench.sse import SseParser, stream_request

_LINGER_RESET = struct.pack("ii", 1, 0)


class StreamFailed(Exception):
    """A stream that did not open (the reason is the message)."""


def raise_nofile(want: int) -> tuple[int, int]:
    """Raise this process's open-files limit towards ``want`` (the hard limit too, where
    allowed: as root); the (soft, hard) limits that apply afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if want > hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(want, hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _reason(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"timeout: no snapshot within {timeout_s:g}s"
    if isinstance(exc, StreamFailed):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno:
        return f"{errno.errorcode.get(exc.errno, exc.errno)}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


class _Stream(asyncio.Protocol):
    """One client's stream."""

    def __init__(self, worker: Worker, request: bytes, ready: asyncio.Future[None]) -> None:
        import httptools

        self.worker = worker
        self.request = request
        self.ready = ready
        self.parser = httptools.HttpResponseParser(self)
        self.sse = SseParser()
        self.transport: asyncio.Transport | None = None
        self.now = 0.0
        self.status = 0
        self.open = False  # its first snapshot arrived
        self.done = False
        self.last_id = -1
        self.odds = 0  # odds messages received while recording
        self.resnaps = 0  # snapshots after the first one, while recording
        self.regressions = 0  # an id at or below the one before it (never expected)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.now = time.monotonic()
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # httptools.HttpParserError and friends
            self._end(f"unreadable response: {exc}")

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end("connection closed by the server" if exc is None else _reason(exc, 0))

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status != 200:
            self._end(f"HTTP {self.status}")

    def on_body(self, body: bytes) -> None:
        worker = self.worker
        for msg in self.sse.feed(body):
            ident = msg.id
            if ident is not None:
                if ident <= self.last_id and msg.event != "snapshot":
                    self.regressions += 1
                self.last_id = ident
            kind = msg.event
            if kind == "odds":
                if worker.recording and ident is not None:
                    self.odds += 1
                    if len(worker.ids) < worker.max_samples:
                        worker.ids.append(ident)
                        worker.times.append(self.now)
                    else:
                        worker.dropped += 1
            elif kind == "snapshot":
                if not self.open:
                    self.open = True
                    if not self.ready.done():
                        self.ready.set_result(None)
                elif worker.recording:
                    self.resnaps += 1

    def on_message_complete(self) -> None:
        self._end("the server ended the stream")

    def _end(self, reason: str) -> None:
        if self.done:
            return
        self.done = True
        if self.transport is not None:
            self.transport.abort()
        if not self.ready.done():
            self.ready.set_exception(StreamFailed(reason))
        elif self.open:
            self.worker.lost(self, reason)

    def close(self) -> None:
        """Hang up with a reset (SO_LINGER 0): no TIME_WAIT left holding a port."""
        self.done = True
        if self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            self.transport.abort()


class Worker:
    """The streams of one process."""

    def __init__(self, host: str, port: int, path: str,
                 max_samples: int = 8_000_000) -> None:
        self.host, self.port, self.path = host, port, path
        # samples kept per window (16 bytes each); beyond it only the per-stream counts
        self.max_samples = max_samples
        self.dropped = 0
        self.request = stream_request(host, port, path)
        self.streams: set[_Stream] = set()
        self.recording = False
        self.ids: array[int] = array("q")
        self.times: array[float] = array("d")
        self.ended: Counter[str] = Counter()  # open streams the server (or the network) ended
        self._cpu0 = 0.0
        self._t0 = 0.0

    def lost(self, stream: _Stream, reason: str) -> None:
        self.streams.discard(stream)
        self.ended[reason] += 1

    async def open(self, count: int, concurrency: int = 64, timeout_s: float = 30.0,
                   give_up_after: int = 0) -> dict[str, Any]:
        """``count`` more streams (``concurrency`` opening at once); stops trying once
        ``give_up_after`` (> 0) have failed."""
        loop = asyncio.get_running_loop()
        sem = asyncio.Semaphore(concurrency)
        failures: Counter[str] = Counter()
        opened = 0
        untried = 0
        open_ms: list[float] = []
        cpu0, t0 = _cpu_s(), time.monotonic()

        async def one() -> None:
            nonlocal opened, untried
            async with sem:
                if give_up_after and sum(failures.values()) >= give_up_after:
                    untried += 1
                    return
                ready: asyncio.Future[None] = loop.create_future()
                stream: _Stream | None = None
                started = time.monotonic()
                try:
                    async with asyncio.timeout(timeout_s):
                        _, stream = await loop.create_connection(
                            lambda: _Stream(self, self.request, ready), self.host, self.port)
                        await ready
                except (OSError, TimeoutError, StreamFailed) as exc:
                    failures[_reason(exc, timeout_s)] += 1
                    if stream is not None:
                        stream.close()
                    return
                opened += 1
                open_ms.append((time.monotonic() - started) * 1000)
                self.streams.add(stream)

        await asyncio.gather(*(one() for _ in range(count)))
        return {"asked": count, "opened": opened, "failed": dict(failures), "untried": untried,
                "open": len(self.streams), "seconds": round(time.monotonic() - t0, 2),
                "cpu_s": round(_cpu_s() - cpu0, 3), "open_ms": open_ms}

    async def record(self) -> dict[str, Any]:
        """Start a measured window: samples and per-stream counters from zero."""
        self.ids, self.times = array("q"), array("d")
        self.dropped = 0
        for stream in self.streams:
            stream.odds = stream.resnaps = 0
        self.recording = True
        self._cpu0, self._t0 = _cpu_s(), time.monotonic()
        return {"open": len(self.streams)}

    async def collect(self) -> dict[str, Any]:
        """End the window: its samples, each stream's count, the CPU this process used."""
        self.recording = False
        wall = time.monotonic() - self._t0
        streams = list(self.streams)
        return {
            "ids": self.ids.tobytes(), "times": self.times.tobytes(),
            "per_stream": array("q", (s.odds for s in streams)).tobytes(),
            "resnapped": sum(1 for s in streams if s.resnaps),
            "regressions": sum(s.regressions for s in streams),
            "open": len(streams), "ended": dict(self.ended),
            "cpu_s": round(_cpu_s() - self._cpu0, 3), "wall_s": round(wall, 3),
            "rss": _rss(), "keepalives": sum(s.sse.comments for s in streams),
            "samples_dropped": self.dropped,
        }

    async def status(self) -> dict[str, Any]:
        return {"open": len(self.streams), "ended": dict(self.ended), "rss": _rss(),
                "cpu_s": round(_cpu_s(), 3), "recorded": len(self.ids) + self.dropped,
                "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE))}

    async def close(self, count: int | None = None) -> dict[str, Any]:
        """Hang up ``count`` streams (all by default) with a reset: no TIME_WAIT left holding
        the client's ports."""
        chosen = list(self.streams)[:count] if count is not None else list(self.streams)
        for stream in chosen:
            self.streams.discard(stream)
            stream.close()
        await asyncio.sleep(0)
        return {"closed": len(chosen), "open": len(self.streams)}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def worker_main(conn: Connection, host: str, port: int, path: str, nofile: int) -> None:
    """A client process: commands from the pipe, one at a time, answered in order."""
    raise_nofile(nofile)

    async def serve() -> None:
        worker = Worker(host, port, path)
        loop = asyncio.get_running_loop()
        while True:
            try:
                command, kwargs = await loop.run_in_executor(None, conn.recv)
            except EOFError:  # the benchmark is gone
                await worker.close()
                return
            if command == "exit":
                await worker.close()
                conn.send({})
                return
            try:
                result = await getattr(worker, command)(**kwargs)
            except Exception as exc:
                result = {"error": f"{type(exc).__name__}: {exc}"}
            conn.send(result)

    try:
        import uvloop

        uvloop.run(serve())
    except ImportError:
        asyncio.run(serve())


@dataclass
class Collected:
    """One measured window of every worker."""

    ids: npt.NDArray[np.int64]
    times: npt.NDArray[np.float64]
    per_stream: npt.NDArray[np.int64]
    resnapped: int
    regressions: int
    open: int
    ended: dict[str, int]
    cpu_s: float
    wall_s: float
    rss: int
    keepalives: int
    samples_dropped: int = 0
    workers: int = 1
    cpu_by_worker: list[float] = field(default_factory=list)

    @property
    def cores(self) -> float:
        """Average cores the clients used over the window."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def saturated(self) -> bool:
        """A client process at ≥ 90% of a core: its own queueing is part of the latency."""
        return any(c >= 0.9 for c in self.cpu_by_worker)


class ClientPool:
    """``workers`` client processes (spawned, so nothing of this process leaks into them)."""

    def __init__(self, host: str, port: int, path: str, workers: int = 2,
                 nofile: int = 65536) -> None:
        self.host, self.port, self.path = host, port, path
        self.workers, self.nofile = workers, nofile
        self._procs: list[Any] = []
        self._pipes: list[Connection] = []

    def start(self) -> ClientPool:
        ctx = mp.get_context("spawn")
        for _ in range(self.workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, daemon=True,
                               args=(child, self.host, self.port, self.path, self.nofile))
            proc.start()
            child.close()
            self._procs.append(proc)
            self._pipes.append(parent)
        self.status()  # every worker up and answering
        return self

    @property
    def pids(self) -> list[int]:
        return [int(p.pid) for p in self._procs if p.pid is not None]

    def _call(self, command: str, kwargs: list[dict[str, Any]],
              timeout_s: float = 120.0) -> list[dict[str, Any]]:
        for pipe, args in zip(self._pipes, kwargs, strict=True):
            pipe.send((command, args))
        out = []
        for pipe, proc in zip(self._pipes, self._procs, strict=True):
            if not pipe.poll(timeout_s):
                raise RuntimeError(f"client worker {proc.pid} did not answer {command!r} "
                                   f"in {timeout_s:.0f}s")
            out.append(pipe.recv())
        errors = [r["error"] for r in out if "error" in r]
        if errors:
            raise RuntimeError(f"client worker failed {command!r}: {errors}")
        return out

    def _same(self, command: str, timeout_s: float = 120.0, **kwargs: Any) -> list[dict[str, Any]]:
        return self._call(command, [kwargs] * len(self._pipes), timeout_s)

    def open(self, count: int, concurrency: int = 64, timeout_s: float = 30.0,
             give_up_after: int = 0) -> dict[str, Any]:
        """``count`` more streams over the workers; what opened and why the rest did not."""
        w = len(self._pipes)
        shares = [count // w + (1 if i < count % w else 0) for i in range(w)]
        give_up = max(1, give_up_after // w) if give_up_after else 0
        parts = self._call("open", [{"count": s, "concurrency": concurrency,
                                     "timeout_s": timeout_s, "give_up_after": give_up}
                                    for s in shares],
                           timeout_s=timeout_s * (count / max(1, concurrency * w) + 2) + 60)
        failed: Counter[str] = Counter()
        open_ms: list[float] = []
        for part in parts:
            failed.update(part["failed"])
            open_ms.extend(part["open_ms"])
        return {"asked": count, "opened": sum(p["opened"] for p in parts),
                "failed": dict(failed), "untried": sum(p["untried"] for p in parts),
                "open": sum(p["open"] for p in parts),
                "seconds": max(p["seconds"] for p in parts),
                "client_cpu_s": round(sum(p["cpu_s"] for p in parts), 3),
                "open_ms": open_ms}

    def record(self) -> int:
        """Start a measured window on every worker; the streams open."""
        return sum(r["open"] for r in self._same("record"))

    def collect(self) -> Collected:
        parts = self._same("collect")
        ended: Counter[str] = Counter()
        for part in parts:
            ended.update(part["ended"])
        return Collected(
            ids=np.concatenate([np.frombuffer(p["ids"], dtype=np.int64) for p in parts]),
            times=np.concatenate([np.frombuffer(p["times"], dtype=np.float64) for p in parts]),
            per_stream=np.concatenate([np.frombuffer(p["per_stream"], dtype=np.int64)
                                       for p in parts]),
            resnapped=sum(p["resnapped"] for p in parts),
            regressions=sum(p["regressions"] for p in parts),
            open=sum(p["open"] for p in parts), ended=dict(ended),
            cpu_s=sum(p["cpu_s"] for p in parts), wall_s=max(p["wall_s"] for p in parts),
            rss=sum(p["rss"] for p in parts), keepalives=sum(p["keepalives"] for p in parts),
            samples_dropped=sum(p["samples_dropped"] for p in parts), workers=len(parts),
            cpu_by_worker=[p["cpu_s"] / p["wall_s"] if p["wall_s"] > 0 else 0.0
                           for p in parts])

    def status(self) -> dict[str, Any]:
        parts = self._same("status", timeout_s=60.0)
        ended: Counter[str] = Counter()
        for part in parts:
            ended.update(part["ended"])
        return {"open": sum(p["open"] for p in parts), "ended": dict(ended),
                "rss": sum(p["rss"] for p in parts), "cpu_s": sum(p["cpu_s"] for p in parts),
                "recorded": sum(p["recorded"] for p in parts), "nofile": parts[0]["nofile"]}

    def close_streams(self, keep: int = 0) -> int:
        """Hang up streams until ``keep`` are left (spread evenly); how many are open."""
        opens = [r["open"] for r in self._same("status", timeout_s=60.0)]
        w = len(opens)
        wanted = [keep // w + (1 if i < keep % w else 0) for i in range(w)]
        parts = self._call("close", [{"count": max(0, o - k)}
                                     for o, k in zip(opens, wanted, strict=True)])
        return sum(r["open"] for r in parts)

    def stop(self) -> None:
        """End the workers (their streams hang up with them)."""
        for pipe in self._pipes:
            with contextlib.suppress(OSError, ValueError):
                pipe.send(("exit", {}))
        for proc in self._procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        for pipe in self._pipes:
            pipe.close()
        self._procs, self._pipes = [], []

    def __enter__(self) -> ClientPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


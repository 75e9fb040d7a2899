"""The video's clients: one WHIP publisher process and WHEP viewer processes.

On a real deployment the camera's encoder and the viewers are remote devices; here they run
on the platform's machine, so each runs in a process of its own (``multiprocessing``, spawn)
whose CPU the benchmark measures and reports apart from the platform's. Each process lowers
its own CPU priority first, so that standing in for a remote device takes as little as
possible from the server it measures: a session of its own (``setsid``) whose autogroup gets
the nice value, and the nice value for its threads too. Under autogroup scheduling
(``/proc/sys/kernel/sched_autogroup_enabled``, on here) the scheduler first shares the CPU
between sessions, and a process's own nice only ranks it within its session: the clients at
nice 19 in the benchmark's session took as much as the whole platform's session would give
them (0.38 cores in the first full run).

- the publisher: ``media.client.WhipPublisher`` with the synthetic match
  (``media.synthetic.SyntheticVideoTrack``: libx264, 640x360, 25 fps, 1.5 Mbit/s), signalled
  by ``POST /v1/media/{event_id}/whip`` with a publisher token;
- the viewers: ``media.client.WhepViewer`` (non-decoding: the capture stamp is read from the
  SEI), each signalled by ``POST /v1/media/{event_id}/whep`` with its own player token. A
  viewer keeps the arrival time of every frame it completes.

Sessions end as a WHIP/WHEP client ends them: the peer connection closes, then ``DELETE`` of
the session the answer's ``Location`` named.

``VideoClients`` (the benchmark's process) drives the workers over pipes: ``start`` (connect),
``mark`` (a measured window begins), ``collect`` (what each viewer received since the mark,
and the frames the publisher sent), ``stop`` (end the sessions; the processes stay for the
next window) and ``close`` (the processes end).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import resource
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

SDP = "application/sdp"
START_TIMEOUT_S = 30.0  # a viewer's WHEP is retried this long while nothing is published yet


@dataclass(frozen=True)
class WorkerSpec:
    """What one client process does."""

    role: str  # "publisher" | "viewers"
    base_url: str
    event_id: str
    tokens: tuple[str, ...]  # the publisher's token, or one per viewer
    nice: int
    concurrency: int = 5  # viewers connecting at once


class Refused(Exception):
    """A signalling request that did not answer 201."""


class _Session:
    """One WHIP/WHEP session: signals over HTTP and remembers the Location to DELETE."""

    def __init__(self, http: Any, url: str, token: str) -> None:
        self.http, self.url, self.token = http, url, token
        self.location = ""

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def signal(self, offer: str) -> str:
        answer = await self.http.post(self.url, content=offer,
                                      headers={**self.headers(), "Content-Type": SDP})
        if answer.status_code != 201:
            raise Refused(f"{answer.status_code} {answer.text[:200]}")
        self.location = answer.headers.get("location", "")
        return str(answer.text)

    async def delete(self) -> None:
        if self.location:
            with contextlib.suppress(Exception):
                await self.http.delete(self.location, headers=self.headers())
            self.location = ""


class _Worker:
    """The asyncio side of one client process."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.http: Any = None
        self.publisher: Any = None
        self.viewers: list[tuple[Any, _Session]] = []
        self.sessions: list[_Session] = []
        self.mark_wall = time.time()
        self.mark_cpu = 0.0

    def url(self) -> str:
        kind = "whip" if self.spec.role == "publisher" else "whep"
        return f"{self.spec.base_url}/v1/media/{self.spec.event_id}/{kind}"

    async def start(self) -> dict[str, Any]:
        import httpx

        t0 = time.monotonic()
        if self.http is None:
            self.http = httpx.AsyncClient(base_url=self.spec.base_url, timeout=20.0)
        if self.spec.role == "publisher":
            return await self._start_publisher(t0)
        return await self._start_viewers(t0)

    async def _start_publisher(self, t0: float) -> dict[str, Any]:
        from media.client import WhipPublisher
        from media.synthetic import SyntheticVideoTrack

        session = _Session(self.http, self.url(), self.spec.tokens[0])
        self.publisher = WhipPublisher(SyntheticVideoTrack())
        await self.publisher.start(session.signal)
        self.sessions = [session]
        return {"started": 1, "failed": {}, "seconds": round(time.monotonic() - t0, 2)}

    async def _start_viewers(self, t0: float) -> dict[str, Any]:
        from media.client import WhepViewer

        sem = asyncio.Semaphore(self.spec.concurrency)
        failed: Counter[str] = Counter()

        async def one(token: str) -> None:
            session = _Session(self.http, self.url(), token)
            viewer = WhepViewer(decode=False)
            deadline = time.monotonic() + START_TIMEOUT_S
            async with sem:
                while True:
                    try:
                        await viewer.start(session.signal)
                    except Refused as exc:
                        # 404 MEDIA_NOT_LIVE: the publisher's media has not arrived yet
                        if str(exc).startswith("404") and time.monotonic() < deadline:
                            await viewer.close()
                            viewer = WhepViewer(decode=False)
                            await asyncio.sleep(0.5)
                            continue
                        failed[str(exc)[:80]] += 1
                        await viewer.close()
                        return
                    except Exception as exc:
                        failed[f"{type(exc).__name__}: {exc}"[:80]] += 1
                        await viewer.close()
                        return
                    self.viewers.append((viewer, session))
                    return

        await asyncio.gather(*(one(token) for token in self.spec.tokens))
        return {"started": len(self.viewers), "failed": dict(failed),
                "seconds": round(time.monotonic() - t0, 2)}

    def mark(self) -> dict[str, Any]:
        self.mark_wall, self.mark_cpu = time.time(), _cpu_s()
        for viewer, _ in self.viewers:
            viewer.frames.clear()
        return {"ok": True}

    def collect(self) -> dict[str, Any]:
        """Since the mark: frames per viewer (and their glass-to-glass latencies), the
        publisher's frames, this process's CPU seconds."""
        now = time.time()
        out: dict[str, Any] = {"role": self.spec.role, "seconds": now - self.mark_wall,
                               "cpu_s": _cpu_s() - self.mark_cpu, "pid": os.getpid(),
                               "nice": os.getpriority(os.PRIO_PROCESS, 0),
                               "autogroup": autogroup()}
        if self.publisher is not None:
            sent = self.publisher.track.sent
            out["frames_sent"] = sum(1 for s in sent if s.capture_time >= self.mark_wall)
            del sent[:-100]  # only the last few are ever looked at again
        frames: list[int] = []
        latencies: list[float] = []
        packets: list[int] = []
        for viewer, _ in self.viewers:
            got = [f for f in viewer.frames if f.arrival >= self.mark_wall]
            frames.append(len(got))
            latencies.extend(1000.0 * f.latency for f in got)
            packets.append(viewer.packets)
        out["frames_per_viewer"] = frames
        out["latency_ms"] = latencies
        out["packets_per_viewer"] = packets
        return out

    async def stop(self) -> dict[str, Any]:
        ended = 0
        for viewer, session in self.viewers:
            with contextlib.suppress(Exception):
                await viewer.close()
            await session.delete()
            ended += 1
        self.viewers = []
        if self.publisher is not None:
            with contextlib.suppress(Exception):
                await self.publisher.close()
            self.publisher = None
            ended += 1
        for session in self.sessions:
            await session.delete()
        self.sessions = []
        return {"ended": ended}

    async def close(self) -> None:
        await self.stop()
        if self.http is not None:
            await self.http.aclose()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


AUTOGROUP = Path("/proc/self/autogroup")


def lower_priority(nice: int) -> None:
    """This process in a session of its own whose autogroup runs at ``nice``, and
    ``nice`` for its threads (only this one exists yet: those started later inherit it)."""
    if nice <= 0:
        return
    nice = min(19, nice)
    with contextlib.suppress(OSError):
        os.setsid()
    with contextlib.suppress(OSError):  # no autogroup support: the thread's nice alone
        AUTOGROUP.write_text(str(nice))
    os.setpriority(os.PRIO_PROCESS, 0, nice)


def autogroup() -> str:
    """``/proc/self/autogroup`` (``/autogroup-<n> nice <n>``), or "" without one."""
    try:
        return AUTOGROUP.read_text().strip()
    except OSError:
        return ""


def _serve(conn: Connection, spec: WorkerSpec) -> None:
    """A client process: lower its priority, then answer commands until ``close``."""
    lower_priority(spec.nice)

    async def loop() -> None:
        worker = _Worker(spec)
        while True:
            command = await asyncio.to_thread(conn.recv)
            try:
                if command == "start":
                    reply: Any = await worker.start()
                elif command == "mark":
                    reply = worker.mark()
                elif command == "collect":
                    reply = worker.collect()
                elif command == "stop":
                    reply = await worker.stop()
                else:
                    await worker.close()
                    conn.send({"closed": True})
                    return
            except Exception as exc:
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            conn.send(reply)

    asyncio.run(loop())


def split(tokens: Sequence[str], parts: int) -> list[tuple[str, ...]]:
    """``tokens`` dealt over ``parts`` processes (none empty; fewer parts if few tokens)."""
    parts = max(1, min(parts, len(tokens)))
    return [tuple(tokens[i::parts]) for i in range(parts)]


class VideoClients:
    """The publisher process and the viewer processes, driven from the benchmark."""

    def __init__(self, base_url: str, event_id: str, publisher_token: str,
                 viewer_tokens: Sequence[str], viewer_processes: int, nice: int) -> None:
        specs = [WorkerSpec("publisher", base_url, event_id, (publisher_token,), nice)]
        specs += [WorkerSpec("viewers", base_url, event_id, part, nice)
                  for part in split(viewer_tokens, viewer_processes)] if viewer_tokens else []
        self.specs = specs
        self._procs: list[tuple[Any, Connection]] = []

    def start_processes(self) -> None:
        ctx = mp.get_context("spawn")
        for spec in self.specs:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, spec), daemon=True,
                               name=f"video-{spec.role}")
            proc.start()
            child.close()
            self._procs.append((proc, parent))

    @property
    def pids(self) -> dict[int, str]:
        """pid → the label its CPU is reported under."""
        return {proc.pid: ("video publisher" if spec.role == "publisher" else "video viewers")
                for (proc, _), spec in zip(self._procs, self.specs, strict=True)
                if proc.pid is not None}

    def _ask(self, command: str, which: str | None = None, timeout_s: float = 120.0
             ) -> list[dict[str, Any]]:
        chosen = [(proc, conn) for (proc, conn), spec in zip(self._procs, self.specs,
                                                              strict=True)
                  if which is None or spec.role == which]
        for _, conn in chosen:
            conn.send(command)
        replies = []
        for proc, conn in chosen:
            if not conn.poll(timeout_s):
                raise RuntimeError(f"video client {proc.name} did not answer {command!r}")
            replies.append(conn.recv())
        return replies

    def start_video(self, viewer_delay_s: float = 2.0) -> dict[str, Any]:
        """The publisher first; once its media flows, every viewer."""
        published = self._ask("start", "publisher")[0]
        if "error" in published:
            raise RuntimeError(f"the WHIP publisher did not start: {published['error']}")
        time.sleep(viewer_delay_s)
        viewers = self._ask("start", "viewers")
        errors = [r["error"] for r in viewers if "error" in r]
        failed: Counter[str] = Counter()
        for reply in viewers:
            failed.update(reply.get("failed", {}))
        return {"publisher": published,
                "viewers_started": sum(r.get("started", 0) for r in viewers),
                "viewers_failed": dict(failed), "errors": errors,
                "viewer_start_s": max((r.get("seconds", 0.0) for r in viewers), default=0.0)}

    def mark(self) -> None:
        self._ask("mark")

    def collect(self) -> list[dict[str, Any]]:
        return self._ask("collect")

    def stop_video(self) -> None:
        self._ask("stop")

    def close(self) -> None:
        for _, conn in self._procs:
            with contextlib.suppress(OSError, BrokenPipeError):
                conn.send("close")
        for proc, conn in self._procs:
            with contextlib.suppress(OSError, EOFError):
                if conn.poll(20):
                    conn.recv()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        self._procs = []

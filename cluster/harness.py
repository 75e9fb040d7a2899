"""A private inplay platform for tests and benchmarks, never left running behind them.

``LocalPlatform`` starts ``inplay up [--demo] --detach`` exactly as a newcomer would, in a
fresh temporary ``INPLAY_HOME`` and a fresh ``HOME`` (no ``~/.ray`` to lean on), on free ports
(never 6379/8000), and stops it with ``inplay down``::

    with LocalPlatform(demo=True) as platform:
        platform.url, platform.username, platform.password, platform.operator_token

What keeps a platform (Redis, a Ray head, ~40 processes) from outliving its owner:

- ``stop()`` runs ``inplay down``, then ends whatever of the launch still runs: every process
  whose environment carries ``INPLAY_HARNESS_RUN=<run id>`` (``inplay up`` and everything it
  starts inherit it, Ray's workers included) and every process working inside the home
  (valkey-server, which overwrites its environment with its title, runs in its data dir).
- While a platform is up, SIGINT and SIGTERM first stop every platform of this process, then
  go where they went before: SIGINT to the previous handler (``KeyboardInterrupt``), SIGTERM
  to the default action (the process dies by it). A signal that arrives while a platform is
  being stopped waits until the stop is done. ``atexit`` stops what is still up at exit.
- Each launch is recorded in ``REGISTRY`` (``<tmp>/inplay-harness-<uid>/<run id>.json``), and
  its owner holds an exclusive ``flock`` on that record for as long as it lives. ``start()``
  first stops every recorded launch whose lock is free, i.e. whose owner died without
  stopping it (SIGKILL, a crash). ``python -m cluster.harness cleanup`` does that by hand.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

from cluster import processes
from storage.embedded import free_port

MARKER_ENV = "INPLAY_HARNESS_RUN"
REGISTRY = Path(tempfile.gettempdir()) / f"inplay-harness-{os.getuid()}"
# `inplay up --demo` prints each demo player as "player: <username> / <password>"
CREDENTIALS = re.compile(r"player:\s*(\S+)\s*/\s*(\S+)")
# the developer's own platform and credentials must not leak into a private one
_NOT_INHERITED = ("REDIS_URL", "INPLAY_CONFIG", "RAY_ADDRESS", "RAY_AUTH_TOKEN",
                  "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE")


def _say(message: str) -> None:
    print(f"inplay harness: {message}", file=sys.stderr, flush=True)


def default_command() -> list[str]:
    """The ``inplay`` entry point of this interpreter's environment."""
    return [str(Path(sys.executable).with_name("inplay"))]


class PlatformError(RuntimeError):
    """The platform could not be started."""


@dataclass
class Teardown:
    """What stopping a launch did."""

    home: str
    down_returncode: int | None = None  # None: `inplay down` did not run or did not finish
    down_output: str = ""
    # processes still running after `inplay down`, ended by pid ("label (pid)")
    leftovers: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.down_returncode in (0, None) and not self.leftovers


# ---------------------------------------------------------------- the record of a launch


@dataclass
class _Record:
    run_id: str
    owner_pid: int
    home: str
    user_home: str
    keep_home: bool
    command: list[str]
    started_at: float

    def down_env(self) -> dict[str, str]:
        return _environment(Path(self.home), Path(self.user_home), {})


def _environment(home: Path, user_home: Path, extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env.update({"HOME": str(user_home), "INPLAY_HOME": str(home)})
    env.update(extra)
    return env


class _Lease:
    """A launch's record, locked by its owner for as long as the owner lives."""

    def __init__(self, registry: Path, record: _Record) -> None:
        registry.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = registry / f"{record.run_id}.json"
        staging = registry / f"{record.run_id}.tmp"
        # locked before it is visible under its final name: nobody can take it for a leftover
        self.fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        os.write(self.fd, json.dumps(record.__dict__).encode())
        os.fsync(self.fd)
        os.rename(staging, self.path)

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _sweep(run_id: str, home: Path, settle_s: float = 3.0) -> list[str]:
    """End every process of this launch that still runs; their labels.

    A process that exits by itself within ``settle_s`` (an orphan noticing its parent is
    gone) is not counted as left behind.
    """
    pids = (processes.marked_pids(MARKER_ENV, run_id) | processes.cwd_pids(home)) - _ancestry()
    deadline = time.monotonic() + settle_s
    while (pids := {p for p in pids if processes.alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    found = [f"{processes.label(pid)} ({pid})" for pid in sorted(pids)]
    processes.terminate(pids)
    return found


def _ancestry() -> set[int]:
    """This process and its ancestors: never ours to end."""
    out, pid = set(), os.getpid()
    while pid and pid not in out:
        out.add(pid)
        pid = processes.parent_pid(pid) or 0
    return out


def _remove_tree(path: Path) -> None:
    """Remove a home this harness created (a temp dir named inplay-*), nothing else."""
    try:
        inside = path.resolve().parent == Path(tempfile.gettempdir()).resolve()
    except OSError:
        return
    if inside and path.name.startswith("inplay-"):
        shutil.rmtree(path, ignore_errors=True)


def _inplay_down(command: Sequence[str], env: Mapping[str, str], home: Path,
                 timeout_s: float) -> tuple[int | None, str]:
    """``inplay down`` in a session of its own (a second Ctrl-C must not cut it short)."""
    try:
        done = subprocess.run([*command, "down"], env=dict(env), cwd=home, text=True,
                              capture_output=True, timeout=timeout_s, check=False,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        return None, f"inplay down timed out after {timeout_s:.0f}s: {exc.output or ''}"
    except OSError as exc:
        return None, f"inplay down could not run: {exc}"
    return done.returncode, (done.stdout + done.stderr).strip()


def _stop_launch(record: _Record, down_timeout_s: float = 180.0) -> Teardown:
    home = Path(record.home)
    report = Teardown(str(home))
    if (home / "run" / "state.json").exists():
        report.down_returncode, report.down_output = _inplay_down(
            record.command, record.down_env(), home, down_timeout_s)
    report.leftovers = _sweep(record.run_id, home)
    if not record.keep_home:
        _remove_tree(home)
        _remove_tree(Path(record.user_home))
    return report


def cleanup_leftovers(registry: Path | None = None) -> list[Teardown]:
    """Stop every recorded launch whose owner is gone; what each stop did."""
    registry = registry or REGISTRY
    reports = []
    # *.tmp: a record whose owner died in the instant between writing and publishing it
    found = [*registry.glob("*.json"), *registry.glob("*.tmp")] if registry.is_dir() else []
    for path in sorted(found):
        try:
            if path.suffix == ".tmp" and time.time() - path.stat().st_mtime < 60:
                continue  # being written: its owner may not hold the lock yet
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue  # stopped meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its owner lives
            if os.fstat(fd).st_nlink == 0:
                continue  # another cleaner (or the owner) finished it meanwhile
            try:
                record = _Record(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                path.unlink(missing_ok=True)  # not a record this harness wrote
                continue
            _say(f"stopping a platform left by pid {record.owner_pid} (home {record.home})")
            report = _stop_launch(record)
            _say(f"  inplay down: rc {report.down_returncode}; "
                 f"{len(report.leftovers)} more processes ended")
            reports.append(report)
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return reports


# ---------------------------------------------------------------- signals and exit

_active: dict[str, LocalPlatform] = {}
_previous: dict[int, Any] = {}  # signal → the handler before ours
_deferred: list[int] = []
_stopping = 0  # platforms being stopped right now (signals wait for them)
_owner = 0  # the pid that installed the handlers (a forked child must not stop anything)
_guard = threading.RLock()
_atexit_done = False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if os.getpid() != _owner:
        _hand_on(signum, _previous.get(signum), frame)
        return
    if _stopping:
        _deferred.append(signum)
        return
    previous = _previous.get(signum)
    if _active:
        _say(f"{signal.Signals(signum).name}: stopping {len(_active)} platform(s) first")
        stop_all()
    _hand_on(signum, previous, frame)


def _hand_on(signum: int, previous: Any, frame: FrameType | None) -> None:
    """Deliver the signal as if we had never been there."""
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


@contextlib.contextmanager
def _signals_wait() -> Iterator[None]:
    """Signals that arrive meanwhile are delivered afterwards."""
    global _stopping
    _stopping += 1
    try:
        yield
    finally:
        _stopping -= 1
        if not _stopping and _deferred:
            signum = _deferred[0]
            _deferred.clear()
            os.kill(os.getpid(), signum)


def _track(platform: LocalPlatform) -> None:
    global _owner, _atexit_done
    with _guard:
        if _owner != os.getpid():
            # the first platform of this process; a forked child's copy of its parent's
            # platforms is not its own (the handlers it inherited are, and stay)
            _owner = os.getpid()
            _active.clear()
        _active[platform.run_id] = platform
        if not _atexit_done:
            atexit.register(stop_all)
            _atexit_done = True
        if _previous or threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            current = signal.getsignal(signum)
            if current == signal.SIG_IGN:
                continue  # ignored before: it stops nothing, so it needs no cleanup
            _previous[signum] = current if current is not None else signal.SIG_DFL
            signal.signal(signum, _on_signal)


def _untrack(platform: LocalPlatform) -> None:
    with _guard:
        _active.pop(platform.run_id, None)
        if _active or not _previous or os.getpid() != _owner:
            return
        if threading.current_thread() is threading.main_thread():
            for signum, handler in _previous.items():
                if signal.getsignal(signum) is _on_signal:
                    signal.signal(signum, handler)
            _previous.clear()


def stop_all() -> None:
    """Stop every platform this process started and has not stopped yet."""
    if os.getpid() != _owner:
        return  # a forked child: the platforms are its parent's
    for platform in list(_active.values()):
        platform.stop()


# ---------------------------------------------------------------- the platform


class LocalPlatform:
    """One ``inplay up --detach`` in a temporary home; ``stop()`` (or the signals) ends it."""

    def __init__(self, *, demo: bool = True, name: str = "harness",
                 env: Mapping[str, str] | None = None, keep_home: bool = False,
                 operator_name: str = "harness-ops", command: Sequence[str] | None = None,
                 registry: Path | None = None, up_timeout_s: float = 420.0,
                 healthy_timeout_s: float = 120.0) -> None:
        self.demo, self.name, self.keep_home = demo, name, keep_home
        self.extra_env = dict(env or {})
        self.operator_name = operator_name
        self.command = list(command or default_command())
        self.registry = registry or REGISTRY
        self.up_timeout_s, self.healthy_timeout_s = up_timeout_s, healthy_timeout_s
        self.run_id = f"{name}-{secrets.token_hex(6)}"
        self.home = self.user_home = Path()
        self.http_port = self.ray_port = self.dashboard_port = 0
        self.feed_port = 0  # the feed's gRPC port (feed_target)
        self.env: dict[str, str] = {}
        self.up_output, self.up_seconds = "", 0.0
        self.players: list[tuple[str, str]] = []
        self.teardown: Teardown | None = None
        self._lease: _Lease | None = None
        self._up: subprocess.Popen[str] | None = None
        self._operator_token = ""

    # -- lifecycle

    def start(self) -> Self:
        if not Path(self.command[0]).exists() and not shutil.which(self.command[0]):
            raise PlatformError(f"{self.command[0]} missing: pip install -e . first")
        cleanup_leftovers(self.registry)
        self.home = Path(tempfile.mkdtemp(prefix=f"inplay-{self.name}-home-"))
        # a user who never ran Ray: no ~/.ray/auth_token to lean on (Ray 2.60 refuses to
        # start in token mode without one, so `inplay up` must bring its own)
        self.user_home = Path(tempfile.mkdtemp(prefix=f"inplay-{self.name}-user-"))
        self.http_port, self.ray_port, self.dashboard_port = free_port(), free_port(), free_port()
        self.feed_port = free_port()
        self.env = _environment(self.home, self.user_home, {
            "INPLAY_HTTP_PORT": str(self.http_port), "INPLAY_RAY_PORT": str(self.ray_port),
            "INPLAY_RAY_DASHBOARD_PORT": str(self.dashboard_port), MARKER_ENV: self.run_id,
            "INPLAY_FEED_PORT": str(self.feed_port),
            **self.extra_env})
        self._lease = _Lease(self.registry, _Record(
            self.run_id, os.getpid(), str(self.home), str(self.user_home), self.keep_home,
            self.command, time.time()))
        self.teardown = None
        _track(self)
        try:
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self) -> None:
        t0 = time.perf_counter()
        # output to files, not pipes: a detached child that inherits a pipe would hold it
        # open, and reading to its end would wait for the platform to stop
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            # a session of its own: the terminal's Ctrl-C reaches the owner, which stops it
            self._up = subprocess.Popen(
                [*self.command, "up", *(["--demo"] if self.demo else []), "--detach"],
                env=self.env, cwd=self.home, text=True, stdin=subprocess.DEVNULL,
                stdout=out, stderr=err, start_new_session=True)
            try:
                returncode = self._up.wait(timeout=self.up_timeout_s)
            except subprocess.TimeoutExpired:
                raise PlatformError(
                    f"inplay up did not finish in {self.up_timeout_s:.0f}s") from None
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        self.up_seconds = time.perf_counter() - t0
        self.up_output = stdout + stderr
        if returncode != 0:
            raise PlatformError(f"inplay up failed (rc {returncode}):\n"
                                f"{self.up_output[-3000:]}")
        self.players = CREDENTIALS.findall(stdout) or CREDENTIALS.findall(stderr)
        if self.demo and not self.players:
            raise PlatformError("inplay up --demo printed no 'player: <user> / <password>' "
                                f"line:\n{self.up_output[-3000:]}")
        from cluster.local import wait_healthy

        try:
            wait_healthy(self.url, self.healthy_timeout_s)
        except RuntimeError as exc:
            raise PlatformError(str(exc)) from None

    def stop(self, *, keep_home: bool | None = None) -> Teardown:
        """``inplay down``, then end anything of this launch still running. Idempotent.

        ``keep_home`` overrides the constructor's choice (e.g. keep the logs of a failed run).
        """
        keep = self.keep_home if keep_home is None else keep_home
        if self.teardown is not None or self._lease is None:
            return self.teardown or Teardown(str(self.home))
        with _signals_wait():
            report = Teardown(str(self.home))
            if self._up is not None and self._up.returncode is None:
                # an `inplay up` still starting (a signal came): its process group first.
                # Not Popen.wait(): this may run in a signal handler that interrupted
                # _launch's wait(), which may hold the Popen's wait lock.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._up.pid, signal.SIGTERM)
                processes.terminate({self._up.pid}, grace_s=5.0)
            if (self.home / "run" / "state.json").exists():
                report.down_returncode, report.down_output = _inplay_down(
                    self.command, self.env, self.home, 180.0)
            report.leftovers = _sweep(self.run_id, self.home)
            if not keep:
                _remove_tree(self.home)
                _remove_tree(self.user_home)
            self._lease.release()
            self._lease = None
            self.teardown = report
            _untrack(self)
        return report

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- what tests and benchmarks use

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def feed_target(self) -> str:
        """Where feed providers connect (gRPC ``host:port``; ``cluster.feed_client``)."""
        return f"127.0.0.1:{self.feed_port}"

    @property
    def username(self) -> str:
        """The first demo player's username (``demo=True``)."""
        return self._player()[0]

    @property
    def password(self) -> str:
        return self._player()[1]

    def _player(self) -> tuple[str, str]:
        if not self.players:
            raise PlatformError("no demo players: start the platform with demo=True")
        return self.players[0]

    @property
    def operator_token(self) -> str:
        """A token of the operator ``operator_name`` (``inplay token create``), made once."""
        if not self._operator_token:
            self._operator_token = self.token("operator", self.operator_name)
        return self._operator_token

    def token(self, role: str, name: str) -> str:
        """``inplay token create --role ROLE NAME``: the token alone on its last line."""
        done = self.inplay("token", "create", "--role", role, name, timeout=60)
        lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        if done.returncode != 0 or not lines:
            raise PlatformError(f"inplay token create failed: {done.stdout}{done.stderr}")
        return lines[-1]

    def inplay(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run ``inplay ARGS`` against this platform."""
        return subprocess.run([*self.command, *args], env=self.env, cwd=self.home,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)

    def state(self) -> dict[str, Any]:
        """``<home>/run/state.json``: the Redis URL and pid, the Ray address and session."""
        state: dict[str, Any] = json.loads((self.home / "run" / "state.json").read_text())
        return state

    def pids(self) -> set[int]:
        """The processes of this launch that run now."""
        return {p for p in processes.marked_pids(MARKER_ENV, self.run_id)
                | processes.cwd_pids(self.home) if processes.alive(p)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.harness",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("cleanup", help="stop the platforms of launches whose owner is gone")
    sub.add_parser("list", help="the recorded launches")
    args = parser.parse_args(argv)
    if args.command == "cleanup":
        reports = cleanup_leftovers()
        print(f"{len(reports)} leftover platform(s) stopped")
    else:
        for path in sorted(REGISTRY.glob("*.json")) if REGISTRY.is_dir() else []:
            print(path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

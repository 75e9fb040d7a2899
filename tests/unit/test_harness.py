"""cluster.harness: a launch never outlives its owner (stop, SIGINT, SIGTERM, SIGKILL + next run).

A full ``inplay up`` takes a minute; these tests launch a cheap stand-in with the same shape
instead — real processes: ``up --detach`` starts a detached "platform" (an HTTP server
answering /healthz, with a worker and a grand-child under it) and a "valkey" that hides the
run's marker from its environment and works inside the home, writes ``run/state.json`` and
prints a demo player; ``down`` stops what ``state.json`` lists; ``token create`` prints one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cluster import harness, processes
from cluster.harness import MARKER_ENV, LocalPlatform, cleanup_leftovers

FAKE_INPLAY = textwrap.dedent('''
    import json, os, signal, subprocess, sys, time
    from pathlib import Path

    PLATFORM = """
    import http.server, subprocess, sys
    worker = subprocess.Popen([sys.executable, "-c",
        "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
        "'import time; time.sleep(600)']); print('spawned', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True)
    worker.stdout.readline()  # healthy only once the grand-child exists, as a real platform

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"status": "ok", "checks": {}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
    """

    home = Path(os.environ["INPLAY_HOME"])
    state = home / "run" / "state.json"
    command = sys.argv[1]
    if command == "up":
        root = subprocess.Popen([sys.executable, "-c", PLATFORM, os.environ["INPLAY_HTTP_PORT"]],
                                start_new_session=True)
        data = home / "data" / "redis"
        data.mkdir(parents=True, exist_ok=True)
        hidden = {k: v for k, v in os.environ.items() if k != "INPLAY_HARNESS_RUN"}
        store = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                 cwd=data, env=hidden, start_new_session=True)
        if os.environ.get("FAKE_UP_HANG"):
            print("hanging", flush=True)
            time.sleep(600)
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"root": root.pid, "store": store.pid}))
        print("player: demo1 / demo1-secret")
    elif command == "down":
        if state.exists():
            pids = json.loads(state.read_text())
            if not os.environ.get("FAKE_DOWN_LEAKS"):
                os.killpg(pids["root"], signal.SIGKILL)
            os.kill(pids["store"], signal.SIGKILL)
            state.unlink()
        print("stopped")
    elif command == "token":
        role, name = sys.argv[4], sys.argv[5]  # token create --role ROLE NAME
        print(f"{role} token for {name}:")
        print(f"token-of-{name}")
''')

OWNER = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from cluster.harness import LocalPlatform

    fake, registry, hang = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "hang"
    platform = LocalPlatform(command=[sys.executable, fake], registry=registry, name="t",
                             env={"FAKE_UP_HANG": "1"} if hang else {}, up_timeout_s=120)
    platform.start()
    print("READY", platform.run_id, platform.home, flush=True)
    time.sleep(600)
''')


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    path = tmp_path / "fake_inplay.py"
    path.write_text(FAKE_INPLAY)
    return path


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "registry"
    yield path
    cleanup_leftovers(path)  # whatever a failed test left


def wait_until(check: Callable[[], object], timeout_s: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def launch_of(run_id: str, home: Path) -> set[int]:
    return {p for p in processes.marked_pids(MARKER_ENV, run_id) | processes.cwd_pids(home)
            if processes.alive(p)}


def owner(fake: Path, registry: Path, hang: bool = False) -> subprocess.Popen[str]:
    root = Path(__file__).resolve().parents[2]
    return subprocess.Popen([sys.executable, "-c", OWNER, str(fake), str(registry),
                             "hang" if hang else "up"], cwd=root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(root)})


def ready(proc: subprocess.Popen[str]) -> tuple[str, Path]:
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line and line[0] == "READY", (line, proc.stderr.read() if proc.stderr else "")
    return line[1], Path(line[2])


def test_start_and_stop(fake: Path, registry: Path) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    platform = LocalPlatform(command=[sys.executable, str(fake)], registry=registry, name="t")
    with platform:
        assert (platform.username, platform.password) == ("demo1", "demo1-secret")
        assert platform.operator_token == "token-of-harness-ops"
        assert platform.env["INPLAY_HOME"] == str(platform.home)
        assert platform.env["HOME"] == str(platform.user_home) != os.environ.get("HOME")
        assert platform.state()["root"] in platform.pids()
        # the root, its worker and grand-child, the store that hides its environment
        assert len(platform.pids()) == 4
        assert [p.name for p in registry.iterdir()] == [f"{platform.run_id}.json"]
        assert signal.getsignal(signal.SIGINT) is harness._on_signal
        # a record whose owner lives is nobody's leftover
        assert cleanup_leftovers(registry) == []
        assert len(platform.pids()) == 4
        pids = platform.pids()
    report = platform.teardown
    assert report is not None and report.down_returncode == 0 and report.leftovers == []
    assert not any(processes.alive(p) for p in pids)
    assert not platform.home.exists() and not platform.user_home.exists()
    assert list(registry.iterdir()) == []
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert platform.stop() is report  # idempotent


def test_stop_ends_what_inplay_down_left_and_says_so(fake: Path, registry: Path) -> None:
    platform = LocalPlatform(command=[sys.executable, str(fake)], registry=registry, name="t",
                             env={"FAKE_DOWN_LEAKS": "1"}).start()
    pids = platform.pids()
    report = platform.stop()
    assert report.down_returncode == 0
    assert len(report.leftovers) == 3, report  # the root, its worker and grand-child
    assert not any(processes.alive(p) for p in pids)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_owner_stops_its_platform(fake: Path, registry: Path,
                                                  signum: int) -> None:
    proc = owner(fake, registry)
    run_id, home = ready(proc)
    pids = launch_of(run_id, home)
    assert len(pids) == 4, pids
    proc.send_signal(signum)
    # SIGINT: KeyboardInterrupt after the stop (Python then exits by SIGINT); SIGTERM: the
    # default action after the stop
    assert proc.wait(60) == -signum
    assert not any(processes.alive(p) for p in pids)
    assert not home.exists()
    assert list(registry.iterdir()) == []


def test_ctrl_c_while_inplay_up_is_still_starting(fake: Path, registry: Path) -> None:
    proc = owner(fake, registry, hang=True)
    wait_until(lambda: list(registry.glob("*.json")), what="the launch is recorded")
    record = json.loads(next(registry.glob("*.json")).read_text())
    home = Path(record["home"])
    # the stand-in's `up` (hanging), the root, its worker and grand-child, the store
    wait_until(lambda: len(launch_of(record["run_id"], home)) == 5, what="all started")
    pids = launch_of(record["run_id"], home)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == -signal.SIGINT
    assert not any(processes.alive(p) for p in pids)
    assert list(registry.iterdir()) == []


def test_the_next_launch_stops_what_a_killed_owner_left(fake: Path, registry: Path) -> None:
    proc = owner(fake, registry)
    run_id, home = ready(proc)
    left = launch_of(run_id, home)
    proc.kill()  # SIGKILL: no handler, no atexit
    proc.wait()
    time.sleep(0.2)
    assert len(left) == 4 and all(processes.alive(p) for p in left)
    assert [p.stem for p in registry.glob("*.json")] == [run_id]
    with LocalPlatform(command=[sys.executable, str(fake)], registry=registry, name="t"):
        assert not any(processes.alive(p) for p in left)
        assert not home.exists()
        assert [p.stem for p in registry.glob("*.json")] != [run_id]
    assert list(registry.iterdir()) == []


def test_cleanup_of_a_recorded_leftover_by_hand(fake: Path, registry: Path,
                                                tmp_path: Path) -> None:
    """A leftover recorded by hand: a dead owner, a detached tree carrying the marker, and a
    process that works inside the home; ``cleanup_leftovers`` stops all of it."""
    home = Path(harness.tempfile.mkdtemp(prefix="inplay-t-home-"))
    user_home = Path(harness.tempfile.mkdtemp(prefix="inplay-t-user-"))
    (home / "data").mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    run_id = "t-leftover"
    env = {**os.environ, MARKER_ENV: run_id}
    tree = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
        "'import time; time.sleep(600)'], start_new_session=True)")], env=env)
    tree.wait(10)  # its child is orphaned, as a detached platform is
    store = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                             cwd=home / "data", start_new_session=True)
    wait_until(lambda: len(launch_of(run_id, home)) == 2, what="the leftover runs")
    left = launch_of(run_id, home)
    registry.mkdir()
    (registry / f"{run_id}.json").write_text(json.dumps({
        "run_id": run_id, "owner_pid": int(dead.stdout), "home": str(home),
        "user_home": str(user_home), "keep_home": False,
        "command": [sys.executable, str(fake)], "started_at": time.time()}))
    reports = cleanup_leftovers(registry)
    assert len(reports) == 1 and len(reports[0].leftovers) == 2
    assert reports[0].down_returncode is None  # no state.json: nothing for `inplay down`
    store.wait(5)
    assert not any(processes.alive(p) for p in left)
    assert not home.exists() and not user_home.exists()
    assert list(registry.iterdir()) == []

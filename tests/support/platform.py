"""The running platform as tests see it (started by ``tests/e2e/conftest.py``)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
INPLAY = ROOT / ".venv" / "bin" / "inplay"
# `inplay up --demo` prints each demo player as "player: <username> / <password>".
CREDENTIALS = re.compile(r"player:\s*(\S+)\s*/\s*(\S+)")
@dataclass(frozen=True)
class Platform:
    """A running platform, a demo player of it, and an operator token."""

    url: str
    username: str
    password: str
    env: dict[str, str]
    home: Path
    operator_token: str

    def state(self) -> dict[str, str]:
        state: dict[str, str] = json.loads((self.home / "run" / "state.json").read_text())
        return state

    def inplay(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(INPLAY), *args], env=self.env, cwd=self.home,
                              capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(url: str, limit_s: float) -> None:
    deadline, last = time.monotonic() + limit_s, "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/healthz", timeout=5)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(1)
    raise AssertionError(f"{url}/healthz never answered 200: {last}")



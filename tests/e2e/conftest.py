"""The running platform, started once per test session exactly as a newcomer starts it.

``inplay up --demo --detach`` in a fresh ``INPLAY_HOME`` on free ports (never 6379/8000), an
operator token from ``inplay token create`` (its last line), and ``inplay down`` at the end.
Tests reach it only over HTTP, except the chaos tests, which also read Redis directly to
check the journal and the ledger, and kill processes of this platform's Ray session.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import CREDENTIALS, INPLAY, Platform, free_port, wait_healthy


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    """`inplay up --demo --detach` in a temp home on free ports; `inplay down` afterwards."""
    assert INPLAY.exists(), f"{INPLAY} missing: pip install -e . first"
    home = Path(tempfile.mkdtemp(prefix="inplay-e2e-home-"))
    # a user who never ran Ray: no ~/.ray/auth_token to lean on (Ray 2.60 refuses to start in
    # token mode without one, so `inplay up` must bring its own)
    user_home = Path(tempfile.mkdtemp(prefix="inplay-e2e-user-"))
    env = {**os.environ, "HOME": str(user_home), "INPLAY_HOME": str(home),
           "INPLAY_HTTP_PORT": str(free_port()),
           "INPLAY_RAY_PORT": str(free_port()),
           "INPLAY_RAY_DASHBOARD_PORT": str(free_port()),
           # sagas left half done by the chaos tests are finished within seconds
           "INPLAY_SAGA_STALE_S": "3", "INPLAY_SWEEP_INTERVAL_S": "0.5"}
    env.pop("REDIS_URL", None)  # the platform's own embedded store, not the developer's
    for var in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE", "RAY_ADDRESS"):
        env.pop(var, None)
    up = subprocess.run([str(INPLAY), "up", "--demo", "--detach"], env=env, cwd=home,
                        capture_output=True, text=True, timeout=420)
    try:
        assert up.returncode == 0, f"inplay up failed ({up.returncode}):\n{up.stdout}\n{up.stderr}"
        found = CREDENTIALS.search(up.stdout) or CREDENTIALS.search(up.stderr)
        assert found, f"inplay up printed no 'player: <user> / <password>' line:\n{up.stdout}"
        url = f"http://127.0.0.1:{env['INPLAY_HTTP_PORT']}"
        wait_healthy(url, 120)
        token = subprocess.run([str(INPLAY), "token", "create", "--role", "operator", "e2e-ops"],
                               env=env, cwd=home, capture_output=True, text=True, timeout=60)
        assert token.returncode == 0, token.stderr
        operator_token = token.stdout.strip().splitlines()[-1]
        yield Platform(url, found.group(1), found.group(2), env, home, operator_token)
    finally:
        down = subprocess.run([str(INPLAY), "down"], env=env, cwd=home, capture_output=True,
                              text=True, timeout=180)
        assert down.returncode == 0, f"inplay down failed:\n{down.stdout}\n{down.stderr}"

"""The running platform, started once per test session exactly as a newcomer starts it.

``inplay up --demo --detach`` in a fresh ``INPLAY_HOME`` and ``HOME`` on free ports (never
6379/8000), an operator token from ``inplay token create`` (its last line), and ``inplay
down`` at the end, by ``cluster.harness.LocalPlatform``. Interrupting the run (Ctrl-C,
SIGTERM) stops the platform too, and a platform an earlier run could not stop (SIGKILL) is
stopped before this one starts. The home is kept (its logs) when a test failed.
Tests reach it only over HTTP, except the chaos tests, which also read Redis directly to
check the journal and the ledger, and kill processes of this platform's Ray session.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.support.platform import Platform


@pytest.fixture(scope="session")
def platform(request: pytest.FixtureRequest) -> Iterator[Platform]:
    """`inplay up --demo --detach` in a temp home on free ports; `inplay down` afterwards."""
    running = Platform(demo=True, name="e2e", operator_name="e2e-ops", env={
        # sagas left half done by the chaos tests are finished within seconds
        "INPLAY_SAGA_STALE_S": "3", "INPLAY_SWEEP_INTERVAL_S": "0.5"}).start()
    try:
        assert running.operator_token
        yield running
    finally:
        failed = request.session.testsfailed > 0
        report = running.stop(keep_home=failed)
        if failed:
            print(f"\ninplay home kept: {running.home}", file=sys.stderr)
        assert report.down_returncode == 0, f"inplay down failed:\n{report.down_output}"
        assert not report.leftovers, f"inplay down left processes running: {report.leftovers}"

"""Schemathesis over the served OpenAPI document, against the real app on real services.

The app (``create_app``) runs in uvicorn on a loopback port, in a thread of this process,
over a real valkey-server, real event actors and the saga sweeper (Ray); media goes to an
in-process SFU (``InProcessRegion``: the region actor's call surface, no Ray). Its data is
seeded as a client would: a player registers, an operator verifies them, they deposit, the
operator creates the event ``demo-match`` (the id the document's examples use).

Then the schemathesis CLI reads ``/openapi.json`` from the server and, once per role
(player, publisher, operator: tokens as ``POST /v1/sessions`` and ``inplay token create``
give them; the operator last, as it may close the event), runs its examples, coverage and
fuzzing phases over every operation with valid and invalid data. Every answer must be no
server error, a documented status with a
documented content type and headers and a body the documented schema accepts; invalid
requests must be refused, a request without its token must be 401 wherever the document
asks for one, an undocumented method 405 with ``Allow``. Each role's case count is printed.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray
import uvicorn

from actors.event_actor import NAMESPACE, ActorConfig, actor_name
from actors.feed import adapter_name
from actors.sweeper import SweeperConfig, start_sweeper
from domain.identity import Role, TokenSigner
from serve_apps.app import create_app
from tests.integration.api_fuzz_hooks import EVENT_POOL, FEED_PROVIDER
from tests.integration.test_media_routes import InProcessRegion
from tests.support.api import TOKEN_KEY, api_services

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("ray_session")]

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("player", "publisher", "operator")
# fuzzing examples per operation, mode and role; with the examples and coverage phases a
# role runs about 1,200 cases (the count is printed)
MAX_EXAMPLES = 15
SEEDED_EVENT = "demo-match"
PASSWORD = "correct horse battery"

CONFIG = f"""
hooks = "tests.integration.api_fuzz_hooks"
seed = 20261201
suppress-health-check = ["all"]

[generation]
mode = "all"
max-examples = {MAX_EXAMPLES}
deterministic = true
database = "none"

[phases.stateful]
enabled = false

# valid data is not always accepted: the event may be unknown, the balance short, ...
[checks.positive_data_acceptance]
enabled = false

"""


class Region(InProcessRegion):
    """The in-process region, with the stats of a stream that has not started."""

    def __init__(self) -> None:
        super().__init__()

        async def stats(event_id: str) -> dict[str, Any]:
            return {"event_id": event_id, "live": False, "tiers": {}}

        self.stats = type(self.whip)(stats)


@dataclass(frozen=True)
class Served:
    """The app behind a real HTTP server, seeded; a bearer token per role."""

    url: str
    tokens: dict[str, str]


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off",
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="fuzzed-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


def _seed(url: str, operator: str) -> str:
    """A verified, funded player and the event, made over HTTP; the player's token."""
    ops = {"Authorization": f"Bearer {operator}"}
    name = f"fz{secrets.token_hex(4)}"
    with httpx.Client(base_url=url, timeout=30) as http:
        created = http.post("/v1/accounts", json={
            "username": name, "password": PASSWORD, "jurisdiction": "GB",
            "date_of_birth": "1990-01-31"})
        assert created.status_code == 201, created.text
        account_id = created.json()["account_id"]
        verified = http.post(f"/v1/ops/accounts/{account_id}/kyc", headers=ops,
                             json={"status": "verified", "reason": "fuzz seed"})
        assert verified.status_code == 200, verified.text
        token = http.post("/v1/sessions", json={"username": name, "password": PASSWORD}
                          ).json()["token"]
        deposit = http.post("/v1/wallet/deposits", json={"amount": "500.00"},
                            headers={"Authorization": f"Bearer {token}",
                                     "Idempotency-Key": "seed"})
        assert deposit.status_code == 201, deposit.text
        event = http.post("/v1/ops/events", headers=ops, json={
            "event_id": SEEDED_EVENT, "name": "Home v Away", "sport": "soccer",
            "starts_at": "2026-11-27T20:00:00Z", "markets": [{
                "market_id": "mw", "name": "Match winner", "in_play_delay_s": 0,
                "selections": [{"selection_id": "home", "name": "Home", "price": "2.50"},
                               {"selection_id": "away", "name": "Away", "price": "2.80"}]}]})
        assert event.status_code == 201, event.text
    return token


@pytest.fixture
def served(redis_url: str) -> Iterator[Served]:
    svc = api_services(redis_url)
    svc.media._actor = Region()
    sweeper = start_sweeper(SweeperConfig(ActorConfig(redis_url=redis_url)))
    server, thread, url = _serve(create_app(svc))
    signer = TokenSigner(TOKEN_KEY)
    tokens = {"operator": signer.issue("fuzz-operator", Role.OPERATOR, 3600).token,
              "publisher": signer.issue("fuzz-publisher", Role.PUBLISHER, 3600).token}
    tokens["player"] = _seed(url, tokens["operator"])
    try:
        yield Served(url, tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        ray.kill(sweeper)
        for event_id in (SEEDED_EVENT, *EVENT_POOL):
            try:
                ray.kill(ray.get_actor(actor_name(event_id), namespace=NAMESPACE))
            except ValueError:  # never created
                pass
        for provider in (FEED_PROVIDER, "fuzz-operator"):  # POST /v1/ops/feed's adapters
            try:
                ray.kill(ray.get_actor(adapter_name(provider), namespace=NAMESPACE))
            except ValueError:
                pass


def _schemathesis(config: Path, url: str, token: str) -> subprocess.CompletedProcess[str]:
    """One CLI run (in the config's folder: its cache stays out of the repository)."""
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config),
               "--no-color", "run", f"{url}/openapi.json", "--workers", "1",
               # the odds stream never ends by itself (tests/integration/test_odds_stream.py)
               "--exclude-path", "/v1/events/{event_id}/stream",
               "-H", f"Authorization: Bearer {token}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=config.parent, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.mark.timeout(900)  # ~2 minutes alone; a loaded 2-core machine takes longer
def test_every_answer_is_documented(served: Served, tmp_path: Path,
                                    request: pytest.FixtureRequest) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    failed, counts = [], []
    for role in ROLES:
        started = time.monotonic()
        run = _schemathesis(config, served.url, served.tokens[role])
        found = re.search(r"(\d+) generated", run.stdout)
        counts.append(f"{role} {found.group(1) if found else '?'} cases "
                      f"in {time.monotonic() - started:.0f} s")
        if run.returncode != 0:
            failed.append(f"--- as {role} (exit {run.returncode}):\n{run.stdout[-12000:]}"
                          f"{run.stderr[-3000:]}")
    capture: Any = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nAPI fuzz: {'; '.join(counts)}", flush=True)
    assert not failed, "\n".join(failed)

"""The platform over HTTP, as clients use it: the full flow, every refusal, authorization,
idempotent retries, the in-play delay, and chaos (kill -9 during a burst of bets).
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import os
import re
import secrets
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from cluster import processes
from cluster.processes import cmdline, listening, session_pids
from domain.codec import decode
from domain.events import BetAccepted
from domain.ledger import LedgerAccount
from storage.journal import recover
from tests.support.platform import Platform

pytestmark = [pytest.mark.slow, pytest.mark.ray]

_names = itertools.count()


def auth(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def new_key() -> str:
    return secrets.token_hex(8)


class Api:
    """A tiny client over the platform's HTTP API."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.http = httpx.Client(base_url=platform.url, timeout=30)
        self.ops = auth(platform.operator_token)

    def player(self, *, jurisdiction: str = "GB", verify: bool = True, funds: str | None = "500",
               prefix: str = "p") -> tuple[str, str]:
        """A new player: (account_id, token); verified by an operator and funded."""
        name = f"{prefix}{os.getpid()}x{next(_names)}x{secrets.token_hex(2)}"
        created = self.http.post("/v1/accounts", json={
            "username": name, "password": "correct horse battery", "jurisdiction": jurisdiction,
            "date_of_birth": "1990-01-01"})
        assert created.status_code == 201, created.text
        account_id = created.json()["account_id"]
        assert created.json()["kyc_status"] == "pending"
        if verify:
            decided = self.http.post(f"/v1/ops/accounts/{account_id}/kyc", headers=self.ops,
                                     json={"status": "verified", "reason": "documents checked"})
            assert decided.status_code == 200, decided.text
        session = self.http.post("/v1/sessions",
                                 json={"username": name, "password": "correct horse battery"})
        assert session.status_code == 200, session.text
        token = session.json()["token"]
        if funds is not None:
            dep = self.http.post("/v1/wallet/deposits", headers=auth(token, new_key()),
                                 json={"amount": funds, "method": "debit_card"})
            assert dep.status_code == 201, dep.text
        return account_id, token

    def event(self, *, delay: float = 0, max_liability: str = "100000") -> str:
        event_id = f"e2e-{secrets.token_hex(4)}"
        body = {"event_id": event_id, "name": "Home v Away", "sport": "soccer",
                "starts_at": "2026-11-27T20:00:00Z", "markets": [
                    {"market_id": "mw", "name": "Match winner", "in_play_delay_s": delay,
                     "max_liability": max_liability, "selections": [
                         {"selection_id": "home", "name": "Home", "price": "2.50"},
                         {"selection_id": "draw", "name": "Draw", "price": "3.20"},
                         {"selection_id": "away", "name": "Away", "price": "2.80"}]},
                    {"market_id": "ou", "name": "Over/under 2.5", "in_play_delay_s": delay,
                     "selections": [{"selection_id": "over", "name": "Over", "price": "1.90"},
                                    {"selection_id": "under", "name": "Under",
                                     "price": "1.95"}]}]}
        created = self.http.post("/v1/ops/events", headers=self.ops, json=body)
        assert created.status_code == 201, created.text
        return event_id

    def bet(self, token: str, event_id: str, key: str | None = None, **overrides: Any
            ) -> httpx.Response:
        body = {"event_id": event_id, "market_id": "mw", "selection_id": "home",
                "stake": "10", "price": "2.50", **overrides}
        return self.http.post("/v1/bets", headers=auth(token, key or new_key()), json=body)

    def ops_post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        answer = self.http.post(path, headers=self.ops, json=body)
        assert answer.status_code == 200, answer.text
        return answer

    def wallet(self, token: str) -> dict[str, str]:
        answer = self.http.get("/v1/wallet", headers=auth(token))
        assert answer.status_code == 200, answer.text
        body: dict[str, str] = answer.json()
        return body


@pytest.fixture(scope="module")
def api(platform: Platform) -> Api:
    return Api(platform)


def problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["code"] == code and body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body


# ---------------------------------------------------------------- the full flow


def test_register_kyc_login_deposit_bet_with_every_policy(api: Api) -> None:
    _, token = api.player(funds="200")
    event_id = api.event()
    assert api.wallet(token)["balance"] == "200.00"
    placed = api.bet(token, event_id, stake="10", price="2.50", odds_change="none")
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "accepted" and placed.json()["potential_payout"] == "25.00"
    # the price moves up: 'higher' takes the better price, 'none' is refused with the new one
    moved = api.ops_post(f"/v1/ops/events/{event_id}/odds",
                         {"market_id": "mw", "prices": {"home": "2.60"}}).json()
    assert moved["version"] == 2
    refused = problem(api.bet(token, event_id, price="2.50"), 409, "PRICE_CHANGED")
    assert refused["price"] == "2.60" and refused["price_version"] == 2
    higher = api.bet(token, event_id, price="2.50", odds_change="higher")
    assert higher.status_code == 201 and higher.json()["price"] == "2.60"
    anything = api.bet(token, event_id, price="5.00", odds_change="any")
    assert anything.status_code == 201 and anything.json()["price"] == "2.60"
    assert api.wallet(token) == {"balance": "170.00", "reserved": "0.00", "currency": "AUD",
                                 "held_for_review": "0.00", "debt": "0.00"}
    exposure = api.http.get(f"/v1/ops/events/{event_id}/exposure", headers=api.ops).json()
    home = next(s for s in exposure["markets"][0]["selections"] if s["selection_id"] == "home")
    assert exposure["bets_accepted"] == 3
    assert Decimal(home["payout_total"]) == Decimal("25.00") + 2 * Decimal("26.00")
    listed = api.http.get("/v1/bets", headers=auth(token)).json()["items"]
    assert len(listed) == 4 and {b["status"] for b in listed} == {"accepted", "rejected"}


def test_every_refusal_has_its_code(api: Api, platform: Platform) -> None:
    account_id, token = api.player(funds="50")
    event_id = api.event(max_liability="300")
    problem(api.bet(token, event_id, stake="60"), 402, "INSUFFICIENT_FUNDS")
    problem(api.bet(token, event_id, price="2.51"), 422, "INVALID_ODDS")
    problem(api.bet(token, event_id, stake="1.234"), 422, "INVALID_AMOUNT")
    problem(api.bet(token, event_id, stake="-1"), 422, "INVALID_AMOUNT")
    problem(api.bet(token, "no-such-event"), 404, "UNKNOWN_EVENT")
    problem(api.bet(token, event_id, market_id="nope"), 404, "UNKNOWN_MARKET")
    problem(api.bet(token, event_id, selection_id="nope"), 404, "UNKNOWN_SELECTION")
    # liability: 300 / 1.5 = 200 is the most the book takes on home
    rich_id, rich = api.player(funds="1000")
    offer = problem(api.bet(rich, event_id, stake="250"), 409, "LIABILITY_LIMIT")
    assert offer["max_stake"] == "200.00"
    api.ops_post(f"/v1/ops/events/{event_id}/markets/mw/status", {"status": "suspended"})
    problem(api.bet(token, event_id), 423, "MARKET_SUSPENDED")
    api.ops_post(f"/v1/ops/events/{event_id}/markets/mw/status", {"status": "closed"})
    problem(api.bet(token, event_id), 409, "MARKET_CLOSED")
    # player protection: limits, exclusion, KYC, jurisdiction
    lowered = api.http.put("/v1/limits", headers=auth(token), json={"stake_max": "5"})
    assert lowered.status_code == 200 and lowered.json()["changes"][0]["immediate"] is True
    problem(api.bet(token, event_id, market_id="ou", selection_id="over", price="1.90"),
            403, "LIMIT_EXCEEDED")
    raised = api.http.put("/v1/limits", headers=auth(token), json={"stake_max": "50"}).json()
    assert raised["changes"][0]["immediate"] is False  # an increase waits for the cooling-off
    _, unverified = api.player(verify=False, funds=None, prefix="reject")
    problem(api.bet(unverified, event_id, market_id="ou", selection_id="over", price="1.90"),
            403, "KYC_REQUIRED")
    _, excluded = api.player(funds="50")
    assert api.http.post("/v1/self-exclusion", headers=auth(excluded),
                         json={"period": "6m"}).status_code == 201
    problem(api.bet(excluded, event_id, market_id="ou", selection_id="over", price="1.90"),
            403, "SELF_EXCLUDED")
    _, aussie = api.player(jurisdiction="AU", funds="50")
    problem(api.http.post("/v1/wallet/deposits", headers=auth(aussie, new_key()),
                          json={"amount": "10", "method": "credit_card"}),
            403, "JURISDICTION_BLOCKED")
    live = api.event()
    ok = api.bet(aussie, live)  # pre-match sport stays allowed
    assert ok.status_code == 201, ok.text
    api.ops_post(f"/v1/ops/events/{live}/status", {"status": "in_play"})
    problem(api.bet(aussie, live), 403, "JURISDICTION_BLOCKED")
    key = new_key()
    assert api.bet(rich, live, key=key, stake="1").status_code == 201
    problem(api.bet(rich, live, key=key, stake="2"), 422, "IDEMPOTENCY_KEY_REUSED")
    missing = api.http.post("/v1/bets", headers=auth(rich), json={
        "event_id": live, "market_id": "mw", "selection_id": "home", "stake": "1",
        "price": "2.50"})
    problem(missing, 422, "IDEMPOTENCY_KEY_REQUIRED")
    assert api.wallet(token)["reserved"] == "0.00" and api.wallet(rich)["reserved"] == "0.00"
    _ = (account_id, rich_id)


def test_a_burst_from_one_account_is_rate_limited(api: Api) -> None:
    _, token = api.player(funds="1000")
    event_id = api.event()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=api.p.url, timeout=30) as http:
            body = {"event_id": event_id, "market_id": "mw", "selection_id": "home",
                    "stake": "1", "price": "2.50"}
            return list(await asyncio.gather(*(
                http.post("/v1/bets", json=body, headers=auth(token, new_key()))
                for _ in range(80))))

    answers = asyncio.run(burst())
    limited = [a for a in answers if a.status_code == 429]
    accepted = [a for a in answers if a.status_code == 201]
    assert limited and accepted, [a.status_code for a in answers]
    assert all(int(a.headers["Retry-After"]) >= 1 for a in limited)
    problem(limited[0], 429, "RATE_LIMITED")
    assert Decimal(api.wallet(token)["balance"]) == Decimal("1000") - len(accepted)


# ---------------------------------------------------------------- authorization, idempotency


def test_players_see_only_their_own_and_never_the_operator_api(api: Api) -> None:
    _, alice = api.player()
    _, bob = api.player()
    event_id = api.event()
    bet = api.bet(alice, event_id).json()
    assert api.http.get(f"/v1/bets/{bet['bet_id']}", headers=auth(alice)).status_code == 200
    problem(api.http.get(f"/v1/bets/{bet['bet_id']}", headers=auth(bob)), 404, "UNKNOWN_BET")
    assert api.http.get("/v1/bets", headers=auth(bob)).json()["items"] == []
    assert api.wallet(bob)["balance"] == "500.00"
    problem(api.http.get(f"/v1/ops/events/{event_id}/exposure", headers=auth(alice)),
            403, "FORBIDDEN")
    problem(api.http.post("/v1/ops/events", headers=auth(alice), json={}), 403, "FORBIDDEN")
    problem(api.http.get("/v1/wallet"), 401, "UNAUTHENTICATED")
    problem(api.http.get("/v1/wallet", headers=auth(alice + "x")), 401, "UNAUTHENTICATED")
    problem(api.http.post("/v1/sessions", json={"username": "nobody-at-all", "password": "x"}),
            401, "BAD_CREDENTIALS")


def test_a_retried_bet_is_the_same_bet_and_stakes_once(api: Api) -> None:
    _, token = api.player(funds="100")
    event_id = api.event()
    key = new_key()
    first = api.bet(token, event_id, key=key, stake="10")
    again = api.bet(token, event_id, key=key, stake="10")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert api.wallet(token)["balance"] == "90.00"
    dep_key = new_key()
    one = api.http.post("/v1/wallet/deposits", headers=auth(token, dep_key),
                        json={"amount": "5", "method": "debit_card"})
    two = api.http.post("/v1/wallet/deposits", headers=auth(token, dep_key),
                        json={"amount": "5", "method": "debit_card"})
    assert one.status_code == two.status_code == 201 and two.json()["replayed"] is True
    assert api.wallet(token)["balance"] == "95.00"


def test_in_play_delay_answers_pending_then_the_bet_is_accepted(api: Api) -> None:
    _, token = api.player(funds="100")
    event_id = api.event(delay=1.0)
    api.ops_post(f"/v1/ops/events/{event_id}/status", {"status": "in_play"})
    pending = api.bet(token, event_id)
    assert pending.status_code == 202, pending.text
    assert pending.json()["status"] == "pending" and pending.json()["accept_after"]
    assert api.wallet(token)["reserved"] == "10.00"
    deadline = time.monotonic() + 15
    while True:
        bet = api.http.get(f"/v1/bets/{pending.json()['bet_id']}", headers=auth(token)).json()
        wallet = api.wallet(token)
        if bet["status"] == "accepted" and wallet["reserved"] == "0.00":
            break
        assert time.monotonic() < deadline, (bet, wallet)
        time.sleep(0.2)
    assert wallet["balance"] == "90.00"
    # a held bet whose market is suspended meanwhile is rejected and its stake returned
    held = api.bet(token, event_id)
    assert held.status_code == 202
    api.ops_post(f"/v1/ops/events/{event_id}/status", {"status": "suspended"})
    api.ops_post(f"/v1/ops/events/{event_id}/status", {"status": "in_play"})
    deadline = time.monotonic() + 15
    while api.wallet(token)["reserved"] != "0.00":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    bet = api.http.get(f"/v1/bets/{held.json()['bet_id']}", headers=auth(token)).json()
    assert bet["status"] == "rejected" and bet["reason"] == "MARKET_SUSPENDED"
    assert api.wallet(token)["balance"] == "90.00"


def test_openapi_describes_the_contract(api: Api) -> None:
    doc = api.http.get("/openapi.json").json()
    for path in ("/v1/accounts", "/v1/sessions", "/v1/me", "/v1/events",
                 "/v1/events/{event_id}", "/v1/bets", "/v1/bets/{bet_id}", "/v1/wallet",
                 "/v1/wallet/deposits", "/v1/wallet/withdrawals", "/v1/limits",
                 "/v1/self-exclusion", "/v1/statements", "/v1/ops/events",
                 "/v1/ops/events/{event_id}/status", "/v1/ops/events/{event_id}/odds",
                 "/v1/ops/events/{event_id}/exposure", "/v1/ops/reviews",
                 "/v1/ops/accounts/{account_id}/kyc", "/v1/ops/audit/verify", "/healthz"):
        assert path in doc["paths"], path
    assert api.http.get("/docs").status_code == 200


def test_up_brings_its_own_ray_token_on_a_machine_where_ray_never_ran(
        platform: Platform) -> None:
    token = platform.home / "secrets" / "ray_auth_token"
    assert token.exists() and len(token.read_text().strip()) == 64
    assert token.stat().st_mode & 0o077 == 0, "the Ray token must be private to its owner"
    # the platform runs (the fixture saw /healthz) without ever writing the user's ~/.ray
    assert not (Path(platform.env["HOME"]) / ".ray" / "auth_token").exists()


def test_ray_and_serve_listen_on_loopback_but_the_fallback_proxys_grpc(
        platform: Platform) -> None:
    state = platform.state()
    sockets = listening(session_pids(state["ray_session"]))
    gcs_port = int(state["ray_address"].rsplit(":", 1)[1])
    assert ("127.0.0.1", gcs_port) in {(a, p) for _, a, p in sockets}, sockets
    exposed: dict[int, list[tuple[str, int]]] = {}
    for pid, address, port in sockets:
        if not ipaddress.ip_address(address).is_loopback:
            exposed.setdefault(pid, []).append((address, port))
    # HAProxy's stats and Prometheus frontends (moved by inplay up's HAProxy wrapper) and the
    # replicas' gRPC servers (moved by the replicas, serve_apps/loopback.py) are on loopback.
    # One thing Serve 2.60 fixes is left: the fallback proxy's gRPC server (`[::]:<its
    # port>`, grpc_util.py), in Serve's ProxyActor, which runs no code of ours; every call to
    # it is still authenticated by the feed and partner servicers
    for pid, found in exposed.items():
        command = cmdline(pid)
        if "ProxyActor" in command:
            assert len(found) == 1 and found[0][0] == "::", found
        else:
            raise AssertionError(f"{command!r} listens beyond loopback: {found}")
    haproxy = [p for p in platform.pids() if "/haproxy " in cmdline(p) + " "]
    assert haproxy and all(listening({p}) for p in haproxy)


def _ray_driver(platform: Platform, code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a Ray driver connected to the platform's Ray (as its operator would)."""
    import sys

    env = {**platform.env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN_PATH": str(platform.home / "secrets" / "ray_auth_token")}
    return subprocess.run([sys.executable, "-c", code, platform.state()["ray_address"]],
                          env=env, capture_output=True, text=True, timeout=180, check=False,
                          cwd=str(Path(__file__).resolve().parents[2]))


def test_the_token_key_is_in_no_serve_config(platform: Platform) -> None:
    """The replicas read the token key from the home's secrets: it is no deployment argument,
    so it is nowhere in what Serve keeps (its controller's checkpoints in the GCS, which hold
    every deployment's pickled arguments) nor in what the dashboard shows of Serve."""
    key = (platform.home / "secrets" / "token_key").read_text().strip()
    assert len(key) >= 32
    code = """
import json, sys, urllib.request
import ray
from ray.experimental import internal_kv
ray.init(address=sys.argv[1], namespace="inplay", log_to_driver=False)
values = []
for namespace in (b"serve", None):
    for k in internal_kv._internal_kv_list(b"", namespace=namespace):
        value = internal_kv._internal_kv_get(k, namespace=namespace)
        if value:
            values.append(value)
print(json.dumps({"values": len(values), "serve_bytes": sum(len(v) for v in values),
                  "hex": [v.hex() for v in values]}))
"""
    done = _ray_driver(platform, code)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    stored = [bytes.fromhex(h) for h in found["hex"]]
    # Serve's checkpoints are there (so the scan sees the deployments' arguments) ...
    assert any(b"token_key_file" in v for v in stored), found["values"]
    # ... and the key is in none of them, in any form
    for form in (key.encode(), key.encode().hex().encode(), key.encode("utf-16-le")):
        assert not any(form in v for v in stored)
    dashboard = platform.state()["dashboard_url"]
    token = (platform.home / "secrets" / "ray_auth_token").read_text().strip()
    shown = httpx.get(f"{dashboard}/api/serve/applications/", timeout=30,
                      headers={"Authorization": f"Bearer {token}"})
    assert shown.status_code == 200, shown.text[:500]
    assert "inplay" in shown.text and key not in shown.text


def test_a_revoked_token_is_refused_by_every_replica(platform: Platform) -> None:
    """``inplay token revoke``: by token id, then every token of a principal; every replica
    refuses within a second (each API replica's copy is read again when a second old)."""
    name = f"e2e-revoke-{next(_names)}"
    created = platform.inplay("token", "create", "--role", "operator", name, timeout=60)
    assert created.returncode == 0, created.stderr
    token_id = re.search(r"token id (t[0-9a-f]{24})", created.stdout)
    assert token_id, created.stdout
    token = created.stdout.strip().splitlines()[-1]
    second = platform.token("operator", name)
    with httpx.Client(base_url=platform.url, timeout=30) as http:
        def answers(tok: str) -> set[int]:  # enough requests to reach every API replica
            return {http.get("/v1/me", headers=auth(tok)).status_code for _ in range(20)}

        assert answers(token) == {200} and answers(second) == {200}
        revoked = platform.inplay("token", "revoke", token_id.group(1), timeout=60)
        assert revoked.returncode == 0, revoked.stderr
        time.sleep(1.5)
        assert answers(token) == {401} and answers(second) == {200}
        body = http.get("/v1/me", headers=auth(token)).json()
        assert body["code"] == "UNAUTHENTICATED" and "revoked" in body["detail"]
        assert platform.inplay("token", "revoke", name, timeout=60).returncode == 0
        time.sleep(1.5)
        assert answers(second) == {401}
        unknown = platform.inplay("token", "revoke", "no-such-name", timeout=60)
        assert unknown.returncode == 2 and "UNKNOWN_ACCOUNT" in unknown.stderr
        assert "Traceback" not in unknown.stderr
        time.sleep(1.1)  # a token issued in a later second than the revocation is valid
        assert answers(platform.token("operator", name)) == {200}


def test_only_rays_own_dashboard_keeps_a_multiprocessing_helper(platform: Platform) -> None:
    """``inplay up --detach`` leaves no multiprocessing resource tracker of its own: the only
    ones of this platform are the Ray dashboard's (its module processes are forked from a
    forkserver, which brings a tracker), children of the dashboard in Ray's session, which
    ``inplay down`` stops with the rest of it."""
    session = session_pids(platform.state()["ray_session"])
    helpers = {p for p in platform.pids() if "multiprocessing." in cmdline(p)
               and ("resource_tracker" in cmdline(p) or "forkserver import main" in cmdline(p))
               and "ray-dashboard-" not in cmdline(p)}
    for pid in helpers:
        parent = processes.parent_pid(pid) or 0
        assert pid in session and parent in session, (pid, cmdline(pid))
        assert "dashboard" in cmdline(parent), (pid, cmdline(parent))


def test_token_create_refuses_a_bad_name_plainly(platform: Platform) -> None:
    bad = platform.inplay("token", "create", "--role", "operator", "x")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "VALIDATION_ERROR" in bad.stderr and bad.stdout == ""


def test_haproxy_sends_no_log_datagram_per_request(platform: Platform) -> None:
    """HAProxy's request metrics are off (the default): its access log is not sent at all.

    Serve's config logs every request to a UDP syslog target; ``inplay up`` keeps only its
    notices, warnings, errors and alerts (``cluster.local.haproxy_log_env``). The config this
    platform's HAProxy runs says so and HAProxy accepts it; and as root, a socket bound on
    the target while requests go through gets no datagram from this platform's HAProxy
    (``tests/integration/test_haproxy_log.py`` shows the same line with Serve's default: one
    per request).
    """
    import re
    import socket
    import subprocess

    from tests.support.haproxy import haproxy_binary

    def haproxies() -> dict[int, str]:
        return {p: cmdline(p) for p in platform.pids() if "/haproxy " in cmdline(p) + " "}

    running = haproxies()
    assert running, "no HAProxy in this platform"
    configs = {found.group(1) for command in running.values()
               if (found := re.search(r" -f (\S+)", command))}
    assert len(configs) == 1, configs
    cfg = configs.pop()
    lines = [line.strip() for line in Path(cfg).read_text().splitlines()]
    logs = [line for line in lines if line.startswith("log ") and line != "log global"]
    assert logs == ["log 127.0.0.1:514 local0 notice # local0 info"], logs
    checked = subprocess.run([haproxy_binary(), "-c", "-f", cfg], capture_output=True,
                             text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.bind(("127.0.0.1", 514))
        except OSError as exc:  # not root, or a syslog daemon listens there
            pytest.skip(f"cannot listen on the log target: {exc}")
        with httpx.Client(base_url=platform.url, timeout=30) as http:
            for _ in range(100):
                assert http.get("/livez").status_code == 200
        udp.settimeout(0.5)
        senders: list[int] = []
        try:
            while True:  # other platforms on this machine may log here too: not counted
                tag = re.search(rb"haproxy\[(\d+)\]", udp.recv(65536))
                senders += [int(tag.group(1))] if tag else []
        except TimeoutError:
            pass
    ours = set(running) | set(haproxies())
    assert [p for p in senders if p in ours] == []


# ---------------------------------------------------------------- chaos


def _processes(platform: Platform, title: str) -> list[int]:
    return [p for p in session_pids(platform.state()["ray_session"]) if title in cmdline(p)]


def test_kill_9_event_actor_and_replica_during_a_burst(api: Api, platform: Platform) -> None:
    """Every 201 is in the journal and the ledger afterwards, and money is conserved."""
    players = [api.player(funds="300") for _ in range(8)]
    event_id = api.event()
    acked: dict[str, tuple[str, str]] = {}  # bet id → (account, stake)
    codes: dict[int, int] = {}
    samples: list[str] = []

    async def bettor(http: httpx.AsyncClient, account_id: str, token: str) -> None:
        for _ in range(25):
            try:
                answer = await http.post("/v1/bets", headers=auth(token, new_key()), json={
                    "event_id": event_id, "market_id": "mw", "selection_id": "away",
                    "stake": "2", "price": "2.80", "odds_change": "any"})
            except httpx.TransportError:  # the replica died under this request: unknown
                codes[0] = codes.get(0, 0) + 1
                continue
            status = answer.status_code
            if status == 500 and "problem+json" not in answer.headers.get("content-type", ""):
                # Serve's fallback proxy answering for the replica that was just killed: the
                # client learns nothing was confirmed, exactly as with a dropped connection
                status = 0
            codes[status] = codes.get(status, 0) + 1
            if status not in (0, 201, 502, 503, 504):
                samples.append(f"{answer.status_code} {answer.text[:300]}")
            if status == 201:
                acked[answer.json()["bet_id"]] = (account_id, "2.00")
            await asyncio.sleep(0.02)

    async def chaos() -> None:
        await asyncio.sleep(0.5)
        actors = _processes(platform, "EventActor")
        assert actors, "no event actor process found"
        for pid in actors:
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.8)
        replicas = _processes(platform, "ServeReplica:inplay:api")
        assert replicas, "no API replica process found"
        os.kill(replicas[0], signal.SIGKILL)

    async def run() -> None:
        async with httpx.AsyncClient(base_url=platform.url, timeout=60) as http:
            await asyncio.gather(chaos(), *(bettor(http, a, t) for a, t in players))

    asyncio.run(run())
    assert codes.get(201, 0) > 0 and sum(codes.values()) == 200
    assert set(codes) <= {0, 201, 502, 503, 504}, (codes, samples[:5])
    redis_url = platform.state()["redis_url"]
    client = redis.Redis.from_url(redis_url)
    journal = recover(client, event_id, use_snapshot=False)
    accepted = {}
    for _, payload in journal.entries:
        event = decode(payload)
        if isinstance(event, BetAccepted):
            assert event.terms.bet_id not in accepted, "a bet accepted twice"
            accepted[event.terms.bet_id] = event.terms
    missing = set(acked) - set(accepted)
    assert not missing, f"{len(missing)} acknowledged bets are not in the journal"
    _assert_ledger_matches(api, client, players, accepted)


def _assert_ledger_matches(api: Api, client: redis.Redis, players: list[tuple[str, str]],
                           accepted: dict[str, Any]) -> None:
    """After the sweeper ran: no reservation left, and each ledger holds exactly the stakes
    of its accepted bets, with money conserved to the cent."""
    import asyncio as aio

    from storage.redis_client import async_client
    from storage.wallet import Wallet

    async def books() -> dict[str, dict[LedgerAccount, Decimal]]:
        wallet = Wallet(async_client(api.p.state()["redis_url"]))
        return {a: await wallet.books(a) for a, _ in players}

    deadline = time.monotonic() + 30
    while True:
        ledgers = aio.run(books())
        if all(b.get(LedgerAccount.RESERVED, Decimal(0)) == 0 for b in ledgers.values()):
            break
        assert time.monotonic() < deadline, "reservations were never resolved"
        time.sleep(0.5)
    for account_id, book in ledgers.items():
        stakes = sum((t.stake for t in accepted.values() if t.account_id == account_id),
                     Decimal(0))
        assert book[LedgerAccount.STAKES_HELD] == stakes, account_id
        assert book[LedgerAccount.AVAILABLE] + stakes == Decimal("300.00"), account_id
        assert -book[LedgerAccount.DEPOSITS_CLEARING] == Decimal("300.00")
        assert sum(book.values()) == 0

"""The odds stream of the running platform, through HAProxy, as clients reach it.

HAProxy sends ``/v1/events/...`` to the ``odds`` application (its own deployment) and
everything else to ``inplay``; a stream opens with a snapshot, carries an operator's change,
resumes after ``Last-Event-ID``, and an idle one gets the keep-alive comment well before any
HAProxy timeout would close it (the timeouts read from the config Serve generated).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import secrets
from pathlib import Path

import httpx
import pytest

from cluster.config import Settings
from cluster.processes import cmdline, session_pids
from tests.support.platform import Platform
from tests.support.sse import SseReader

pytestmark = [pytest.mark.slow, pytest.mark.ray]

STREAMS = 20
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "": 0.001}


def haproxy_config(platform: Platform) -> str:
    """The config file of this platform's HAProxy (the ``-f`` of its command line)."""
    for pid in session_pids(platform.state()["ray_session"]):
        line = cmdline(pid)
        if "haproxy" in line.split(" ")[0] and " -f " in line:
            return Path(line.split(" -f ")[1].split(" ")[0]).read_text()
    raise AssertionError("no HAProxy in the platform's Ray session")


def timeouts(config: str) -> dict[str, list[float]]:
    """Every ``timeout <kind> <value>`` in the config, in seconds, by kind."""
    found: dict[str, list[float]] = {}
    for kind, value, unit in re.findall(r"^\s*timeout ([a-z-]+) (\d+)([a-z]*)\s*$", config,
                                        re.MULTILINE):
        found.setdefault(kind, []).append(int(value) * _UNITS[unit])
    return found


def backends(config: str) -> dict[str, dict[str, int]]:
    """HAProxy's statistics per backend (``scur``: its sessions now), from its stats page."""
    # `bind *:port` as Serve writes it, `bind 127.0.0.1:port` once inplay's wrapper moved it
    port = re.search(r"^listen stats\s*\n\s*bind (?:\*|127\.0\.0\.1):(\d+)", config,
                     re.MULTILINE)
    assert port, "no stats listener in HAProxy's config"
    table = httpx.get(f"http://127.0.0.1:{port.group(1)}/stats;csv", timeout=10).text
    rows = csv.DictReader(io.StringIO(table.lstrip("# ")))
    return {r["pxname"]: {"scur": int(r["scur"] or 0)} for r in rows if r["svname"] == "BACKEND"}


def test_haproxy_sends_event_reads_and_streams_to_the_odds_application(
        platform: Platform) -> None:
    routes = httpx.get(f"{platform.url}/-/routes", timeout=10).json()
    assert routes.get("/v1/events") == "odds" and routes.get("/") == "inplay", routes
    # an idle stream outlives every HAProxy timeout that applies once the answer started
    keepalive = Settings.model_fields["sse_keepalive_s"].default
    found = timeouts(haproxy_config(platform))
    assert found.get("client"), found  # Serve sets one (an hour by default)
    for kind in ("client", "server", "tunnel"):
        for value in found.get(kind, []):
            assert value >= 4 * keepalive, (kind, value, keepalive)


async def test_a_stream_through_haproxy(platform: Platform) -> None:
    ops = {"Authorization": f"Bearer {platform.operator_token}"}
    event_id = f"e2e-sse-{secrets.token_hex(4)}"
    config = haproxy_config(platform)
    async with httpx.AsyncClient(base_url=platform.url, timeout=30) as http:
        created = await http.post("/v1/ops/events", headers=ops, json={
            "event_id": event_id, "name": "Home v Away", "sport": "soccer",
            "starts_at": "2026-11-27T20:00:00Z", "markets": [{
                "market_id": "mw", "name": "Match winner", "in_play_delay_s": 0,
                "selections": [{"selection_id": "home", "name": "Home", "price": "2.50"},
                               {"selection_id": "away", "name": "Away", "price": "2.80"}]}]})
        assert created.status_code == 201, created.text
        await asyncio.sleep(2)  # the event actor finds the odds cache with its first beat
        idle_before = backends(config)
        streams: list[httpx.Response] = []
        try:
            for _ in range(STREAMS):
                streams.append(await http.send(http.build_request(
                    "GET", f"/v1/events/{event_id}/stream"), stream=True))
            readers = [SseReader(s) for s in streams]
            snapshots = [await r.message() for r in readers]
            assert {s.event for s in snapshots} == {"snapshot"}
            assert snapshots[0].data["event_id"] == event_id
            version = snapshots[0].version
            # HAProxy holds them on the odds backend; the bets' backend did not get them
            held = backends(config)
            # (at least ours: another client's stream may have ended meanwhile)
            assert held["http-odds"]["scur"] >= STREAMS, (held, idle_before)
            assert held["http-inplay"]["scur"] < STREAMS, held
            moved = await http.post(f"/v1/ops/events/{event_id}/odds", headers=ops,
                                    json={"market_id": "mw", "prices": {"home": "2.60"}})
            assert moved.status_code == 200, moved.text
            for reader in readers:
                message = await reader.message()
                assert message.event == "odds" and message.id == version + 1, message
                assert message.data["prices"] == {"home": "2.60"}
            # idle: the keep-alive comment arrives (every 15 s by default)
            comment = await readers[0].next(timeout_s=25)
            assert comment.comment == "keep-alive"
        finally:
            for stream in streams:
                await stream.aclose()
        # a client that was away resumes after the last id it saw
        await http.post(f"/v1/ops/events/{event_id}/odds", headers=ops,
                        json={"market_id": "mw", "prices": {"away": "3.00"}})
        async with http.stream("GET", f"/v1/events/{event_id}/stream",
                               headers={"Last-Event-ID": str(version + 1)}) as answer:
            message = await SseReader(answer).message()
        assert (message.event, message.id) == ("odds", version + 2), message
        assert message.data["prices"] == {"away": "3.00"}
        missing = await http.get("/v1/events/no-such-event/stream")
        assert missing.status_code == 404 and missing.json()["code"] == "UNKNOWN_EVENT"

"""Feed ingest on the platform `inplay up` started: gRPC through Serve's HAProxy and direct
ingress (the mode a deployment runs), a `feed` token from `inplay token create`, the same
messages over `POST /v1/ops/feed`, and where the feed listens in `inplay status`."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from cluster.feed_client import FeedClient
from domain import errors
from domain.feed import Ack, FeedKind, FeedMessage, MatchState
from tests.support.platform import Platform, api

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _until(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool],
           timeout_s: float = 30) -> dict[str, Any]:
    """Event reads come from the region's odds cache: it follows the event actor closely,
    not in the same instant."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = read()
        if done(found):
            return found
        assert time.monotonic() < deadline, f"never became what was expected: {found}"
        time.sleep(0.1)


def test_a_provider_feeds_an_event_over_grpc_through_haproxy(platform: Platform) -> None:
    assert f"feed gRPC  {platform.feed_target}" in platform.up_output
    assert platform.state()["feed_target"] == platform.feed_target
    status = platform.inplay("status", timeout=60)
    assert f"feed (gRPC) {platform.feed_target}" in status.stdout
    client = api(platform)
    op = platform.operator_token
    feed_token = platform.token("feed", f"e2efeed{secrets.token_hex(3)}")
    event_id = f"feed-{secrets.token_hex(4)}"
    client.create_event(op, {
        "event_id": event_id, "name": "Feed v Fixture", "sport": "soccer",
        "starts_at": "2026-11-27T20:00:00Z", "markets": [
            {"market_id": "mw", "name": "Match winner", "selections": [
                {"selection_id": "home", "name": "Home", "price": "2.50"},
                {"selection_id": "away", "name": "Away", "price": "2.80"}]}]})

    def msg(seq: int, kind: FeedKind, **fields: Any) -> FeedMessage:
        return FeedMessage("ignored: the token names the provider", event_id, seq, kind,
                           time.time(), **fields)

    async def publish() -> tuple[list[Ack], list[Ack], list[Ack]]:
        async with FeedClient(platform.feed_target, feed_token) as feed:
            batch = await feed.publish([
                msg(1, FeedKind.MATCH_STATE, state=MatchState.FIRST_HALF),
                msg(2, FeedKind.ODDS_CHANGE, market_id="mw",
                    prices=(("home", Decimal("2.20")), ("away", Decimal("3.20")))),
                msg(3, FeedKind.BET_STOP, cause="goal"),
                msg(4, FeedKind.SCORE, score="1-0"),
                msg(2, FeedKind.SCORE, score="9-9"),
            ])
            # the client stream (stream_unary) through HAProxy to the replica
            stream = await feed.publish_stream([msg(5, FeedKind.BET_START),
                                                msg(5, FeedKind.BET_STOP),
                                                msg(6, FeedKind.ALIVE)])
            again = await feed.publish([msg(6, FeedKind.SCORE, score="9-9")])
        return batch, stream, again

    batch, stream, again = asyncio.run(publish())
    assert [(a.seq, a.status.value) for a in batch] == [
        (1, "applied"), (2, "applied"), (3, "applied"), (4, "applied"), (2, "duplicate")]
    assert [(a.seq, a.status.value) for a in stream] == [
        (5, "applied"), (5, "duplicate"), (6, "applied")]
    assert [(a.seq, a.status.value) for a in again] == [(6, "duplicate")]
    version = stream[0].version
    event = _until(lambda: dict(client.get_event(event_id)), lambda e: e["version"] >= version)
    assert event["status"] == "in_play" and event["score"] == "1-0"
    market = event["markets"][0]
    assert market["status"] == "open" and market["cause"] == ""
    assert {s["selection_id"]: s["price"] for s in market["selections"]} == {
        "home": "2.20", "away": "3.20"}

    async def refused() -> None:
        async with FeedClient(platform.feed_target, "not-a-token", attempts=1) as feed:
            with pytest.raises(errors.Unauthenticated):
                await feed.publish([msg(7, FeedKind.SCORE, score="9-9")])

    asyncio.run(refused())
    # Serve gives the feed application an HTTP route too: nothing is served there
    answer = httpx.get(f"{platform.url}/grpc/feed", timeout=30)
    assert answer.status_code == 404 and answer.json()["code"] == "NOT_FOUND"

    # the same over HTTP, for operators (a desk of their own)
    acks = client.publish_feed(op, [
        {"kind": "bet_stop", "event_id": event_id, "seq": 1, "cause": "var"},
        {"kind": "bet_stop", "event_id": event_id, "seq": 2, "market_ids": ["nope"]},
        {"kind": "score", "event_id": event_id, "seq": 0, "score": "9-9"}], provider="desk")
    assert [(a["seq"], a["status"], a["code"]) for a in acks] == [
        (1, "applied", ""), (2, "refused", "UNKNOWN_MARKET"),
        (0, "refused", "INVALID_FEED_MESSAGE")]
    event = _until(lambda: dict(client.get_event(event_id)),
                   lambda e: e["markets"][0]["status"] == "suspended")
    assert event["markets"][0]["cause"] == "var" and event["score"] == "1-0"

"""The partner API on the platform `inplay up` started: gRPC through Serve's HAProxy and
direct ingress (the mode a deployment runs) on the feed's port, a player token from
`POST /v1/sessions`, bets placed over gRPC read back over HTTP, and a bet stream."""

from __future__ import annotations

import asyncio
import secrets

import grpc
import httpx
import pytest

from cluster.partner_client import PartnerClient, bet_request
from domain import errors
from serve_apps.partner_proto import inplay_partner_pb2 as pb
from serve_apps.partner_proto import inplay_partner_pb2_grpc as pb_grpc
from serve_apps.partner_proto.convert import bet_from_wire, without_nulls
from tests.support.platform import Platform, api

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def test_a_partner_places_gets_and_streams_bets_over_grpc_through_haproxy(
        platform: Platform) -> None:
    assert "partner" in platform.up_output and "inplay.partner.v1.Partner" in platform.up_output
    client = api(platform)
    op = platform.operator_token
    event_id = f"partner-{secrets.token_hex(4)}"
    client.create_event(op, {
        "event_id": event_id, "name": "Partner v Fixture", "sport": "soccer",
        "starts_at": "2026-11-27T20:00:00Z", "markets": [
            {"market_id": "mw", "name": "Match winner", "selections": [
                {"selection_id": "home", "name": "Home", "price": "2.50"},
                {"selection_id": "away", "name": "Away", "price": "2.80"}]}]})
    name, password = f"mm{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    account_id = client.register(name, password)["account_id"]
    client.decide_kyc(op, account_id)
    token = client.login(name, password)["token"]
    client.deposit(token, "100.00")

    async def partner_calls() -> tuple[list[pb.BetResult], pb.Bet, list[pb.BetUpdate]]:
        async with PartnerClient(platform.feed_target, token, attempts=5) as partner:
            results = await partner.place_bets([
                bet_request("e2e-1", event_id, "mw", "home", "10", "2.50"),
                bet_request("e2e-2", event_id, "mw", "away", "5", "2.40"),  # it is 2.80
            ])
            found = await partner.get_bet(results[0].bet.bet_id)
            stream = partner.stream_bets()
            seen = [await asyncio.wait_for(anext(stream), 60) for _ in range(3)]
            more = await partner.place_bets([
                bet_request("e2e-3", event_id, "mw", "away", "5", "2.80")])
            assert more[0].bet.status == "accepted"
            seen.append(await asyncio.wait_for(anext(stream), 60))
            await stream.aclose()  # type: ignore[attr-defined]
            with pytest.raises(errors.UnknownBet):
                await partner.get_bet("b000000000000000000000000")
        return results, found, seen

    results, found, seen = asyncio.run(partner_calls())
    assert results[0].bet.status == "accepted"
    assert (results[1].refusal.code, results[1].refusal.status, results[1].refusal.price) == (
        "PRICE_CHANGED", 409, "2.80")
    assert found == results[0].bet
    assert bet_from_wire(found) == without_nulls(dict(client.get_bet(token, found.bet_id)))
    assert [u.kind for u in seen] == [pb.BetUpdate.INITIAL, pb.BetUpdate.INITIAL,
                                      pb.BetUpdate.CAUGHT_UP, pb.BetUpdate.CHANGED]
    assert {u.bet.status for u in seen[:2]} == {"accepted", "rejected"}
    assert (seen[3].bet.selection_id, seen[3].bet.status) == ("away", "accepted")

    async def refused() -> tuple[grpc.aio.AioRpcError, grpc.aio.AioRpcError]:
        metadata = (("authorization", "Bearer not-a-token"), ("application", "partner"))
        async with grpc.aio.insecure_channel(platform.feed_target) as channel:
            stub = pb_grpc.PartnerStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as unary:
                await stub.GetBet(pb.GetBetRequest(bet_id="b1"), metadata=metadata, timeout=30)
            with pytest.raises(grpc.aio.AioRpcError) as stream:
                async for _ in stub.StreamBets(pb.StreamBetsRequest(), metadata=metadata,
                                               timeout=30):
                    pass
        return unary.value, stream.value

    unary, stream = asyncio.run(refused())
    for failed in (unary, stream):
        assert failed.code() is grpc.StatusCode.UNAUTHENTICATED
        assert (failed.details() or "").startswith("UNAUTHENTICATED: ")
    assert dict(unary.trailing_metadata() or ())["inplay-code"] == "UNAUTHENTICATED"
    # Serve gives the partner application an HTTP route too: nothing is served there
    answer = httpx.get(f"{platform.url}/grpc/partner", timeout=30)
    assert answer.status_code == 404 and answer.json()["code"] == "NOT_FOUND"

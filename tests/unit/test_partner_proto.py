"""The partner API's wire contract: generated stubs never drift from the .proto, a bet
crosses the wire as the HTTP API shows it, a refusal as the HTTP problem says it, and a bet
request is validated as ``POST /v1/bets`` validates it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import grpc
import pytest

from domain import errors
from domain.events import (
    BetAbandoned,
    BetAccepted,
    BetCashedOut,
    BetHeld,
    BetRejected,
    BetStatus,
    BetTerms,
    CashoutTerms,
    OddsPolicy,
)
from domain.settlement import BetSettlement
from serve_apps import problems
from serve_apps.partner import GRPC_STATUS, _checked, _result
from serve_apps.partner_proto import inplay_partner_pb2 as pb
from serve_apps.partner_proto.convert import (
    bet_from_wire,
    bet_request,
    bet_to_wire,
    refusal_from_wire,
    refusal_to_wire,
    without_nulls,
)
from serve_apps.views import bet_body
from tests.support.protos import assert_stubs_current

PROTO = Path("serve_apps/partner_proto/inplay_partner.proto")
D = Decimal


def test_the_committed_stubs_are_what_protoc_makes_of_the_proto(tmp_path: Path) -> None:
    assert_stubs_current(PROTO, tmp_path)


TERMS = BetTerms("b1", "acct1", "mw", "home", D("10.00"), D("2.50"), 3, OddsPolicy.HIGHER,
                 "fp", 1_790_000_000.125)
ACCEPTED = BetAccepted(TERMS, D("2.60"), 4, 1_790_000_000.5)
SETTLED = BetSettlement(BetStatus.WON, 2600, False, [
    (7, "result", "won", 2600, 2600, 1_790_000_100_000, 1),
    (9, "rollback", None, 0, -2600, 1_790_000_200_000, 0),
    (11, "result", "won", 2600, 2600, 1_790_000_300_000, 2)])
DEAD_HEAT = BetSettlement(BetStatus.HALF_WON, 1300, True, [
    (7, "result", "half_won", 1300, 1300, 1_790_000_100_000, 1)])
CASHED = BetCashedOut(CashoutTerms("c1", "b1", "acct1", None, D("12.00"), OddsPolicy.ANY, "fp",
                                   1_790_000_050.0),
                      ACCEPTED, D("12.40"), D("2.10"), 6, 1_790_000_050.0)
SHAPES: list[tuple[str, Any, BetSettlement | None]] = [
    ("accepted", ACCEPTED, None),
    ("settled", ACCEPTED, SETTLED),
    ("dead-heat", ACCEPTED, DEAD_HEAT),
    ("pending", BetHeld(TERMS, 1_790_000_005.0, "0-0", 0, 4, 1_790_000_000.5), None),
    ("rejected", BetRejected(TERMS, "PRICE_CHANGED", "price moved", {"price": "2.40",
                                                                     "price_version": 5},
                             1_790_000_000.5), None),
    ("abandoned", BetAbandoned("b1", "acct1", "the saga never finished", 1_790_000_001.0),
     None),
    ("cashed-out", CASHED, None),
    ("cashed-out-paid", CASHED, BetSettlement(BetStatus.CASHED_OUT, 1240, False, [
        (8, "cashout", "cashed_out", 1240, 1240, 1_790_000_060_000, 0)])),
]


@pytest.mark.parametrize(("decision", "settlement"), [(d, s) for _, d, s in SHAPES],
                         ids=[n for n, _, _ in SHAPES])
def test_a_bet_crosses_the_wire_as_the_http_api_shows_it(decision: Any,
                                                         settlement: BetSettlement | None
                                                         ) -> None:
    body = bet_body("ev1", decision, settlement)
    wire = pb.Bet.FromString(bet_to_wire(body).SerializeToString())
    assert bet_from_wire(wire) == without_nulls(body)


def test_money_and_prices_stay_decimal_strings() -> None:
    wire = bet_to_wire(bet_body("ev1", ACCEPTED, SETTLED))
    assert (wire.stake, wire.price, wire.requested_price, wire.potential_payout,
            wire.payout) == ("10.00", "2.60", "2.50", "26.00", "26.00")
    assert wire.odds_change == pb.ODDS_CHANGE_HIGHER and wire.price_version == 4
    assert [s.moved for s in wire.settlements] == ["26.00", "-26.00", "26.00"]
    assert wire.settlements[1].HasField("result_version") is False
    request = bet_request("k", "ev1", "mw", "home", "10.5", "2.50", "any", 7)
    assert (request.stake, request.price, request.odds_change, request.price_version) == (
        "10.5", "2.50", pb.ODDS_CHANGE_ANY, 7)


@pytest.mark.parametrize(("code", "facts"), [
    ("PRICE_CHANGED", {"price": "2.40", "price_version": 5}),
    ("LIABILITY_LIMIT", {"max_stake": "66.66"}),
    ("RATE_LIMITED", {"retry_after_s": 0.25}),
    ("OVERLOADED", {"retry_after_s": 1}),
    ("SELF_EXCLUDED", {"excluded_until": "2026-12-01T00:00:00.000Z"}),
    ("INVALID_AMOUNT", {"errors": [{"loc": ["bets", 0, "stake"], "msg": "at most 2 decimal "
                                    "places", "type": "value_error"}]}),
    ("UNKNOWN_MARKET", {"nested": {"a": [1, 2]}}),
])
def test_a_refusal_carries_what_the_http_problem_carries(code: str,
                                                         facts: dict[str, Any]) -> None:
    problem = problems.problem_body(code, "because", bet_id="b9", **facts)
    wire = pb.Refusal.FromString(refusal_to_wire(problem).SerializeToString())
    plain = refusal_from_wire(wire)
    assert (plain["code"], plain["status"], plain["title"], plain["detail"], plain["bet_id"]) \
        == (code, problems.status_of(code), problem["title"], "because", "b9")
    for key, value in facts.items():
        if key == "errors":
            assert plain["errors"] == ["bets.0.stake: at most 2 decimal places"]
        elif key == "retry_after_s":
            assert plain[key] == float(value)
        elif key == "nested":
            assert plain[key] == '{"a":[1,2]}'
        else:
            assert plain[key] == value


@pytest.mark.parametrize(("wire", "code"), [
    (bet_request("k", "ev1", "mw", "home", "0", "2.50"), "INVALID_AMOUNT"),
    (bet_request("k", "ev1", "mw", "home", "10.001", "2.50"), "INVALID_AMOUNT"),
    (bet_request("k", "ev1", "mw", "home", "ten", "2.50"), "INVALID_AMOUNT"),
    (bet_request("k", "ev1", "mw", "home", "10", "2.51"), "INVALID_ODDS"),
    (bet_request("k", "ev1", "mw", "home", "10", ""), "INVALID_ODDS"),
    (bet_request("k", "ev 1", "mw", "home", "10", "2.50"), "VALIDATION_ERROR"),
    (bet_request("k", "ev1", "", "home", "10", "2.50"), "VALIDATION_ERROR"),
    (bet_request("k", "ev1", "mw", "home", "10", "2.50", price_version=0), "VALIDATION_ERROR"),
    (pb.BetRequest(idempotency_key="k", event_id="ev1", market_id="mw", selection_id="home",
                   stake="10", price="2.50", odds_change=cast(Any, 7)), "VALIDATION_ERROR"),
    (bet_request("", "ev1", "mw", "home", "10", "2.50"), "IDEMPOTENCY_KEY_REQUIRED"),
    (bet_request("k" * 65, "ev1", "mw", "home", "10", "2.50"), "IDEMPOTENCY_KEY_REQUIRED"),
    (bet_request("a\nb", "ev1", "mw", "home", "10", "2.50"), "IDEMPOTENCY_KEY_REQUIRED"),
])
def test_a_bad_bet_is_refused_with_the_code_post_v1_bets_gives(wire: pb.BetRequest,
                                                               code: str) -> None:
    checked = _checked(3, wire)
    assert isinstance(checked, pb.Refusal)
    assert (checked.code, checked.status) == (code, problems.status_of(code))


def test_a_good_bet_is_validated_into_what_the_saga_takes() -> None:
    checked = _checked(0, bet_request("k", "ev1", "mw", "home", "10.5", "2.50", "higher", 3))
    assert not isinstance(checked, pb.Refusal)
    assert (checked.stake, checked.price, checked.odds_change, checked.price_version) == (
        D("10.50"), D("2.50"), OddsPolicy.HIGHER, 3)


def test_outcomes_become_results_as_the_http_route_answers_them() -> None:
    assert _result("ev1", "b1", ACCEPTED).bet.status == "accepted"
    assert _result("ev1", "b1", SHAPES[3][1]).bet.status == "pending"
    rejected = _result("ev1", "b1", SHAPES[4][1]).refusal
    assert (rejected.code, rejected.status, rejected.price, rejected.price_version,
            rejected.bet_id) == ("PRICE_CHANGED", 409, "2.40", 5, "b1")
    abandoned = _result("ev1", "b1", SHAPES[5][1]).refusal
    assert (abandoned.code, abandoned.status, abandoned.bet_id) == ("UNAVAILABLE", 503, "b1")
    funds = _result("ev1", "b2", errors.RateLimited("too many bets", retry_after_s=0.5))
    assert (funds.refusal.code, funds.refusal.status, funds.refusal.retry_after_s,
            funds.refusal.bet_id) == ("RATE_LIMITED", 429, 0.5, "b2")
    bug = _result("ev1", "b3", RuntimeError("boom")).refusal
    assert (bug.code, bug.status, bug.bet_id) == ("INTERNAL_ERROR", 500, "b3")


def test_every_code_of_a_whole_call_refusal_has_a_grpc_status() -> None:
    assert GRPC_STATUS["UNAUTHENTICATED"] is grpc.StatusCode.UNAUTHENTICATED
    assert GRPC_STATUS["FORBIDDEN"] is grpc.StatusCode.PERMISSION_DENIED
    assert GRPC_STATUS["VALIDATION_ERROR"] is grpc.StatusCode.INVALID_ARGUMENT
    assert GRPC_STATUS["UNKNOWN_BET"] is grpc.StatusCode.NOT_FOUND
    assert GRPC_STATUS["RATE_LIMITED"] is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert {GRPC_STATUS["UNAVAILABLE"], GRPC_STATUS["OVERLOADED"]} == {
        grpc.StatusCode.UNAVAILABLE}
    assert set(GRPC_STATUS) <= set(problems.STATUS)

"""The feed's wire contract: generated stubs never drift from the .proto, and every kind of
message crosses the wire and back to the same ``domain.feed.FeedMessage``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.feed import MAX_SEQ, Ack, AckStatus, FeedKind, parse
from serve_apps.feed_proto import inplay_feed_pb2 as pb
from serve_apps.feed_proto.convert import ack_from_wire, ack_to_wire, from_message, to_plain
from tests.support.protos import assert_stubs_current

PROTO = Path("serve_apps/feed_proto/inplay_feed.proto")


def test_the_committed_stubs_are_what_protoc_makes_of_the_proto(tmp_path: Path) -> None:
    assert_stubs_current(PROTO, tmp_path)


SAMPLES: list[dict[str, Any]] = [
    {"kind": "odds_change", "market_id": "mw", "prices": {"home": "2.40", "away": "3.00"}},
    {"kind": "bet_stop", "market_ids": ["mw", "ou25"], "cause": "goal"},
    {"kind": "bet_stop"},
    {"kind": "bet_start", "market_ids": ["mw"]},
    {"kind": "alive"},
    {"kind": "alive", "event_id": ""},
    {"kind": "score", "score": "2-1"},
    {"kind": "match_state", "state": "second_half"},
    {"kind": "result", "market_id": "mw", "winners": ["home"]},
    {"kind": "result", "market_id": "mw", "winners": ["home", "draw"],
     "dead_heat_factor": "0.5", "result_version": 3},
    {"kind": "result", "market_id": "mw", "winners": ["home"], "void_factor": "0.5"},
    {"kind": "rollback", "market_id": "mw"},
    {"kind": "void_window", "start": 100.5, "end": 160.0, "cause": "late goal"},
    {"kind": "void_window", "start": 100.5, "end": 160.0, "market_id": "mw", "cause": "var"},
]


@pytest.mark.parametrize("raw", SAMPLES, ids=lambda r: r["kind"])
def test_every_kind_crosses_the_wire_unchanged(raw: dict[str, Any]) -> None:
    original = parse("prov", {"event_id": "ev1", "seq": MAX_SEQ, "sent_at": 12.5, **raw})
    wire = pb.FeedMessage.FromString(from_message(original).SerializeToString())
    assert parse("prov", to_plain(wire)) == original


def test_every_kind_of_the_domain_has_a_member_of_the_oneof() -> None:
    members = {f.name for f in pb.FeedMessage.DESCRIPTOR.oneofs_by_name["body"].fields}
    assert members == {k.value for k in FeedKind}
    states = {v.name.lower() for v in pb.MatchState.DESCRIPTOR.values} - {
        "match_state_unspecified"}
    assert states == {"not_started", "first_half", "half_time", "second_half", "ended",
                      "abandoned"}


@pytest.mark.parametrize("wire", [
    pb.FeedMessage(event_id="ev1", seq=1),  # no body: no kind
    pb.FeedMessage(event_id="ev1", seq=0, score=pb.Score(score="1-0")),
    pb.FeedMessage(event_id="ev1", seq=-5, alive=pb.Alive()),
    pb.FeedMessage(event_id="", seq=1, score=pb.Score(score="1-0")),
    pb.FeedMessage(event_id="ev1", seq=1, match_state=pb.MatchStateChange()),
    pb.FeedMessage(event_id="ev1", seq=1, odds_change=pb.OddsChange(
        market_id="mw", prices={"home": "2.41"})),  # off the ladder
    pb.FeedMessage(event_id="ev1", seq=1, odds_change=pb.OddsChange(prices={"home": "2.40"})),
    pb.FeedMessage(event_id="ev1", seq=1, result=pb.Result(market_id="mw", winners=["home"],
                                                           void_factor="2")),
], ids=["no-body", "seq-0", "seq-negative", "no-event", "state-unset", "off-ladder",
        "no-market", "void-factor"])
def test_malformed_wire_messages_are_refused_by_the_shared_parser(wire: pb.FeedMessage) -> None:
    from domain import errors

    with pytest.raises(errors.InvalidFeedMessage):
        parse("prov", to_plain(wire))


@pytest.mark.parametrize("status", list(AckStatus))
def test_acks_cross_the_wire_unchanged(status: AckStatus) -> None:
    ack = Ack("ev1", 7, status, "UNKNOWN_MARKET" if status is AckStatus.REFUSED else "",
              "market x is not in event ev1", 12)
    assert ack_from_wire(pb.Ack.FromString(ack_to_wire(ack).SerializeToString())) == ack


def test_prices_stay_decimal_strings_on_the_wire() -> None:
    msg = parse("prov", {"event_id": "e", "seq": 1, "kind": "odds_change", "market_id": "m",
                         "prices": {"a": "1.01", "b": "1000"}})
    wire = from_message(msg)
    assert dict(wire.odds_change.prices) == {"a": "1.01", "b": "1000"}
    assert dict(parse("prov", to_plain(wire)).prices) == {"a": Decimal("1.01"),
                                                          "b": Decimal("1000")}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
    | st.sampled_from([10**400, -(10**400), 2**64, "\ud800", "a\x00b"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=8)
_FIELDS = st.sampled_from(["event_id", "seq", "sent_at", "market_id", "market_ids", "prices",
                           "cause", "score", "state", "winners", "void_factor",
                           "dead_heat_factor", "result_version", "start", "end"])


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from([k.value for k in FeedKind]), st.dictionaries(_FIELDS, _JSON, max_size=6))
def test_whatever_a_json_body_holds_is_parsed_or_refused_never_a_crash(
        kind: str, fields: dict[str, Any]) -> None:
    """``POST /v1/ops/feed`` hands any JSON object to ``parse``: the answer is a message or
    ``INVALID_FEED_MESSAGE``, and an ack of it can always be written as JSON."""
    from domain import errors
    from serve_apps.services import _refused
    from serve_apps.views import ack_body

    raw = {"kind": kind, "event_id": "ev1", "seq": 1, **fields}
    try:
        parse("prov", raw)
    except errors.InvalidFeedMessage as exc:
        orjson.dumps(ack_body(_refused(raw, exc)))

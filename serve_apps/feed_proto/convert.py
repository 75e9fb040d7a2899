"""Between the wire (``inplay_feed.proto``) and the domain (``domain.feed``).

``to_plain`` turns a protobuf message into the plain values ``domain.feed.parse`` takes, so
gRPC and ``POST /v1/ops/feed`` share one validation; ``from_message`` is the way back (the
client's side). Acks go both ways with ``ack_to_wire`` / ``ack_from_wire``.
"""

from __future__ import annotations

from typing import Any

from domain.feed import Ack, AckStatus, FeedKind, FeedMessage
from serve_apps.feed_proto import inplay_feed_pb2 as pb


def to_plain(msg: pb.FeedMessage) -> dict[str, Any]:
    """What ``domain.feed.parse`` takes; a message with no body has no ``kind`` (refused)."""
    out: dict[str, Any] = {"event_id": msg.event_id, "seq": msg.seq, "sent_at": msg.sent_at}
    kind = msg.WhichOneof("body")
    out["kind"] = kind
    if kind == "odds_change":
        out |= {"market_id": msg.odds_change.market_id, "prices": dict(msg.odds_change.prices)}
    elif kind in ("bet_stop", "bet_start"):
        stop = msg.bet_stop if kind == "bet_stop" else msg.bet_start
        out |= {"market_ids": list(stop.market_ids), "cause": stop.cause}
    elif kind == "score":
        out["score"] = msg.score.score
    elif kind == "match_state":
        out["state"] = pb.MatchState.Name(msg.match_state.state).lower()
    elif kind == "result":
        result = msg.result
        out |= {"market_id": result.market_id, "winners": list(result.winners),
                "void_factor": result.void_factor or "0"}
        if result.HasField("dead_heat_factor"):
            out["dead_heat_factor"] = result.dead_heat_factor
        if result.HasField("result_version"):
            out["result_version"] = result.result_version
    elif kind == "rollback":
        out["market_id"] = msg.rollback.market_id
    elif kind == "void_window":
        window = msg.void_window
        out |= {"start": window.start, "end": window.end, "cause": window.cause,
                "market_id": window.market_id if window.HasField("market_id") else None}
    return out


def from_message(msg: FeedMessage) -> pb.FeedMessage:
    """The wire form of a parsed message (the provider is the token's, not the message's)."""
    out = pb.FeedMessage(event_id=msg.event_id, seq=msg.seq, sent_at=msg.sent_at)
    kind = msg.kind
    if kind is FeedKind.ODDS_CHANGE:
        out.odds_change.market_id = msg.market_id or ""
        out.odds_change.prices.update({s: str(p) for s, p in msg.prices})
    elif kind in (FeedKind.BET_STOP, FeedKind.BET_START):
        stop = out.bet_stop if kind is FeedKind.BET_STOP else out.bet_start
        stop.market_ids.extend(msg.market_ids)
        stop.cause = msg.cause
    elif kind is FeedKind.ALIVE:
        out.alive.SetInParent()
    elif kind is FeedKind.SCORE:
        out.score.score = msg.score
    elif kind is FeedKind.MATCH_STATE:
        out.match_state.state = (pb.MatchState.Value(msg.state.value.upper()) if msg.state
                                 else pb.MATCH_STATE_UNSPECIFIED)
    elif kind is FeedKind.RESULT:
        out.result.market_id = msg.market_id or ""
        out.result.winners.extend(msg.winners)
        out.result.void_factor = str(msg.void_factor)
        if msg.dead_heat_factor is not None:
            out.result.dead_heat_factor = str(msg.dead_heat_factor)
        out.result.result_version = msg.result_version
    elif kind is FeedKind.ROLLBACK:
        out.rollback.market_id = msg.market_id or ""
    elif kind is FeedKind.VOID_WINDOW:
        out.void_window.start, out.void_window.end = msg.start, msg.end
        out.void_window.cause = msg.cause
        if msg.market_id is not None:
            out.void_window.market_id = msg.market_id
    return out


def ack_to_wire(ack: Ack) -> pb.Ack:
    return pb.Ack(event_id=ack.event_id, seq=ack.seq, status=pb.AckStatus.Value(ack.status.name),
                  code=ack.code, detail=ack.detail, version=ack.version)


def ack_from_wire(ack: pb.Ack) -> Ack:
    return Ack(ack.event_id, ack.seq, AckStatus[pb.AckStatus.Name(ack.status)], ack.code,
               ack.detail, ack.version)

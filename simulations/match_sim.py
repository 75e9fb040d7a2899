"""The match simulator: football matches (``domain.match``) played as a provider's feed.

Each match is created through the operator API (a callable: the runner itself speaks no HTTP
or gRPC), then played in real time or accelerated (``speed`` 60: 90 minutes in 90 s; half time
too), and every change becomes feed messages (``domain.feed``) with ``seq`` strictly
increasing per event:

- ``match_state`` at kick-off, half time, the second half's kick-off and full time;
- ``bet_stop`` (cause ``dangerous_attack``, ``penalty``, ``goal``, ``red_card``, or
  ``near_certain`` / ``awaiting_previous_goal`` for a market the model cannot or may not
  price) when a market stops being offered — a goal market ``ng<k>`` waits for goal k − 1;
- ``odds_change`` per market with only the prices that moved, never for a market in a bet
  stop: a stop ends with the new prices, then a ``bet_start``;
- ``score`` on a goal; ``result`` (version 1) for each market as soon as it is decided (over
  1.5 once two goals are in, goal k when it is scored) and for the rest at full time;
- ``alive`` every 10 s of wall time.

``MatchFeed`` is the pure core (a match and what the book was told, no clock, no I/O);
``run_match`` / ``run_matches`` pace it against a clock and publish through a ``FeedSink``.

    python -m simulations.match_sim --matches 4 --speed 60 --seed 7 --dry-run
    python -m simulations.match_sim --matches 4 --speed 60 --seed 7 \
        --target 127.0.0.1:50051 --token FEED_TOKEN --operator-token OPERATOR_TOKEN
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from random import Random
from typing import Any, Protocol, TextIO

from domain import match as model
from domain.clock import rfc3339
from domain.feed import Ack, AckStatus, FeedKind, FeedMessage, MatchState, to_plain
from domain.match import (
    DEFAULT_MARGIN,
    MARKETS,
    Incident,
    IncidentKind,
    Match,
    Phase,
    Quote,
    QuoteStatus,
    event_definition,
    random_fixture,
    winners,
)

log = logging.getLogger(__name__)

PROVIDER = "match-sim"
_MATCH_STATES = {
    IncidentKind.KICK_OFF: MatchState.FIRST_HALF,
    IncidentKind.HALF_TIME: MatchState.HALF_TIME,
    IncidentKind.SECOND_HALF: MatchState.SECOND_HALF,
    IncidentKind.FULL_TIME: MatchState.ENDED,
}


class FeedSink(Protocol):
    """Where messages go (the gRPC client, a printer, a test's book); one ack per message."""

    async def publish(self, messages: list[FeedMessage]) -> list[Ack]: ...


CreateEvent = Callable[[dict[str, Any]], Awaitable[None]]


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class WallClock:
    """POSIX time and asyncio's sleep."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """How matches are run. Times are wall seconds unless they say match seconds."""

    speed: float = 60.0  # match seconds per wall second
    provider: str = PROVIDER
    margin: float = DEFAULT_MARGIN
    tick_s: float = 1.0  # match seconds between ticks ...
    min_wall_tick_s: float = 0.05  # ... but no more often than this
    reprice_s: float = 10.0  # match seconds between re-pricings (incidents re-price at once)
    alive_every_s: float = 10.0
    pre_match_s: float = 0.0  # between the event's creation and kick-off
    in_play_delay_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError("speed must be positive")


# ---------------------------------------------------------------- one match as messages


class MatchFeed:
    """A match and what its event's book was told: turns the match into messages."""

    def __init__(self, match: Match, event_id: str, starts_at: str, *,
                 provider: str = PROVIDER, in_play_delay_s: float = 5.0,
                 reprice_s: float = 10.0) -> None:
        self.match = match
        self.event_id = event_id
        self.provider = provider
        self.reprice_s = reprice_s
        self.definition = event_definition(match.model, event_id, starts_at,
                                           margin=match.margin, in_play_delay_s=in_play_delay_s)
        # what the book holds: every market opens with the definition's prices
        self._status = {m["market_id"]: QuoteStatus.OFFERED for m in self.definition["markets"]}
        self._prices = {m["market_id"]: {s["selection_id"]: Decimal(s["price"])
                                         for s in m["selections"]}
                        for m in self.definition["markets"]}
        self._seq = 0
        self._unpriced_s = 0.0  # match seconds since the last re-pricing
        self.sent = 0
        self.ended_early = False

    @property
    def finished(self) -> bool:
        """Full time (or ended early), and every market resulted."""
        return (self.match.finished or self.ended_early) and all(
            s is QuoteStatus.RESULTED for s in self._status.values())

    def opening(self, sent_at: float) -> list[FeedMessage]:
        """Before kick-off: stop what is not offered yet (the later goals' markets)."""
        return self._sync(self.match.quotes(), None, sent_at)

    def advance_to(self, time_s: float, sent_at: float) -> list[FeedMessage]:
        """Play the match on to ``time_s`` seconds after kick-off; the messages it makes."""
        seconds = max(0.0, time_s - self.match.time_s)
        incidents = self.match.step(seconds)
        out: list[FeedMessage] = []
        for incident in incidents:
            quoted = model.quotes(self.match.model, incident.after, self.match.margin)
            out += self._sync(quoted, incident, sent_at)
        self._unpriced_s += seconds
        if (incidents or self._unpriced_s >= self.reprice_s) and not self.match.finished:
            self._unpriced_s = 0.0
            out += self._sync(self.match.quotes(), None, sent_at)
        return out

    def alive(self, sent_at: float) -> FeedMessage:
        return self._message(FeedKind.ALIVE, sent_at)

    def end_now(self, sent_at: float) -> list[FeedMessage]:
        """The match is over where it stands (an operator closed the event, or the run is
        stopping): full time, and every market not resulted yet resulted on the score so
        far (a market nobody could win yet, e.g. a later goal, goes to its ``none``)."""
        ended = replace(self.match.situation, phase=Phase.ENDED)
        out = [self._message(FeedKind.MATCH_STATE, sent_at, state=MatchState.ENDED)]
        for market in MARKETS:
            if self._status[market.market_id] is QuoteStatus.RESULTED:
                continue
            found = winners(market, ended)
            if found is not None:
                out.append(self._message(FeedKind.RESULT, sent_at, market_id=market.market_id,
                                         winners=found, result_version=1))
            self._status[market.market_id] = QuoteStatus.RESULTED
        self.ended_early = True
        return out

    # ----------------------------------------------------------- messages

    def _message(self, kind: FeedKind, sent_at: float, **fields: Any) -> FeedMessage:
        self._seq += 1
        self.sent += 1
        return FeedMessage(self.provider, self.event_id, self._seq, kind, sent_at, **fields)

    def _incident_messages(self, incident: Incident | None, sent_at: float
                           ) -> list[FeedMessage]:
        """What the incident says itself: a match state, or the score after a goal."""
        if incident is None:
            return []
        if incident.kind in _MATCH_STATES:
            return [self._message(FeedKind.MATCH_STATE, sent_at,
                                  state=_MATCH_STATES[incident.kind])]
        if incident.kind is IncidentKind.GOAL:
            return [self._message(FeedKind.SCORE, sent_at, score=incident.after.score_text)]
        return []

    def _sync(self, quoted: dict[str, Quote], incident: Incident | None, sent_at: float
              ) -> list[FeedMessage]:
        """Bring the book to ``quoted`` (after ``incident``): the stops, the incident's own
        messages, the results, the prices that moved, and the re-openings (their prices
        before their ``bet_start``)."""
        stops = self._stops(quoted)
        results = [q for q in quoted.values() if q.status is QuoteStatus.RESULTED
                   and self._status[q.market_id] is not QuoteStatus.RESULTED]
        offered = [q for q in quoted.values() if q.status is QuoteStatus.OFFERED]
        out = [self._message(FeedKind.BET_STOP, sent_at, market_ids=ids, cause=cause)
               for cause, ids in stops]
        out += self._incident_messages(incident, sent_at)
        out += [self._message(FeedKind.RESULT, sent_at, market_id=q.market_id,
                              winners=q.winners, result_version=1) for q in results]
        for quote in offered:
            moved = self._moved(quote)
            if moved:
                out.append(self._message(FeedKind.ODDS_CHANGE, sent_at,
                                         market_id=quote.market_id, prices=moved))
        opening = tuple(q.market_id for q in offered
                        if self._status[q.market_id] is not QuoteStatus.OFFERED)
        if opening:
            out.append(self._message(FeedKind.BET_START, sent_at, market_ids=opening))
        for quote in quoted.values():
            self._status[quote.market_id] = quote.status
        return out

    def _stops(self, quoted: dict[str, Quote]) -> list[tuple[str, tuple[str, ...]]]:
        """Markets offered until now and suspended in ``quoted``, grouped by cause."""
        by_cause: dict[str, list[str]] = {}
        for quote in quoted.values():
            if (quote.status is QuoteStatus.SUSPENDED
                    and self._status[quote.market_id] is QuoteStatus.OFFERED):
                by_cause.setdefault(quote.cause, []).append(quote.market_id)
        return [(cause, tuple(ids)) for cause, ids in by_cause.items()]

    def _moved(self, quote: Quote) -> tuple[tuple[str, Decimal], ...]:
        """The prices of ``quote`` the book does not hold yet (and remember them)."""
        held = self._prices[quote.market_id]
        moved = tuple((s, p) for s, p in quote.prices if held[s] != p)
        held.update(moved)
        return moved


# ---------------------------------------------------------------- running matches


@dataclass(frozen=True, slots=True)
class MatchReport:
    event_id: str
    name: str
    score: str
    messages: int
    refused: tuple[Ack, ...] = ()
    error: str = ""


def build_feed(seed: int, index: int, *, config: SimConfig, starts_at: str,
               prefix: str = "sim") -> MatchFeed:
    """Match ``index`` of a run seeded with ``seed``: its teams and its own seed."""
    rng = Random(f"{seed}:{index}")  # str seeds hash with SHA-512: stable across runs
    home, away = random_fixture(rng)
    match = Match(home, away, rng.getrandbits(63), margin=config.margin)
    return MatchFeed(match, f"{prefix}-{seed}-{index + 1}", starts_at,
                     provider=config.provider, in_play_delay_s=config.in_play_delay_s,
                     reprice_s=config.reprice_s)


async def run_match(feed: MatchFeed, sink: FeedSink, create_event: CreateEvent,
                    config: SimConfig, clock: Clock | None = None,
                    stop: asyncio.Event | None = None) -> MatchReport:
    """Create the event, then play the match against the clock until every market is
    resulted, publishing each tick's messages in one call. ``stop`` ends the match where
    it stands (``MatchFeed.end_now``)."""
    clock = clock or WallClock()
    refused: list[Ack] = []

    async def publish(messages: list[FeedMessage]) -> None:
        if messages:
            acks = await sink.publish(messages)
            bad = [a for a in acks if a.status is AckStatus.REFUSED]
            for ack in bad:
                log.warning("%s: message %d refused: %s %s", ack.event_id, ack.seq, ack.code,
                            ack.detail)
            refused.extend(bad)

    await create_event(feed.definition)
    start = clock.now()
    await publish(feed.opening(start))
    kick_off = start + config.pre_match_s
    next_alive = start
    wall_tick = max(config.min_wall_tick_s, config.tick_s / config.speed)
    while True:
        now = clock.now()
        messages = []
        if now >= kick_off:
            messages += feed.advance_to((now - kick_off) * config.speed, now)
        if now >= next_alive:
            messages.append(feed.alive(now))
            next_alive = now + config.alive_every_s
        if stop is not None and stop.is_set() and not feed.finished:
            messages += feed.end_now(now)
        await publish(messages)
        if feed.finished:
            break
        await clock.sleep(max(0.0, min(wall_tick, next_alive - clock.now())))
    return MatchReport(feed.event_id, feed.definition["name"],
                       feed.match.situation.score_text, feed.sent, tuple(refused))


async def run_matches(count: int, seed: int, sink: FeedSink, create_event: CreateEvent,
                      config: SimConfig | None = None, *, clock: Clock | None = None,
                      prefix: str = "sim") -> list[MatchReport]:
    """``count`` matches at once; a match that fails is reported, the others play on."""
    config = config or SimConfig()
    clock = clock or WallClock()
    starts_at = rfc3339(datetime.fromtimestamp(clock.now() + config.pre_match_s, tz=UTC))
    feeds = [build_feed(seed, i, config=config, starts_at=starts_at, prefix=prefix)
             for i in range(count)]

    async def one(feed: MatchFeed) -> MatchReport:
        try:
            return await run_match(feed, sink, create_event, config, clock)
        except Exception as exc:  # one match's failure must not stop the others
            log.exception("match %s failed", feed.event_id)
            return MatchReport(feed.event_id, feed.definition["name"],
                               feed.match.situation.score_text, feed.sent,
                               error=f"{type(exc).__name__}: {exc}")

    return list(await asyncio.gather(*(one(f) for f in feeds)))


# ---------------------------------------------------------------- dry run and CLI


@dataclass
class PrintSink:
    """Prints each message as a JSON line (with its provider) and acks it as applied."""

    out: TextIO = field(default_factory=lambda: sys.stdout)

    async def publish(self, messages: list[FeedMessage]) -> list[Ack]:
        for msg in messages:
            print(json.dumps({"provider": msg.provider, **to_plain(msg)}), file=self.out)
        self.out.flush()
        return [Ack(m.event_id, m.seq, AckStatus.APPLIED) for m in messages]

    async def create_event(self, body: dict[str, Any]) -> None:
        print(json.dumps({"create_event": body}), file=self.out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulations.match_sim",
                                     description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--matches", type=int, default=1, help="matches played at once")
    parser.add_argument("--speed", type=float, default=60.0,
                        help="match seconds per wall second (60: 90 minutes in 90 s)")
    parser.add_argument("--seed", type=int, default=1, help="the run's seed (teams, matches)")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN)
    parser.add_argument("--provider", default=PROVIDER)
    parser.add_argument("--prefix", default="sim", help="event ids: <prefix>-<seed>-<n>")
    parser.add_argument("--pre-match", type=float, default=0.0,
                        help="wall seconds between the events' creation and kick-off")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the events and the messages as JSON lines (the default "
                             "without --target)")
    live = parser.add_argument_group("a running platform (instead of a dry run)")
    live.add_argument("--target", metavar="HOST:PORT",
                      help="the feed ingest's gRPC target (`inplay up` prints it: feed gRPC)")
    live.add_argument("--token", help="a feed token (inplay token create --role feed NAME)")
    live.add_argument("--api", default="http://127.0.0.1:8000",
                      help="the HTTP API that creates the events (default: %(default)s)")
    live.add_argument("--operator-token",
                      help="an operator token for POST /v1/ops/events "
                           "(inplay token create --role operator NAME)")
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.target is None:
        return
    if args.dry_run:
        parser.error("--dry-run and --target exclude each other")
    if not args.token or not args.operator_token:
        parser.error("--target needs --token (feed) and --operator-token (to create events)")


async def _play(args: argparse.Namespace, config: SimConfig) -> list[MatchReport]:
    """Dry run: print. With ``--target``: events through the API, messages over gRPC (the
    clients are imported here, so a dry run needs neither grpc nor httpx)."""
    if args.target is None:
        printer = PrintSink()
        return await run_matches(args.matches, args.seed, printer, printer.create_event,
                                 config, prefix=args.prefix)
    from cluster.api_client import AsyncApiClient
    from cluster.feed_client import FeedClient

    async with FeedClient(args.target, args.token) as feed, AsyncApiClient(args.api) as api:
        async def create_event(body: dict[str, Any]) -> None:
            await api.create_event(args.operator_token, body)

        return await run_matches(args.matches, args.seed, feed, create_event, config,
                                 prefix=args.prefix)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    config = SimConfig(speed=args.speed, provider=args.provider, margin=args.margin,
                       pre_match_s=args.pre_match)
    reports = asyncio.run(_play(args, config))
    for report in reports:
        log.info("%s %s %s: %d messages, %d refused%s", report.event_id, report.name,
                 report.score, report.messages, len(report.refused),
                 f", failed: {report.error}" if report.error else "")
    return 1 if any(r.error or r.refused for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())

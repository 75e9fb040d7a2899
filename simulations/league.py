"""The demo's feed provider: a league of simulated football matches, one after another.

``inplay up --demo`` runs ``python -m simulations.league start`` (a Ray driver that creates the
detached, restartable actor ``demo-league`` and exits), so the platform is fed like it would
be by an outside provider: over the public APIs only (the operator API to create each match's
event, the gRPC feed ingest for everything else). The tokens come from the environment
(``INPLAY_OPERATOR_TOKEN``, ``INPLAY_FEED_TOKEN``), never from the command line.

    python -m simulations.league start --api URL --feed HOST:PORT [--speed 10] [--pre-match 45]
    python -m simulations.league status       # what it is playing, the last results
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cluster.api_client import AsyncApiClient
from cluster.demo import DEMO_DELAY_S, DEMO_PREFIX, DEMO_PROVIDER, demo_event_id, is_demo

log = logging.getLogger(__name__)

ACTOR = "demo-league"


class DemoLeague:
    """Simulated football matches, one after another, through the real feed ingest.

    Each match is an event ``demo-<n>`` created over the operator API with the simulator's
    markets (``domain.match``), open for pre-match bets for ``pre_match_s``, then played by
    ``simulations.match_sim`` at ``speed`` (10: 90 minutes in 9) and published over gRPC
    (``cluster.feed_client``) like any provider: prices, bet stops, score, heartbeats and
    finally the results, which the settlement actors pay. When a match ends (or an operator
    closes its event) the next one is created. A match this actor was playing when it died
    cannot be resumed (the simulation lives in memory): it is abandoned on restart, every
    market void (stakes refunded), as a sportsbook does with an abandoned match.
    """

    PROVIDER = DEMO_PROVIDER

    def __init__(self, base_url: str, operator_token: str, feed_target: str, feed_token: str,
                 speed: float = 10.0, pre_match_s: float = 60.0, seed: int = 2026) -> None:
        self.base_url, self.token = base_url, operator_token
        self.feed_target, self.feed_token = feed_target, feed_token
        self.speed, self.pre_match_s, self.seed = speed, pre_match_s, seed
        self.current: str | None = None
        self.played: list[dict[str, Any]] = []
        self.error = ""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        from cluster.feed_client import FeedClient

        while True:
            try:
                async with AsyncApiClient(self.base_url, timeout_s=30) as api, \
                        FeedClient(self.feed_target, self.feed_token) as feed:
                    await self._abandon_leftovers(api, feed)
                    upcoming = await self._list_next(api, await self._next_number(api),
                                                     time.time() + self.pre_match_s)
                    while True:
                        upcoming = await self._play(api, feed, upcoming)
            except Exception as exc:  # keep the league going across platform restarts
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("demo league: %s", self.error)
                await asyncio.sleep(5)

    def _fixture(self, number: int, kick_off: float) -> Any:
        """Match ``number``: its teams and its own seed come from the league's seed."""
        from random import Random

        from domain.clock import rfc3339
        from domain.match import Match, random_fixture
        from simulations.match_sim import MatchFeed

        rng = Random(f"{self.seed}:{number}")
        home, away = random_fixture(rng)
        match = Match(home, away, rng.getrandbits(63))
        starts = rfc3339(datetime.fromtimestamp(kick_off, tz=UTC))
        sim = MatchFeed(match, demo_event_id(number), starts, provider=self.PROVIDER,
                        in_play_delay_s=DEMO_DELAY_S)
        sim._seq = time.time_ns() // 1000  # above any seq this provider used before a restart
        sim.number = number  # type: ignore[attr-defined]
        return sim

    async def _play(self, api: AsyncApiClient, feed: Any, sim: Any) -> Any:
        """Play ``sim``; the next fixture is listed (open for pre-match bets) meanwhile."""
        from simulations.match_sim import SimConfig, run_match

        async def create(body: dict[str, Any]) -> None:
            await api.create_event(self.token, body)  # the same definition again: no change

        config = SimConfig(speed=self.speed, provider=self.PROVIDER,
                           pre_match_s=self.pre_match_s, in_play_delay_s=DEMO_DELAY_S)
        # the next match kicks off when this one ends (about 95 minutes of match time)
        # plus its pre-match time; it is listed now, so there is always one to bet on
        upcoming = await self._list_next(api, sim.number + 1, time.time() + self.pre_match_s
                                         + 95 * 60 / self.speed + 5 + self.pre_match_s)
        stop = asyncio.Event()
        self.current = sim.event_id
        watcher = asyncio.get_running_loop().create_task(self._watch(api, sim.event_id, stop))
        try:
            report = await run_match(sim, feed, create, config, stop=stop)
        finally:
            watcher.cancel()
        self.played.append({"event_id": sim.event_id, "name": report.name,
                            "score": report.score, "refused": len(report.refused),
                            "ended_early": sim.ended_early})
        del self.played[:-20]
        await asyncio.sleep(5)  # the final whistle on screen before the next kick-off
        return upcoming

    async def _list_next(self, api: AsyncApiClient, number: int, kick_off: float) -> Any:
        """Create the event of match ``number`` (or the first number not taken: a closed
        match drops out of the listing, its id does not) and return its fixture."""
        from cluster.api_client import ApiError

        while True:
            sim = self._fixture(number, kick_off)
            try:
                await api.create_event(self.token, sim.definition)
                return sim
            except ApiError as exc:
                if exc.code != "EVENT_EXISTS":
                    raise
                number += 1

    async def _watch(self, api: AsyncApiClient, event_id: str, stop: asyncio.Event) -> None:
        """Stop the match if an operator closes its event."""
        while True:
            await asyncio.sleep(2)
            with contextlib.suppress(Exception):
                if (await api.get_event(event_id))["status"] == "closed":
                    stop.set()
                    return

    async def _next_number(self, api: AsyncApiClient) -> int:
        numbers = [int(e["event_id"][len(DEMO_PREFIX):]) for e in await api.list_events()
                   if is_demo(e["event_id"])]
        return max(numbers, default=0) + 1

    async def _abandon_leftovers(self, api: AsyncApiClient, feed: Any) -> None:
        """Demo matches left open by an earlier incarnation: ended, every market void."""
        from domain.feed import FeedKind, FeedMessage, MatchState

        for summary in await api.list_events():
            if not is_demo(summary["event_id"]) or summary["status"] == "closed":
                continue
            event = await api.get_event(summary["event_id"])
            seq = time.time_ns() // 1000
            now = time.time()
            messages = [FeedMessage(self.PROVIDER, event["event_id"], seq, FeedKind.MATCH_STATE,
                                    now, state=MatchState.ABANDONED)]
            for i, market in enumerate(event["markets"], start=1):
                if market.get("result_version") is None:
                    messages.append(FeedMessage(
                        self.PROVIDER, event["event_id"], seq + i, FeedKind.RESULT, now,
                        market_id=market["market_id"], void_factor=Decimal(1),
                        result_version=1))
            await feed.publish(messages)
            log.info("demo league: abandoned %s (void)", event["event_id"])

    async def ping(self) -> dict[str, Any]:
        return {"running": not self._task.done(), "current": self.current,
                "played": self.played, "error": self.error}



def start(api: str, feed: str, operator_token: str, feed_token: str, speed: float,
          pre_match_s: float) -> Any:
    """Get or create the detached ``demo-league`` actor (a connected Ray driver)."""
    import ray

    return ray.remote(DemoLeague).options(
        name=ACTOR, namespace="inplay", lifetime="detached", get_if_exists=True, num_cpus=0,
        max_restarts=-1).remote(api, operator_token, feed, feed_token, speed, pre_match_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations.league",
                                     description=__doc__.split("\n\n")[0] if __doc__ else "")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("start", help="start the league on the running platform")
    up.add_argument("--api", required=True, help="the platform's HTTP URL")
    up.add_argument("--feed", required=True, help="the gRPC feed ingest, HOST:PORT")
    up.add_argument("--speed", type=float, default=10.0)
    up.add_argument("--pre-match", type=float, default=45.0)
    sub.add_parser("status", help="what the league is playing")
    args = parser.parse_args(argv)
    import ray

    ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), namespace="inplay",
             log_to_driver=False)
    if args.command == "start":
        tokens = (os.environ.get("INPLAY_OPERATOR_TOKEN"), os.environ.get("INPLAY_FEED_TOKEN"))
        if not all(tokens):
            print("set INPLAY_OPERATOR_TOKEN and INPLAY_FEED_TOKEN", file=sys.stderr)
            return 2
        actor = start(args.api, args.feed, str(tokens[0]), str(tokens[1]), args.speed,
                      args.pre_match)
    else:
        try:
            actor = ray.get_actor(ACTOR, namespace="inplay")
        except ValueError:
            print("no demo league is running", file=sys.stderr)
            return 3
    print(json.dumps(ray.get(actor.ping.remote(), timeout=60), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fresh bets skip the decision lookup, and a retry still gets its original decision.

The saga tells the event actor which bets of a batch had their stake reserved just now (the
wallet's reserve did not replay it); the actor decides those without loading an earlier
decision (one round trip less per batch), and the journal append refuses the batch if one
of them is decided after all. These tests make that happen — a retry after the sweeper, two
replicas racing, an actor restart — and check that each bet keeps its first decision and is
journaled once.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any, cast

import pytest
import ray
import redis

from actors.event_actor import actor_name
from actors.saga import BetSaga, SagaConfig
from actors.sweeper import SagaSweeper
from domain.ledger import LedgerAccount
from storage.journal import read_journal
from storage.keys import EventKeys
from tests.integration import test_saga
from tests.integration.test_saga import World
from tests.support.factories import outcome, record

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_session")]
world = test_saga.world  # the saga tests' fixture: an event, a wallet, a saga


async def _stats(w: World) -> dict[str, Any]:
    handle = await w.registry.get(w.event_id)
    stats: dict[str, Any] = await handle.handle.stats.remote()
    return stats


def _journaled(w: World) -> dict[str, int]:
    """How many journal entries name each bet id (decisions are indexed under it)."""
    client = redis.Redis.from_url(w.url)
    indexed = cast(dict[bytes, bytes], client.hgetall(EventKeys(w.event_id).bets))
    bets = {k.decode(): v for k, v in indexed.items()}
    counts: dict[str, int] = {}
    for _, payload, _ in read_journal(client, w.event_id):
        for bet_id in bets:
            if bet_id.encode() in payload:
                counts[bet_id] = counts.get(bet_id, 0) + 1
    return counts


async def test_a_batch_of_fresh_bets_makes_no_lookup(world: World) -> None:
    acct = await world.player("100")
    before = await _stats(world)
    decided = [record(d) for d in await asyncio.gather(*(
        world.saga.place(world.bet(acct, f"f{i}", "1"), "sport_prematch", world.event_id)
        for i in range(10)))]
    assert all(d["status"] == "accepted" for d in decided)
    after = await _stats(world)
    assert after["lookups"] == before["lookups"]
    assert after["redos"] == before["redos"] == 0
    # a retry is not fresh (its reservation replays): it is looked up, not decided again
    again = record(await world.saga.place(world.bet(acct, "f3", "1"), "sport_prematch",
                                          world.event_id))
    assert again == decided[3]
    assert (await _stats(world))["lookups"] == after["lookups"] + 1
    assert _journaled(world) == {d["bet_id"]: 1 for d in decided}


async def test_a_fresh_bet_decided_already_gets_its_first_decision(world: World) -> None:
    acct = await world.player("100")
    cmd = world.bet(acct, "dup")
    first = record(await world.saga.place(cmd, "sport_prematch", world.event_id))
    assert first["status"] == "accepted"
    seq = (await _stats(world))["seq"]
    handle = await world.registry.get(world.event_id)
    # as if its reservation had been made again (e.g. its replay record expired)
    again = outcome((await handle.place_bets([cmd], [cmd.bet_id]))[0])
    assert again["status"] == "accepted" and again["bet_id"] == first["bet_id"]
    assert again["accepted_at"] == first["accepted_at"]
    stats = await _stats(world)
    assert stats["redos"] == 1 and stats["seq"] == seq  # nothing more was journaled
    assert (await world.wallet.books(acct))[LedgerAccount.STAKES_HELD] == Decimal("10.00")


async def test_a_fresh_bet_the_sweeper_abandoned_stays_abandoned(world: World) -> None:
    acct = await world.player("100")
    cmd = world.bet(acct, "late")
    receipts = await world.wallet.reserve_many(
        [(acct, cmd.bet_id, cmd.stake, "sport_prematch")], bets_for_event=world.event_id)
    assert not receipts[0].replayed
    await asyncio.sleep(0.3)
    assert await SagaSweeper(world.sweeper_config).sweep() == 1  # abandons it for good
    handle = await world.registry.get(world.event_id)
    late = outcome((await handle.place_bets([cmd], [cmd.bet_id]))[0])
    assert late["status"] == "rejected" and late["code"] == "UNAVAILABLE"
    assert (await _stats(world))["redos"] == 1
    balance = await world.wallet.balance(acct)
    assert balance.available == Decimal("100.00") and balance.reserved == Decimal("0.00")


async def test_two_replicas_racing_on_the_same_bets_decide_each_once(world: World) -> None:
    other = BetSaga(world.wallet, world.registry, SagaConfig(resolve_deadline_s=3))
    accounts = [await world.player("1000") for _ in range(4)]
    cmds = [world.bet(a, f"race{i}", "1") for a in accounts for i in range(25)]
    # every bet sent by both replicas at once, in opposite orders, twice over
    rounds = []
    for _ in range(2):
        rounds.append(asyncio.gather(
            *(world.saga.place(c, "sport_prematch", world.event_id) for c in cmds),
            *(other.place(c, "sport_prematch", world.event_id) for c in reversed(cmds))))
    answers = [record(d) for r in await asyncio.gather(*rounds) for d in r]
    by_bet: dict[str, list[dict[str, Any]]] = {}
    for answer in answers:
        by_bet.setdefault(answer["bet_id"], []).append(answer)
    assert len(by_bet) == len(cmds)
    for seen in by_bet.values():
        assert len(seen) == 4 and all(s == seen[0] for s in seen), seen
        assert seen[0]["status"] == "accepted"
    assert _journaled(world) == dict.fromkeys(by_bet, 1)
    for account in accounts:
        books = await world.wallet.books(account)
        assert books[LedgerAccount.STAKES_HELD] == Decimal("25.00")
        assert books[LedgerAccount.RESERVED] == Decimal("0.00")


async def test_after_an_actor_restart_a_fresh_retry_gets_its_first_decision(
        world: World) -> None:
    acct = await world.player("100")
    cmd = world.bet(acct, "restart")
    first = record(await world.saga.place(cmd, "sport_prematch", world.event_id))
    old_pid = (await _stats(world))["pid"]
    ray.kill(ray.get_actor(actor_name(world.event_id), namespace="inplay"), no_restart=False)
    handle = await world.registry.get(world.event_id)
    for _ in range(100):  # the restarted incarnation answers
        try:
            stats = await handle.handle.stats.remote()
            if stats["pid"] != old_pid:
                break
        except ray.exceptions.RayActorError:
            pass
        await asyncio.sleep(0.1)
    again = outcome((await handle.place_bets([cmd], [cmd.bet_id]))[0])
    assert again == first
    assert (await handle.handle.stats.remote())["redos"] == 1
    assert _journaled(world) == {first["bet_id"]: 1}

"""Settlement actors: a small pool of named actors (``settlement:<n>``) that pay out.

Each event belongs to one of them (``partition``). An actor follows the event's journal —
the single source of truth — folding it into ``domain.settlement.EventSettlement``: the
accepted bets by market, the result in force, the void windows. A result, a rollback, a void
window or its rollback is a *step*: for every bet the step may touch, the actor computes what
the bet should have received in all now (``due``), and moves the difference through the
wallet's ``settle`` script, keyed by (bet id, step): replaying any step never pays twice.

Per batch of bets, ONE round trip writes the bets' settlement records (the intent) and runs
their wallet movements (the execution); then the cursor records the progress. After a crash
(of this actor or of Redis) the follower reads the journal again and resumes at the cursor:
bets whose record already holds the step have their movement re-sent (a replay), the others
are computed for the first time. When a result is paid in full, the actor reports it to the
event actor (``MarketSettled``: journaled, the market is ``settled``, its exposure released);
when a void window changes which bets are in the book, it reports the liability released.

Work is found two ways: the API kicks the actor after journaling a step, and every
``sweep_interval_s`` the actor compares each of its events' work marker (written by the
journal append) with its cursor, so a lost kick or a restart delays a payout, never loses it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from actors.event_actor import NAMESPACE, ActorConfig
from actors.registry import EventRegistry
from domain.errors import DomainError
from domain.events import LiabilityReleased, MarketSettled
from domain.money import from_cents
from domain.settlement import (
    NOT_SETTLED,
    BetRef,
    BetSettlement,
    Due,
    EventSettlement,
    MarketResult,
    Step,
    StepKind,
    Window,
    settlement_digest,
)
from storage.catalog import Catalog
from storage.journal import GENESIS, follow_journal
from storage.redis_client import async_client
from storage.reviews import ReviewKind, ReviewQueue
from storage.settlement import Cursor, MarketTotals, SettlementStore
from storage.wallet import Movement, Receipt, Wallet, WalletConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SettlementConfig:
    """What the settlement actors need."""

    actor: ActorConfig
    wallet: WalletConfig = field(default_factory=WalletConfig)
    pool_size: int = 2
    batch: int = 10_000
    sweep_interval_s: float = 2.0


def settlement_name(index: int) -> str:
    return f"settlement:{index}"


def partition(event_id: str, pool_size: int) -> int:
    """The settlement actor of an event (stable across processes, unlike ``hash``)."""
    return zlib.crc32(event_id.encode()) % pool_size


# the journal entries settlement folds, by their type tag (the codec writes it first:
# b'{"t":"<type>",...'); everything else is skipped without decoding it
_FOLDED = frozenset((b"BetAccepted", b"MarketResulted", b"SettlementRolledBack",
                     b"VoidWindowOpened", b"VoidWindowRolledBack", b"BetCashedOut"))
_TAG_AT = len(b'{"t":"')


def _hundredths(text: str) -> int:
    """A positive decimal string with at most two places → hundredths (``"2.5"`` → 250)."""
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def fold_entry(fold: EventSettlement, seq: int, payload: bytes) -> Step | None:
    """Fold one journal entry; the settlement step it calls for, if any."""
    if payload[_TAG_AT:payload.find(b'"', _TAG_AT)] not in _FOLDED:
        return None
    data = orjson.loads(payload)
    kind, e = data["t"], data["e"]
    if kind == "BetAccepted":
        t = e["terms"]
        fold.accept(BetRef(t["bet_id"], t["account_id"], t["market_id"], t["selection_id"],
                           _hundredths(t["stake"]), _hundredths(e["price"]), e["at"]))
        return None
    if kind == "MarketResulted":
        dead_heat = e["dead_heat_factor"]
        result = MarketResult(tuple(e["winners"]), Decimal(e["void_factor"]),
                              None if dead_heat is None else Decimal(dead_heat), e["version"])
        return fold.resulted(seq, e["market_id"], result)
    if kind == "SettlementRolledBack":
        return fold.rolled_back(seq, e["market_id"], e["version"])
    if kind == "BetCashedOut":
        return fold.cashed_out(seq, e["bet"]["terms"]["bet_id"], _hundredths(e["amount"]))
    if kind == "VoidWindowOpened":
        return fold.window_opened(seq, Window(e["window_id"], e["start"], e["end"],
                                              e["market_id"]), e["reason"])
    return fold.window_rolled_back(seq, e["window_id"])


@dataclass
class _Following:
    """One event's journal as far as this actor has folded it (kept warm between steps)."""

    fold: EventSettlement = field(default_factory=EventSettlement)
    seq: int = 0
    digest: str = GENESIS


class SettlementActor:
    """One actor of the pool; see the module docstring."""

    def __init__(self, index: int, config: SettlementConfig) -> None:
        self.index, self.config = index, config
        client = async_client(config.actor.redis_url, socket_timeout=30)
        self.client = client
        self.store = SettlementStore(client)
        self.wallet = Wallet(client, config.wallet)
        self.catalog = Catalog(client)
        self.reviews = ReviewQueue(client)
        self.events = EventRegistry(config.actor)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._following: dict[str, _Following] = {}
        self._again: set[str] = set()
        self.steps_done = 0
        self.bets_settled = 0
        self.last_error = ""
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop())

    # ------------------------------------------------------------ finding work

    async def kick(self, event_id: str) -> None:
        """There may be settlement work on ``event_id``: follow its journal now."""
        running = self._running.get(event_id)
        if running is not None and not running.done():
            self._again.add(event_id)
            return
        task = asyncio.get_running_loop().create_task(self._follow_until_idle(event_id))
        self._running[event_id] = task

    async def _follow_until_idle(self, event_id: str) -> None:
        while True:
            self._again.discard(event_id)
            try:
                await self.follow(event_id)
                self.last_error = ""
            except Exception as exc:  # an outage: the sweep tries again
                self.last_error = f"{event_id}: {type(exc).__name__}: {exc}"
                log.warning("settlement of %s stopped: %s", event_id, exc)
                return
            if event_id not in self._again:
                return

    async def _sweep_loop(self) -> None:
        while True:
            try:
                for summary in await self.catalog.list(include_closed=True):
                    event_id = summary.event_id
                    if partition(event_id, self.config.pool_size) != self.index:
                        continue
                    if await self._behind(event_id):
                        await self.kick(event_id)
            except Exception as exc:  # keep sweeping through outages
                self.last_error = f"sweep: {type(exc).__name__}: {exc}"
            await asyncio.sleep(self.config.sweep_interval_s)

    async def _behind(self, event_id: str) -> bool:
        """Work not done yet, or entries not folded yet (this keeps the fold warm)."""
        if await self.store.work(event_id) > (await self.store.cursor(event_id)).seq:
            return True
        following = self._following.get(event_id)
        return following is None or await self.store.head(event_id) > following.seq

    # ------------------------------------------------------------ following a journal

    async def follow(self, event_id: str) -> Cursor:
        """Fold the event's journal up to its head and settle every step beyond the cursor.

        The fold stays in memory between calls, so each call reads only the entries since
        the last one: the sweep keeps it warm while bets come in, and a final result starts
        paying at once instead of reading a whole match's journal first (after a restart,
        the first call reads it from the start).
        """
        cursor = await self.store.cursor(event_id)
        following = self._following.get(event_id)
        if following is None or following.seq > cursor.seq \
                or following.seq > await self.store.head(event_id):
            # new here, or the cursor went back (reset by hand), or the journal is not the
            # one folded: start from the first entry
            following = self._following[event_id] = _Following()
        last = cursor.seq
        try:
            async for chunk in follow_journal(self.client, event_id, following.seq,
                                              following.digest):
                for seq, payload, digest in chunk:
                    step = fold_entry(following.fold, seq, payload)
                    if seq > cursor.seq and step is not None:
                        skip = cursor.done if cursor.step == seq else 0
                        await self._run_step(event_id, following.fold, step, last, skip)
                        last = seq
                        await self.store.save_cursor(event_id, Cursor(last))
                    following.seq, following.digest = seq, digest
        except BaseException:
            # a step that did not finish must be folded again from the start next time
            self._following.pop(event_id, None)
            raise
        if following.seq > last:
            last = following.seq
            await self.store.save_cursor(event_id, Cursor(last))
        return Cursor(last)

    async def _run_step(self, event_id: str, fold: EventSettlement, step: Step, before: int,
                        skip: int) -> None:
        """Move every touched bet to what it is due, batch by batch, resumable."""
        dues = {bet.bet_id: fold.due(bet) for bet in step.bets}
        for start in range(skip, len(step.bets), self.config.batch):
            batch = step.bets[start:start + self.config.batch]
            await self._settle_batch(event_id, step, batch, dues, f"{step.seq}:{start}")
            await self.store.save_cursor(event_id, Cursor(before, step.seq, start + len(batch)))
        # totals first: once the event actor shows the market settled, the report that
        # pairs its status with these totals must already count every bet settled
        await self._save_totals(event_id, fold, step, dues)
        await self._report(event_id, fold, step, dues)
        self.steps_done += 1

    async def _settle_batch(self, event_id: str, step: Step, batch: Iterable[BetRef],
                            dues: dict[str, Due], name: str) -> None:
        bets = list(batch)
        current = await self.store.records(event_id, [b.bet_id for b in bets])
        records: dict[str, BetSettlement] = {}
        moves: list[Movement] = []
        now_ms = int(time.time() * 1000)
        ref = f"{event_id}:{step.label}"
        for bet in bets:
            moved, record = current.get(bet.bet_id, NOT_SETTLED).step(step, dues[bet.bet_id],
                                                                      now_ms)
            if record is not None:
                records[bet.bet_id] = record
            if moved:
                moves.append(Movement(bet.account_id, f"stl:{bet.bet_id}:{step.seq}", moved))
        group = f"stl:{event_id}:{name}"
        receipts = await self.wallet.settle_many(
            moves, group=group, ref=ref, before=self.store.record_commands(event_id, records))
        await self._after_moves(group, moves, receipts)
        self.bets_settled += len(bets)

    async def _after_moves(self, group: str, moves: list[Movement],
                           receipts: list[Receipt | DomainError]) -> None:
        """Operators hear of what the wallet could not do plainly (receipts come one per
        account, in order of the accounts' first movement)."""
        accounts = list(dict.fromkeys(m.account_id for m in moves))
        for account_id, receipt in zip(accounts, receipts, strict=True):
            if isinstance(receipt, DomainError):
                # a closed or unknown account cannot be paid here: an operator must see it
                log.error("settlement %s of %s refused: %s", group, account_id, receipt)
                owed = sum(m.cents for m in moves if m.account_id == account_id)
                await self.reviews.add(ReviewKind.PAYMENT, account_id, group,
                                       amount=f"{from_cents(owed)}")
            elif receipt.detail and receipt.detail.get("debt", "0") != "0" and \
                    not receipt.replayed:
                # the player had spent what a correction takes back: the rest is their debt
                await self.reviews.add(ReviewKind.DEBT, account_id, group,
                                       amount=f"{from_cents(int(receipt.detail['debt']))}")

    # ------------------------------------------------------------ reporting

    async def _report(self, event_id: str, fold: EventSettlement, step: Step,
                      dues: dict[str, Due]) -> None:
        client = await self.events.get(event_id)
        if step.kind is StepKind.RESULT and step.market_id is not None:
            outcomes = [(b.bet_id, dues[b.bet_id]) for b in step.bets]
            await client.settled(MarketSettled(
                step.market_id, step.version, len(outcomes),
                from_cents(sum(b.stake_cents for b in step.bets)),
                from_cents(sum(d.payout_cents for _, d in outcomes)),
                settlement_digest((i, d.status, d.payout_cents) for i, d in outcomes),
                time.time()))
        elif step.kind in (StepKind.WINDOW, StepKind.WINDOW_ROLLBACK):
            for released in self._released(fold, step):
                await client.release(released)

    @staticmethod
    def _released(fold: EventSettlement, step: Step) -> list[LiabilityReleased]:
        """The liability the window's bets take out of (or bring back to) their markets:
        only bets no other window in force voids."""
        sign = -1 if step.kind is StepKind.WINDOW else 1
        stakes: dict[str, int] = defaultdict(int)
        payouts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for bet in step.bets:
            if fold.voided_by(bet, excluding=step.window_id) is not None:
                continue
            if bet.bet_id in fold.cashed:  # it left the book when it was cashed out
                continue
            stakes[bet.market_id] += sign * bet.stake_cents
            payouts[bet.market_id][bet.selection_id] += sign * bet.potential_payout_cents
        cause = step.window_id + (":rollback" if sign > 0 else "")
        return [LiabilityReleased(m, f"{cause}@{step.seq}", from_cents(cents),
                                  tuple((s, from_cents(p)) for s, p in sorted(payouts[m].items())),
                                  time.time()) for m, cents in sorted(stakes.items())]

    async def _save_totals(self, event_id: str, fold: EventSettlement, step: Step,
                           known: dict[str, Due]) -> None:
        markets = [step.market_id] if step.market_id is not None else list(fold.bets)
        for market_id in markets:
            bets = fold.bets.get(market_id, [])
            dues = [known.get(b.bet_id) or fold.due(b) for b in bets]
            result = fold.results.get(market_id)
            previous = (await self.store.totals(event_id)).get(market_id)
            versions = list(previous.versions) if previous else []
            if step.kind is StepKind.RESULT and step.market_id == market_id \
                    and step.version not in versions:  # a replayed step adds it once
                versions.append(step.version)
            await self.store.save_totals(event_id, MarketTotals(
                market_id, status="settled" if result is not None else "unsettled",
                result_version=None if result is None else result.result_version,
                settled_version=None if result is None else result.result_version,
                bets=len(bets), settled=sum(d.status is not None for d in dues),
                stakes_cents=sum(b.stake_cents for b in bets),
                returns_cents=sum(d.payout_cents for d in dues), versions=versions))

    # ------------------------------------------------------------ for operators and tests

    async def progress(self, event_id: str) -> dict[str, Any]:
        cursor = await self.store.cursor(event_id)
        return {"event_id": event_id, "cursor": cursor.seq, "step": cursor.step,
                "done": cursor.done, "work": await self.store.work(event_id)}

    async def stats(self) -> dict[str, Any]:
        return {"index": self.index, "steps": self.steps_done, "bets": self.bets_settled,
                "running": sorted(e for e, t in self._running.items() if not t.done()),
                "last_error": self.last_error}

    async def ping(self) -> bool:
        return not self._sweeper.done()


class SettlementClient:
    """How the API reaches the settlement actors: a kick after it journaled a step, and
    settlement's totals (read from Redis; no actor call needed)."""

    def __init__(self, pool_size: int, store: SettlementStore) -> None:
        self.pool_size, self.store = pool_size, store
        self._handles: dict[int, Any] = {}

    async def kick(self, event_id: str) -> None:
        """Best effort: a kick that does not land is made up by the actor's sweep."""
        index = partition(event_id, self.pool_size)
        try:
            if index not in self._handles:
                self._handles[index] = await asyncio.to_thread(_lookup, settlement_name(index))
            await self._handles[index].kick.remote(event_id)
        except Exception as exc:
            self._handles.pop(index, None)
            log.warning("settlement:%d not reached for %s (%s); its sweep will find it",
                        index, event_id, exc)

    async def totals(self, event_id: str) -> dict[str, MarketTotals]:
        return await self.store.totals(event_id)


def _lookup(name: str) -> Any:
    import ray

    return ray.get_actor(name, namespace=NAMESPACE)


def start_settlement(config: SettlementConfig) -> list[Any]:
    """The pool's detached actors (get or create)."""
    import ray

    cls = ray.remote(SettlementActor)
    return [cls.options(name=settlement_name(i), namespace=NAMESPACE, lifetime="detached",
                        get_if_exists=True, max_restarts=-1, num_cpus=0).remote(i, config)
            for i in range(config.pool_size)]


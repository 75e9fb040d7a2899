"""The bet saga: reserve funds → the event actor decides and journals → commit or release.

It is the client side of the event actor's bet protocol, so it lives with the actors and runs
wherever bets are placed or finished: in every API replica, and in the saga sweeper. Bets
for one event are micro-batched (a short window, a size cap) so that one batch costs a
handful of round trips whatever its size:

1. one pipeline: for each bet, one atomic wallet script takes a token from the account's rate
   limit, checks every player-protection rule, reserves the stake and records the bet's
   event (``{acct:<id>}:betref``) and time (the account's bet list); plus the bets' entries
   in the recovery index;
2. one actor call: the event actor validates in order and group-commits the decisions;
3. one pipeline: commit the accepted, release the rejected (pending bets stay reserved).
   Accepted bets are answered before it (their decision is journaled; the commit is
   bookkeeping the sweeper finishes if the replica dies), rejected ones after it (their
   stake is available again when the client hears of the refusal).

Bets queued together (``submit``: a bet slip's bets on one event) leave in the same batch.

Every step is idempotent by bet id (derived from the account and the Idempotency-Key), so a
retry re-runs the same steps harmlessly. If the actor call fails, the saga asks the actor to
``resolve`` the bets (their decision, or abandon them for good) until a deadline; if even that
fails the client is told the outcome is unknown and the sweeper finishes the saga later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import ray.exceptions as rx

from actors.registry import EventClient
from domain import errors
from domain.bets import BetDecision, PlaceBet, ReservationAction, reservation_action
from domain.codec import decode
from domain.errors import DomainError, Overloaded
from domain.events import BetAbandoned, BetAccepted, BetHeld, BetRejected
from storage.wallet import Wallet

log = logging.getLogger(__name__)

# an actor call that may or may not have run: the bet's outcome must be resolved
RAY_UNAVAILABLE: tuple[type[BaseException], ...] = (
    errors.Unavailable, rx.RayActorError, rx.ActorUnavailableError, rx.GetTimeoutError,
)


class EventClients(Protocol):
    """Finds event actors (``actors.registry.EventRegistry``)."""

    async def get(self, event_id: str) -> EventClient: ...

    def evict(self, event_id: str) -> None: ...


@dataclass
class _Pending:
    cmd: PlaceBet
    product: str
    future: asyncio.Future[BetDecision]
    queued_at: float = 0.0  # the event loop's clock
    fresh: bool = False  # its reservation was made now (not a replay): never decided before


@dataclass
class SagaConfig:
    window_s: float = 0.002
    batch_max: int = 256
    max_pending: int = 4096
    # a bet that waited this long for its batch is refused OVERLOADED (503, Retry-After)
    # instead of joining one: under sustained overload the queue holds this much time, not
    # more, and a bettor hears "busy" rather than being accepted long after the price they
    # saw. Not lower: at 250 ms, CPU stalls on a busy 2-core machine shed ~0.7% of bets at
    # half the capacity (measured), and a 503 costs a bettor more than a slow acceptance.
    max_queue_s: float = 1.0
    resolve_deadline_s: float = 5.0
    # batches of one event in flight at once from one replica; while they are all busy, new
    # bets accumulate and leave together when one finishes (self-clocking group commit:
    # small batches when quiet, big ones under load, no fixed wait added)
    max_batches_in_flight: int = 2


@dataclass
class _EventBatcher:
    event_id: str
    saga: BetSaga
    buffer: list[_Pending] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    in_flight: int = 0
    batches: int = 0

    def submit(self, cmds: Sequence[PlaceBet], product: str, waited_s: float = 0.0
               ) -> list[asyncio.Future[BetDecision]]:
        """Queue ``cmds`` together: they leave in one batch (when there are at most
        ``batch_max`` of them), whatever else is waiting; Overloaded refuses them all.
        ``waited_s``: how long the request had been inside the platform already (from the
        ingress's arrival stamp): it counts against ``max_queue_s`` too."""
        config = self.saga.config
        if self.in_flight + len(self.buffer) + len(cmds) > config.max_pending:
            raise Overloaded(
                f"event {self.event_id} has {config.max_pending} bets waiting",
                retry_after_s=1,
            )
        if waited_s > config.max_queue_s:
            self.saga.shed += len(cmds)
            raise Overloaded(
                f"the platform is busy: the bet waited {waited_s:.1f} s to reach the book's "
                "queue; nothing was placed", retry_after_s=1)
        loop = asyncio.get_running_loop()
        if len(self.buffer) + len(cmds) > config.batch_max:
            self._flush()  # what waits leaves first, so that these stay together
        now = loop.time() - max(0.0, waited_s)
        futures: list[asyncio.Future[BetDecision]] = []
        for cmd in cmds:
            future: asyncio.Future[BetDecision] = loop.create_future()
            self.buffer.append(_Pending(cmd, product, future, now))
            futures.append(future)
        while len(self.buffer) >= config.batch_max:
            self._flush()
        if self.buffer and self.timer is None and self.batches < config.max_batches_in_flight:
            # leave at the end of this loop tick (with whatever else arrived in it), or after
            # the window when the window is set; otherwise a finishing batch takes these
            self.timer = loop.call_later(config.window_s, self._flush)
        return futures

    def _flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._shed()
        batch = self.buffer[: self.saga.config.batch_max]
        self.buffer = self.buffer[len(batch):]
        if batch:
            self.in_flight += len(batch)
            self.batches += 1
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self.saga.tasks.add(task)
            task.add_done_callback(self.saga.tasks.discard)

    def _shed(self) -> None:
        """Refuse the bets that waited longer than ``max_queue_s`` (they are the oldest)."""
        limit = asyncio.get_running_loop().time() - self.saga.config.max_queue_s
        stale = 0
        while stale < len(self.buffer) and self.buffer[stale].queued_at < limit:
            stale += 1
        if not stale:
            return
        for item in self.buffer[:stale]:
            if not item.future.done():
                item.future.set_exception(Overloaded(
                    f"event {self.event_id} is busy: the bet waited more than "
                    f"{self.saga.config.max_queue_s:g} s to be taken; nothing was placed",
                    retry_after_s=1))
        del self.buffer[:stale]
        self.saga.shed += stale

    async def _run(self, batch: list[_Pending]) -> None:
        try:
            await self.saga.run_batch(self.event_id, batch)
        except DomainError as exc:  # e.g. an unknown event
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
        except Exception as exc:  # a bug or an outage: never leave a client hanging
            log.exception("bet batch for %s failed", self.event_id)
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(errors.Unavailable(
                        f"bet processing failed ({type(exc).__name__}); retry with the "
                        "same Idempotency-Key"))
        finally:
            self.in_flight -= len(batch)
            self.batches -= 1
            if self.buffer and self.timer is None:
                self._flush()


class BetSaga:
    """Places bets for the API replicas of one process; see the module docstring."""

    def __init__(self, wallet: Wallet, handles: EventClients,
                 config: SagaConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.wallet = wallet
        self.handles = handles
        self.config = config or SagaConfig()
        self.clock = clock
        self.tasks: set[asyncio.Task[Any]] = set()
        self._batchers: dict[str, _EventBatcher] = {}
        self.shed = 0  # bets refused for having waited too long

    async def place(self, cmd: PlaceBet, product: str, event_id: str) -> BetDecision:
        """The bet's decision: accepted, held (in-play delay), rejected, or abandoned.

        Raises the bet's structural refusal (unknown market, reused key, ...), a WalletError
        (refused before the book saw it), Overloaded, or Unavailable when the outcome could
        not be established in time.
        """
        return await self.submit([cmd], product, event_id)[0]

    def submit(self, cmds: Sequence[PlaceBet], product: str, event_id: str,
               waited_s: float = 0.0) -> list[asyncio.Future[BetDecision]]:
        """Queue bets of one event without waiting: each future gets what ``place`` returns
        or raises for its bet. The bets leave in the same batch (one wallet pipeline, one
        actor call) when there are at most ``batch_max`` of them; a bet slip relies on it.
        Raises Overloaded (for all of them) when the event has too many bets waiting, or
        when the request has waited longer than ``max_queue_s`` already (``waited_s``)."""
        batcher = self._batchers.get(event_id)
        if batcher is None:
            batcher = self._batchers[event_id] = _EventBatcher(event_id, self)
        return batcher.submit(cmds, product, waited_s)

    # ------------------------------------------------------------ one batch

    async def run_batch(self, event_id: str, batch: list[_Pending]) -> None:
        handle = await self.handles.get(event_id)
        reserved = await self._reserve(event_id, batch)
        if not reserved:
            return
        results = await self._decide(event_id, handle, reserved)
        if results is None:
            return
        await self._settle_reservations(event_id, reserved, results)

    async def _reserve(self, event_id: str, batch: list[_Pending]) -> list[_Pending]:
        if not batch:
            return []
        items = [(p.cmd.account_id, p.cmd.bet_id, p.cmd.stake, p.product) for p in batch]
        # one bet's refusal (IDEMPOTENCY_KEY_REUSED included) is its own, never the others'
        receipts = await self.wallet.reserve_many(items, bets_for_event=event_id)
        reserved = []
        for item, receipt in zip(batch, receipts, strict=True):
            if isinstance(receipt, DomainError):
                item.future.set_exception(receipt)
            else:
                item.fresh = not receipt.replayed
                reserved.append(item)
        return reserved

    async def _decide(self, event_id: str, handle: EventClient, batch: list[_Pending]
                      ) -> list[BetDecision | DomainError] | None:
        cmds = [p.cmd for p in batch]
        try:
            # fresh bets: the actor need not look up an earlier decision (its journal
            # append refuses a bet decided already, and the actor then decides again)
            results = await handle.place_bets(cmds, [p.cmd.bet_id for p in batch if p.fresh])
            return [r if isinstance(r, DomainError) else _decision(r) for r in results]
        except RAY_UNAVAILABLE as exc:
            log.warning("event %s: placing failed (%s); resolving", event_id, exc)
            self.handles.evict(event_id)
        resolved = await self.resolve_with_deadline(
            event_id, [(c.bet_id, c.account_id) for c in cmds])
        if resolved is None:
            for item in batch:
                item.future.set_exception(errors.Unavailable(
                    "the bet's outcome is not known yet; retry with the same Idempotency-Key"))
            return None
        return list(resolved)

    async def resolve_with_deadline(self, event_id: str, items: list[tuple[str, str]]
                                    ) -> list[BetDecision] | None:
        """Ask the (possibly restarting) actor for these bets' decisions, until a deadline."""
        deadline = time.monotonic() + self.config.resolve_deadline_s
        delay = 0.05
        while time.monotonic() < deadline:
            try:
                handle = await self.handles.get(event_id)
                return [_decision(r) for r in await handle.resolve(items)]
            except RAY_UNAVAILABLE:
                self.handles.evict(event_id)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
        return None

    async def _settle_reservations(self, event_id: str, batch: list[_Pending],
                                   outcomes: list[BetDecision | DomainError]) -> None:
        actions: list[tuple[str, str, str]] = []
        released: list[tuple[_Pending, BetDecision | DomainError]] = []
        held: list[BetHeld] = []
        for item, outcome in zip(batch, outcomes, strict=True):
            action = reservation_action(outcome)
            if action is not None:
                actions.append((item.cmd.account_id, item.cmd.bet_id, action.value))
            if isinstance(outcome, BetHeld):
                held.append(outcome)
            if action is ReservationAction.RELEASE:
                released.append((item, outcome))
            else:
                # accepted (or held) and journaled: that is the bet's outcome, whatever happens
                # to the commit below (the sweeper finishes it if this replica dies first), so
                # the client need not wait for it
                _answer(item, outcome)
        if actions:
            await self._resolve_reservations(actions)
        # a refused stake is answered once it is available again: a client retrying at the
        # new price right away must not be refused for want of its own money
        for item, outcome in released:
            _answer(item, outcome)
        if held:
            self._follow_up(event_id, [(h.terms.bet_id, h.terms.account_id, h.accept_after)
                                       for h in held])

    def _follow_up(self, event_id: str, held: list[tuple[str, str, float]]) -> None:
        """Commit or release held bets soon after their delay (the sweeper is the backstop)."""

        async def later() -> None:
            await asyncio.sleep(max(0.0, max(h[2] for h in held) - self.clock()) + 0.05)
            try:
                await self.finish(event_id, [(b, a) for b, a, _ in held])
            except Exception:
                log.exception("follow-up of held bets on %s failed", event_id)

        task = asyncio.get_running_loop().create_task(later())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _resolve_reservations(self, actions: list[tuple[str, str, str]]) -> None:
        for receipt in await self.wallet.resolve_many(actions):
            if isinstance(receipt, DomainError) and receipt.code != "UNKNOWN_OPERATION":
                log.error("reservation could not be resolved: %s", receipt)

    async def finish(self, event_id: str, items: list[tuple[str, str]]) -> list[BetDecision]:
        """Resolve bets and their reservations (the sweeper's and follow-ups' entry point)."""
        decisions = await self.resolve_with_deadline(event_id, items)
        if decisions is None:
            return []
        actions = [(account_id, bet_id, action.value)
                   for (bet_id, account_id), decision in zip(items, decisions, strict=True)
                   if (action := reservation_action(decision)) is not None]
        if actions:
            await self._resolve_reservations(actions)
        return decisions


def _decision(payload: bytes) -> BetDecision:
    decision = decode(payload)
    if not isinstance(decision, BetAccepted | BetHeld | BetRejected | BetAbandoned):
        raise TypeError(f"not a bet decision: {type(decision).__name__}")
    return decision


def _answer(item: _Pending, outcome: BetDecision | DomainError) -> None:
    if item.future.done():
        return
    if isinstance(outcome, DomainError):
        item.future.set_exception(outcome)
    else:
        item.future.set_result(outcome)

"""Every Redis key inplay uses, in one place (routes and services never spell a key).

Keys carry hash tags so that everything one script touches lives in one slot and Redis
Cluster works unchanged: ``{acct:<id>}`` for an account's wallet, ledger and records,
``{ev:<id>}`` for an event's journal and bet index. A few global indexes have slots of their
own and are only ever written with idempotent commands.

Account ``X`` (slot ``{acct:X}``):

- ``acct``         hash: status, kyc, jur, excl_until (ms), username, role, ...
- ``bal``          hash: ``player:*`` / ``house:*`` balances in cents, ``seq``
- ``ledger``       stream: one entry per operation (seq, op, kind, ts, postings)
- ``limits``       hash: ``<limit>``, ``<limit>:next``, ``<limit>:next_at``, ``ver``
- ``deposits``     zset: deposits in the rolling windows (score = ms)
- ``loss``         zset: stakes (+) and returns (−) in the loss window
- ``reservations`` hash: bet id → ``cents|product|created_ms``
- ``reviews``      hash: op id → held deposit/withdrawal awaiting a decision
- ``op:<op>``      string: remembered outcome of an operation (idempotency)
- ``resolved:<op>`` / ``decided:<op>``: how a reservation / a held operation was resolved
- ``rl``           hash: the rate-limit token bucket
- ``betref``       hash: bet id → event id; ``bets``: zset of bet ids by placement time
- ``kyc``          stream: every KYC decision with its reason; ``kyc_decided:<id>``
- ``media_tier``   string: the fastest video tier the account may watch

Event ``E`` (slot ``{ev:E}``): ``journal`` (stream), ``head``, ``epoch``, ``snap``, ``bets``
(hash: bet id → the journal payload of its latest decision); and settlement's: ``stl``
(hash: bet id → what it was paid, with its history), ``stl:cursor`` (how far settlement
got), ``stl:summary`` (hash: market id → totals), ``stl:work`` (the journal seq of the last
entry settlement must act on, written by the journal append).

Feed provider ``P`` (slot ``{feed:P}``): ``events`` (set: the events it has sent messages
about; its provider-wide heartbeat speaks for them, also after its adapter restarts).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# global indexes (each a slot of its own)
RESERVATION_INDEX = "wallet:reservations"
CATALOG = "inplay:events"
REVIEW_QUEUE = "inplay:reviews"
# revoked bearer tokens: zset token id → when it can be forgotten (s); hash subject → revoked
# at (s: that subject's tokens issued then or before are refused)
REVOKED_TOKENS = "inplay:revoked:tokens"
REVOKED_SUBJECTS = "inplay:revoked:subjects"


def login_name_key(username: str) -> str:
    """The login throttle of an account name (whether or not such an account exists)."""
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"login:name:{digest}"


def login_address_key(address: str) -> str:
    """The login throttle of a client address."""
    return f"login:addr:{address}"


def acct_key(account_id: str, suffix: str) -> str:
    """A key of account ``account_id``'s slot."""
    return f"{{acct:{account_id}}}:{suffix}"


def betref_key(account_id: str) -> str:
    """The account's bet id → event id hash (written by the reserve script with the stake)."""
    return acct_key(account_id, "betref")


def bets_key(account_id: str) -> str:
    """The account's bet ids scored by placement time (written by the reserve script)."""
    return acct_key(account_id, "bets")


def feed_events_key(provider: str) -> str:
    """The events feed provider ``provider`` has sent messages about (a set)."""
    return f"{{feed:{provider}}}:events"


def username_key(username: str) -> str:
    """``username:<name>`` → account id (SET NX makes names unique)."""
    return f"username:{username.lower()}"


def acct_pattern(suffix: str) -> str:
    """A SCAN pattern matching key ``suffix`` of every account."""
    return f"{{acct:*}}:{suffix}"


def account_of(key: str, suffix: str) -> str:
    """The account id in a key made by ``acct_key(account_id, suffix)``."""
    return key[len("{acct:"):-len("}:" + suffix)]


@dataclass(frozen=True)
class EventKeys:
    """The keys of one event's slot."""

    event_id: str

    def _key(self, suffix: str) -> str:
        return f"{{ev:{self.event_id}}}:{suffix}"

    @property
    def journal(self) -> str:
        return self._key("journal")

    @property
    def head(self) -> str:
        return self._key("head")

    @property
    def epoch(self) -> str:
        return self._key("epoch")

    @property
    def snapshot(self) -> str:
        return self._key("snap")

    @property
    def bets(self) -> str:
        return self._key("bets")

    @property
    def settlements(self) -> str:
        return self._key("stl")

    @property
    def settle_cursor(self) -> str:
        return self._key("stl:cursor")

    @property
    def settle_summary(self) -> str:
        return self._key("stl:summary")

    @property
    def settle_work(self) -> str:
        return self._key("stl:work")

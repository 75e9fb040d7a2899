"""A small typed client of the inplay HTTP API (``docs/API.md``), sync and async.

Used by the demo seeding, the benchmarks and the tests. Each call says which statuses it
expects; any other answer raises ``ApiError`` carrying the status and, for RFC 9457
problem+json answers, the stable ``code`` (and the whole problem as ``problem``).

    with ApiClient("http://127.0.0.1:8000") as api:
        session = api.login("demo1", password)
        bet = api.place_bet(session["token"], "demo-match", "mw", "home", "10.00", "2.50",
                            odds_change="any")

``AsyncApiClient`` has the same methods, awaited. Both are thin: one ``Call`` describes each
request, and the two transports only send it.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, NotRequired, Self, TypedDict, cast

import httpx

OddsChange = Literal["none", "higher", "any"]
EventStatus = Literal["in_play", "suspended", "scheduled", "closed"]


class Session(TypedDict):
    token: str
    expires_at: str
    account_id: str
    role: str


class Registered(TypedDict):
    account_id: str
    kyc_status: str


class Selection(TypedDict):
    selection_id: str
    name: str
    price: str


class Market(TypedDict):
    market_id: str
    name: str
    status: str
    version: int
    in_play_delay_s: float
    selections: list[Selection]
    cause: str  # why a suspended market is suspended ("" otherwise)


class Event(TypedDict):
    event_id: str
    name: str
    sport: str
    status: str
    starts_at: str
    score: str
    markets: list[Market]
    version: int  # the public version: the odds stream's message id


class MarketOfEvent(Market):
    event_id: str


class Bet(TypedDict):
    """A bet as ``POST /v1/bets`` and ``GET /v1/bets/{id}`` answer it (201 or 202)."""

    bet_id: str
    event_id: str
    status: str
    stake: str | None
    price: str | None
    placed_at: str | None
    potential_payout: NotRequired[str | None]
    accept_after: NotRequired[str | None]
    price_version: NotRequired[int | None]


class Receipt(TypedDict):
    operation_id: str
    kind: str
    status: str
    amount: str
    available: str
    at: str
    replayed: bool


class FeedAck(TypedDict):
    event_id: str
    seq: int
    status: Literal["applied", "duplicate", "refused"]
    code: str
    detail: str
    version: int


class ApiError(RuntimeError):
    """An answer other than the expected ones; ``code`` is the problem's stable code."""

    def __init__(self, method: str, path: str, status: int, body: Any, text: str) -> None:
        self.method, self.path, self.status = method, path, status
        self.problem: dict[str, Any] = body if isinstance(body, dict) else {}
        code = self.problem.get("code")
        self.code: str | None = code if isinstance(code, str) else None
        self.detail = str(self.problem.get("detail") or text[:400])
        super().__init__(f"{method} {path} → {status} {self.code or ''}: {self.detail}")


@dataclass(frozen=True)
class Call:
    """One request and the statuses that count as success."""

    method: str
    path: str
    json: Any = None
    token: str | None = None
    key: str | None = None
    expect: tuple[int, ...] = (200,)
    params: Mapping[str, str] = field(default_factory=dict)
    # 429 answers waited out (their Retry-After, at most 5 s each) and sent again
    waits: int = 0

    def wait_s(self, response: httpx.Response, attempt: int) -> float | None:
        """How long to wait before sending again, or None: answer as it is."""
        if response.status_code != 429 or attempt >= self.waits:
            return None
        try:
            return min(5.0, max(0.05, float(response.headers.get("retry-after", "1"))))
        except ValueError:
            return 1.0

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.key:
            headers["Idempotency-Key"] = self.key
        return headers

    def result(self, response: httpx.Response) -> Any:
        """The decoded body if the status is expected; else ``ApiError``."""
        try:
            body: Any = response.json() if response.content else None
        except ValueError:
            body = None
        if response.status_code not in self.expect:
            raise ApiError(self.method, self.path, response.status_code, body, response.text)
        return body


def new_key() -> str:
    """A fresh Idempotency-Key."""
    return secrets.token_hex(12)


class Calls:
    """The requests of the API, as ``Call`` values (shared by both clients)."""

    @staticmethod
    def register(username: str, password: str, jurisdiction: str = "GB",
                 date_of_birth: str = "1990-01-01") -> Call:
        return Call("POST", "/v1/accounts", {
            "username": username, "password": password, "jurisdiction": jurisdiction,
            "date_of_birth": date_of_birth}, expect=(201,))

    @staticmethod
    def login(username: str, password: str) -> Call:
        # many players logging in at once from one address (a NAT, a load test) meet the
        # login throttle's per-address budget: a polite client waits its Retry-After
        return Call("POST", "/v1/sessions", {"username": username, "password": password},
                    waits=8)

    @staticmethod
    def deposit(token: str, amount: str, method: str, key: str | None) -> Call:
        return Call("POST", "/v1/wallet/deposits", {"amount": amount, "method": method},
                    token=token, key=key or new_key(), expect=(201, 202))

    @staticmethod
    def wallet(token: str) -> Call:
        return Call("GET", "/v1/wallet", token=token)

    @staticmethod
    def create_event(token: str, event: Mapping[str, Any]) -> Call:
        return Call("POST", "/v1/ops/events", dict(event), token=token, expect=(201,))

    @staticmethod
    def get_event(event_id: str, token: str | None) -> Call:
        return Call("GET", f"/v1/events/{event_id}", token=token)

    @staticmethod
    def list_events() -> Call:
        return Call("GET", "/v1/events")

    @staticmethod
    def set_status(token: str, event_id: str, status: EventStatus) -> Call:
        return Call("POST", f"/v1/ops/events/{event_id}/status", {"status": status},
                    token=token)

    @staticmethod
    def set_odds(token: str, event_id: str, market_id: str,
                 prices: Mapping[str, str]) -> Call:
        return Call("POST", f"/v1/ops/events/{event_id}/odds",
                    {"market_id": market_id, "prices": dict(prices)}, token=token)

    @staticmethod
    def exposure(token: str, event_id: str) -> Call:
        return Call("GET", f"/v1/ops/events/{event_id}/exposure", token=token)

    @staticmethod
    def decide_kyc(token: str, account_id: str, status: str, reason: str) -> Call:
        return Call("POST", f"/v1/ops/accounts/{account_id}/kyc",
                    {"status": status, "reason": reason}, token=token)

    @staticmethod
    def set_media_tier(token: str, account_id: str, tier: str) -> Call:
        return Call("POST", f"/v1/ops/accounts/{account_id}/media-tier", {"tier": tier},
                    token=token)

    @staticmethod
    def place_bet(token: str, event_id: str, market_id: str, selection_id: str, stake: str,
                  price: str, odds_change: OddsChange, key: str | None,
                  price_version: int | None) -> Call:
        body: dict[str, Any] = {"event_id": event_id, "market_id": market_id,
                                "selection_id": selection_id, "stake": stake, "price": price,
                                "odds_change": odds_change}
        if price_version is not None:
            body["price_version"] = price_version
        return Call("POST", "/v1/bets", body, token=token, key=key or new_key(),
                    expect=(201, 202))

    @staticmethod
    def get_bet(token: str, bet_id: str) -> Call:
        return Call("GET", f"/v1/bets/{bet_id}", token=token)

    @staticmethod
    def health() -> Call:
        return Call("GET", "/healthz")

    @staticmethod
    def statement(token: str, month: str) -> Call:
        return Call("GET", "/v1/statements", token=token, params={"month": month})

    @staticmethod
    def cashout_quote(token: str, bet_id: str) -> Call:
        return Call("POST", f"/v1/bets/{bet_id}/cashout/quote", token=token)

    @staticmethod
    def cash_out(token: str, bet_id: str, body: Mapping[str, Any], key: str | None) -> Call:
        return Call("POST", f"/v1/bets/{bet_id}/cashout", dict(body), token=token,
                    key=key or new_key(), expect=(201, 202))

    @staticmethod
    def post_result(token: str, event_id: str, market_id: str,
                    result: Mapping[str, Any]) -> Call:
        return Call("POST", f"/v1/ops/events/{event_id}/markets/{market_id}/result",
                    dict(result), token=token, expect=(202,))

    @staticmethod
    def roll_back_result(token: str, event_id: str, market_id: str) -> Call:
        return Call("POST", f"/v1/ops/events/{event_id}/markets/{market_id}/rollback",
                    token=token, expect=(202,))

    @staticmethod
    def open_void_window(token: str, event_id: str, window: Mapping[str, Any]) -> Call:
        return Call("POST", f"/v1/ops/events/{event_id}/void-window", dict(window),
                    token=token, expect=(201,))

    @staticmethod
    def roll_back_void_window(token: str, event_id: str, window_id: str) -> Call:
        return Call("POST", f"/v1/ops/events/{event_id}/void-window/{window_id}/rollback",
                    token=token, expect=(202,))

    @staticmethod
    def settlement(token: str, event_id: str) -> Call:
        return Call("GET", f"/v1/ops/events/{event_id}/settlement", token=token)

    @staticmethod
    def publish_feed(token: str, messages: list[Mapping[str, Any]],
                     provider: str | None) -> Call:
        body: dict[str, Any] = {"messages": list(messages)}
        if provider is not None:
            body["provider"] = provider
        return Call("POST", "/v1/ops/feed", json=body, token=token)


def _client_options(timeout_s: float, connections: int) -> dict[str, Any]:
    return {"timeout": timeout_s,
            "limits": httpx.Limits(max_connections=connections,
                                   max_keepalive_connections=connections)}


class ApiClient:
    """The synchronous client (``httpx.Client``); a context manager."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0, connections: int = 16
                 ) -> None:
        self.http = httpx.Client(base_url=base_url, **_client_options(timeout_s, connections))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def send(self, call: Call) -> Any:
        """Send any ``Call``; its decoded body, or ``ApiError``."""
        for attempt in itertools.count():
            response = self.http.request(call.method, call.path, json=call.json,
                                         headers=call.headers(), params=call.params)
            wait = call.wait_s(response, attempt)
            if wait is None:
                return call.result(response)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def register(self, username: str, password: str, *, jurisdiction: str = "GB",
                 date_of_birth: str = "1990-01-01") -> Registered:
        return cast(Registered, self.send(
            Calls.register(username, password, jurisdiction, date_of_birth)))

    def login(self, username: str, password: str) -> Session:
        return cast(Session, self.send(Calls.login(username, password)))

    def deposit(self, token: str, amount: str, *, method: str = "debit_card",
                key: str | None = None) -> Receipt:
        return cast(Receipt, self.send(Calls.deposit(token, amount, method, key)))

    def wallet(self, token: str) -> dict[str, str]:
        return cast(dict[str, str], self.send(Calls.wallet(token)))

    def create_event(self, token: str, event: Mapping[str, Any]) -> Event:
        return cast(Event, self.send(Calls.create_event(token, event)))

    def get_event(self, event_id: str, token: str | None = None) -> Event:
        return cast(Event, self.send(Calls.get_event(event_id, token)))

    def list_events(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.send(Calls.list_events()))

    def set_status(self, token: str, event_id: str, status: EventStatus) -> Event:
        return cast(Event, self.send(Calls.set_status(token, event_id, status)))

    def set_odds(self, token: str, event_id: str, market_id: str,
                 prices: Mapping[str, str]) -> MarketOfEvent:
        return cast(MarketOfEvent, self.send(Calls.set_odds(token, event_id, market_id,
                                                            prices)))

    def exposure(self, token: str, event_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.send(Calls.exposure(token, event_id)))

    def decide_kyc(self, token: str, account_id: str, *, status: str = "verified",
                   reason: str = "documents checked") -> dict[str, Any]:
        return cast(dict[str, Any], self.send(Calls.decide_kyc(token, account_id, status,
                                                               reason)))

    def set_media_tier(self, token: str, account_id: str, tier: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.send(Calls.set_media_tier(token, account_id, tier)))

    def place_bet(self, token: str, event_id: str, market_id: str, selection_id: str,
                  stake: str, price: str, *, odds_change: OddsChange = "none",
                  key: str | None = None, price_version: int | None = None) -> Bet:
        return cast(Bet, self.send(Calls.place_bet(token, event_id, market_id, selection_id,
                                                   stake, price, odds_change, key,
                                                   price_version)))

    def get_bet(self, token: str, bet_id: str) -> Bet:
        return cast(Bet, self.send(Calls.get_bet(token, bet_id)))

    def health(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.send(Calls.health()))

    def statement(self, token: str, month: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.send(Calls.statement(token, month)))

    def cashout_quote(self, token: str, bet_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.send(Calls.cashout_quote(token, bet_id)))

    def cash_out(self, token: str, bet_id: str, body: Mapping[str, Any], *,
                 key: str | None = None) -> dict[str, Any]:
        return cast(dict[str, Any], self.send(Calls.cash_out(token, bet_id, body, key)))

    def post_result(self, token: str, event_id: str, market_id: str,
                    result: Mapping[str, Any]) -> dict[str, Any]:
        return cast(dict[str, Any], self.send(Calls.post_result(token, event_id, market_id,
                                                                result)))

    def roll_back_result(self, token: str, event_id: str, market_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.send(Calls.roll_back_result(token, event_id,
                                                                     market_id)))

    def open_void_window(self, token: str, event_id: str,
                         window: Mapping[str, Any]) -> dict[str, Any]:
        return cast(dict[str, Any], self.send(Calls.open_void_window(token, event_id, window)))

    def roll_back_void_window(self, token: str, event_id: str,
                              window_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.send(Calls.roll_back_void_window(token, event_id,
                                                                          window_id)))

    def settlement(self, token: str, event_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.send(Calls.settlement(token, event_id)))

    def publish_feed(self, token: str, messages: list[Mapping[str, Any]], *,
                     provider: str | None = None) -> list[FeedAck]:
        """Feed messages (JSON, as ``domain.feed.to_plain`` makes them); one ack each."""
        body = self.send(Calls.publish_feed(token, messages, provider))
        return cast(list[FeedAck], body["acks"])


class AsyncApiClient:
    """The asynchronous client (``httpx.AsyncClient``); an async context manager."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0, connections: int = 16
                 ) -> None:
        self.http = httpx.AsyncClient(base_url=base_url,
                                      **_client_options(timeout_s, connections))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def send(self, call: Call) -> Any:
        """Send any ``Call``; its decoded body, or ``ApiError``."""
        for attempt in itertools.count():
            response = await self.http.request(call.method, call.path, json=call.json,
                                               headers=call.headers(), params=call.params)
            wait = call.wait_s(response, attempt)
            if wait is None:
                return call.result(response)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def register(self, username: str, password: str, *, jurisdiction: str = "GB",
                       date_of_birth: str = "1990-01-01") -> Registered:
        return cast(Registered, await self.send(
            Calls.register(username, password, jurisdiction, date_of_birth)))

    async def login(self, username: str, password: str) -> Session:
        return cast(Session, await self.send(Calls.login(username, password)))

    async def deposit(self, token: str, amount: str, *, method: str = "debit_card",
                      key: str | None = None) -> Receipt:
        return cast(Receipt, await self.send(Calls.deposit(token, amount, method, key)))

    async def wallet(self, token: str) -> dict[str, str]:
        return cast(dict[str, str], await self.send(Calls.wallet(token)))

    async def create_event(self, token: str, event: Mapping[str, Any]) -> Event:
        return cast(Event, await self.send(Calls.create_event(token, event)))

    async def get_event(self, event_id: str, token: str | None = None) -> Event:
        return cast(Event, await self.send(Calls.get_event(event_id, token)))

    async def list_events(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], await self.send(Calls.list_events()))

    async def set_status(self, token: str, event_id: str, status: EventStatus) -> Event:
        return cast(Event, await self.send(Calls.set_status(token, event_id, status)))

    async def set_odds(self, token: str, event_id: str, market_id: str,
                       prices: Mapping[str, str]) -> MarketOfEvent:
        return cast(MarketOfEvent, await self.send(Calls.set_odds(token, event_id, market_id,
                                                                  prices)))

    async def exposure(self, token: str, event_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self.send(Calls.exposure(token, event_id)))

    async def decide_kyc(self, token: str, account_id: str, *, status: str = "verified",
                         reason: str = "documents checked") -> dict[str, Any]:
        return cast(dict[str, Any], await self.send(Calls.decide_kyc(token, account_id,
                                                                     status, reason)))

    async def set_media_tier(self, token: str, account_id: str, tier: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self.send(Calls.set_media_tier(token, account_id,
                                                                         tier)))

    async def place_bet(self, token: str, event_id: str, market_id: str, selection_id: str,
                        stake: str, price: str, *, odds_change: OddsChange = "none",
                        key: str | None = None, price_version: int | None = None) -> Bet:
        return cast(Bet, await self.send(Calls.place_bet(
            token, event_id, market_id, selection_id, stake, price, odds_change, key,
            price_version)))

    async def get_bet(self, token: str, bet_id: str) -> Bet:
        return cast(Bet, await self.send(Calls.get_bet(token, bet_id)))

    async def health(self) -> dict[str, Any]:
        return cast(dict[str, Any], await self.send(Calls.health()))

    async def statement(self, token: str, month: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self.send(Calls.statement(token, month)))

    async def cashout_quote(self, token: str, bet_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self.send(Calls.cashout_quote(token, bet_id)))

    async def cash_out(self, token: str, bet_id: str, body: Mapping[str, Any], *,
                       key: str | None = None) -> dict[str, Any]:
        return cast(dict[str, Any], await self.send(Calls.cash_out(token, bet_id, body, key)))

    async def post_result(self, token: str, event_id: str, market_id: str,
                          result: Mapping[str, Any]) -> dict[str, Any]:
        return cast(dict[str, Any], await self.send(Calls.post_result(token, event_id,
                                                                      market_id, result)))

    async def roll_back_result(self, token: str, event_id: str,
                               market_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self.send(Calls.roll_back_result(token, event_id,
                                                                           market_id)))

    async def open_void_window(self, token: str, event_id: str,
                               window: Mapping[str, Any]) -> dict[str, Any]:
        return cast(dict[str, Any], await self.send(Calls.open_void_window(token, event_id,
                                                                           window)))

    async def roll_back_void_window(self, token: str, event_id: str,
                                    window_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self.send(Calls.roll_back_void_window(
            token, event_id, window_id)))

    async def settlement(self, token: str, event_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self.send(Calls.settlement(token, event_id)))

    async def publish_feed(self, token: str, messages: list[Mapping[str, Any]], *,
                           provider: str | None = None) -> list[FeedAck]:
        body = await self.send(Calls.publish_feed(token, messages, provider))
        return cast(list[FeedAck], body["acks"])

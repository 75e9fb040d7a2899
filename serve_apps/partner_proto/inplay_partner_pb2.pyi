from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OddsChange(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ODDS_CHANGE_NONE: _ClassVar[OddsChange]
    ODDS_CHANGE_HIGHER: _ClassVar[OddsChange]
    ODDS_CHANGE_ANY: _ClassVar[OddsChange]
ODDS_CHANGE_NONE: OddsChange
ODDS_CHANGE_HIGHER: OddsChange
ODDS_CHANGE_ANY: OddsChange

class BetRequest(_message.Message):
    __slots__ = ("idempotency_key", "event_id", "market_id", "selection_id", "stake", "price", "price_version", "odds_change")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    SELECTION_ID_FIELD_NUMBER: _ClassVar[int]
    STAKE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ODDS_CHANGE_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    event_id: str
    market_id: str
    selection_id: str
    stake: str
    price: str
    price_version: int
    odds_change: OddsChange
    def __init__(self, idempotency_key: _Optional[str] = ..., event_id: _Optional[str] = ..., market_id: _Optional[str] = ..., selection_id: _Optional[str] = ..., stake: _Optional[str] = ..., price: _Optional[str] = ..., price_version: _Optional[int] = ..., odds_change: _Optional[_Union[OddsChange, str]] = ...) -> None: ...

class PlaceBetsRequest(_message.Message):
    __slots__ = ("bets",)
    BETS_FIELD_NUMBER: _ClassVar[int]
    bets: _containers.RepeatedCompositeFieldContainer[BetRequest]
    def __init__(self, bets: _Optional[_Iterable[_Union[BetRequest, _Mapping]]] = ...) -> None: ...

class Refusal(_message.Message):
    __slots__ = ("code", "status", "title", "detail", "bet_id", "price", "price_version", "max_stake", "retry_after_s", "errors", "facts")
    class FactsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    BET_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_STAKE_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    code: str
    status: int
    title: str
    detail: str
    bet_id: str
    price: str
    price_version: int
    max_stake: str
    retry_after_s: float
    errors: _containers.RepeatedScalarFieldContainer[str]
    facts: _containers.ScalarMap[str, str]
    def __init__(self, code: _Optional[str] = ..., status: _Optional[int] = ..., title: _Optional[str] = ..., detail: _Optional[str] = ..., bet_id: _Optional[str] = ..., price: _Optional[str] = ..., price_version: _Optional[int] = ..., max_stake: _Optional[str] = ..., retry_after_s: _Optional[float] = ..., errors: _Optional[_Iterable[str]] = ..., facts: _Optional[_Mapping[str, str]] = ...) -> None: ...

class BetResult(_message.Message):
    __slots__ = ("bet", "refusal")
    BET_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    bet: Bet
    refusal: Refusal
    def __init__(self, bet: _Optional[_Union[Bet, _Mapping]] = ..., refusal: _Optional[_Union[Refusal, _Mapping]] = ...) -> None: ...

class PlaceBetsReply(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BetResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BetResult, _Mapping]]] = ...) -> None: ...

class GetBetRequest(_message.Message):
    __slots__ = ("bet_id",)
    BET_ID_FIELD_NUMBER: _ClassVar[int]
    bet_id: str
    def __init__(self, bet_id: _Optional[str] = ...) -> None: ...

class SettlementStep(_message.Message):
    __slots__ = ("step", "result_version", "status", "payout", "moved", "at")
    STEP_FIELD_NUMBER: _ClassVar[int]
    RESULT_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAYOUT_FIELD_NUMBER: _ClassVar[int]
    MOVED_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    step: str
    result_version: int
    status: str
    payout: str
    moved: str
    at: str
    def __init__(self, step: _Optional[str] = ..., result_version: _Optional[int] = ..., status: _Optional[str] = ..., payout: _Optional[str] = ..., moved: _Optional[str] = ..., at: _Optional[str] = ...) -> None: ...

class Cashout(_message.Message):
    __slots__ = ("status", "amount", "price", "price_version", "at", "accept_after")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_AFTER_FIELD_NUMBER: _ClassVar[int]
    status: str
    amount: str
    price: str
    price_version: int
    at: str
    accept_after: str
    def __init__(self, status: _Optional[str] = ..., amount: _Optional[str] = ..., price: _Optional[str] = ..., price_version: _Optional[int] = ..., at: _Optional[str] = ..., accept_after: _Optional[str] = ...) -> None: ...

class Bet(_message.Message):
    __slots__ = ("bet_id", "event_id", "market_id", "selection_id", "status", "stake", "price", "requested_price", "odds_change", "placed_at", "payout", "potential_payout", "accepted_at", "price_version", "accept_after", "reason", "detail", "dead_heat", "settlements", "cashout")
    BET_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    SELECTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STAKE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_PRICE_FIELD_NUMBER: _ClassVar[int]
    ODDS_CHANGE_FIELD_NUMBER: _ClassVar[int]
    PLACED_AT_FIELD_NUMBER: _ClassVar[int]
    PAYOUT_FIELD_NUMBER: _ClassVar[int]
    POTENTIAL_PAYOUT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_AT_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_AFTER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DEAD_HEAT_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENTS_FIELD_NUMBER: _ClassVar[int]
    CASHOUT_FIELD_NUMBER: _ClassVar[int]
    bet_id: str
    event_id: str
    market_id: str
    selection_id: str
    status: str
    stake: str
    price: str
    requested_price: str
    odds_change: OddsChange
    placed_at: str
    payout: str
    potential_payout: str
    accepted_at: str
    price_version: int
    accept_after: str
    reason: str
    detail: str
    dead_heat: bool
    settlements: _containers.RepeatedCompositeFieldContainer[SettlementStep]
    cashout: Cashout
    def __init__(self, bet_id: _Optional[str] = ..., event_id: _Optional[str] = ..., market_id: _Optional[str] = ..., selection_id: _Optional[str] = ..., status: _Optional[str] = ..., stake: _Optional[str] = ..., price: _Optional[str] = ..., requested_price: _Optional[str] = ..., odds_change: _Optional[_Union[OddsChange, str]] = ..., placed_at: _Optional[str] = ..., payout: _Optional[str] = ..., potential_payout: _Optional[str] = ..., accepted_at: _Optional[str] = ..., price_version: _Optional[int] = ..., accept_after: _Optional[str] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ..., dead_heat: _Optional[bool] = ..., settlements: _Optional[_Iterable[_Union[SettlementStep, _Mapping]]] = ..., cashout: _Optional[_Union[Cashout, _Mapping]] = ...) -> None: ...

class StreamBetsRequest(_message.Message):
    __slots__ = ("since_ms", "recent")
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    RECENT_FIELD_NUMBER: _ClassVar[int]
    since_ms: int
    recent: int
    def __init__(self, since_ms: _Optional[int] = ..., recent: _Optional[int] = ...) -> None: ...

class BetUpdate(_message.Message):
    __slots__ = ("kind", "bet", "placed_at_ms")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[BetUpdate.Kind]
        INITIAL: _ClassVar[BetUpdate.Kind]
        CAUGHT_UP: _ClassVar[BetUpdate.Kind]
        CHANGED: _ClassVar[BetUpdate.Kind]
        HEARTBEAT: _ClassVar[BetUpdate.Kind]
    KIND_UNSPECIFIED: BetUpdate.Kind
    INITIAL: BetUpdate.Kind
    CAUGHT_UP: BetUpdate.Kind
    CHANGED: BetUpdate.Kind
    HEARTBEAT: BetUpdate.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    BET_FIELD_NUMBER: _ClassVar[int]
    PLACED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    kind: BetUpdate.Kind
    bet: Bet
    placed_at_ms: int
    def __init__(self, kind: _Optional[_Union[BetUpdate.Kind, str]] = ..., bet: _Optional[_Union[Bet, _Mapping]] = ..., placed_at_ms: _Optional[int] = ...) -> None: ...

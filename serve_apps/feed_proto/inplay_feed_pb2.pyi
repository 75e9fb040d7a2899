from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MatchState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATCH_STATE_UNSPECIFIED: _ClassVar[MatchState]
    NOT_STARTED: _ClassVar[MatchState]
    FIRST_HALF: _ClassVar[MatchState]
    HALF_TIME: _ClassVar[MatchState]
    SECOND_HALF: _ClassVar[MatchState]
    ENDED: _ClassVar[MatchState]
    ABANDONED: _ClassVar[MatchState]

class AckStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACK_STATUS_UNSPECIFIED: _ClassVar[AckStatus]
    APPLIED: _ClassVar[AckStatus]
    DUPLICATE: _ClassVar[AckStatus]
    REFUSED: _ClassVar[AckStatus]
MATCH_STATE_UNSPECIFIED: MatchState
NOT_STARTED: MatchState
FIRST_HALF: MatchState
HALF_TIME: MatchState
SECOND_HALF: MatchState
ENDED: MatchState
ABANDONED: MatchState
ACK_STATUS_UNSPECIFIED: AckStatus
APPLIED: AckStatus
DUPLICATE: AckStatus
REFUSED: AckStatus

class FeedMessage(_message.Message):
    __slots__ = ("event_id", "seq", "sent_at", "odds_change", "bet_stop", "bet_start", "alive", "score", "match_state", "result", "rollback", "void_window")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    ODDS_CHANGE_FIELD_NUMBER: _ClassVar[int]
    BET_STOP_FIELD_NUMBER: _ClassVar[int]
    BET_START_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MATCH_STATE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    VOID_WINDOW_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    seq: int
    sent_at: float
    odds_change: OddsChange
    bet_stop: BetStop
    bet_start: BetStart
    alive: Alive
    score: Score
    match_state: MatchStateChange
    result: Result
    rollback: Rollback
    void_window: VoidWindow
    def __init__(self, event_id: _Optional[str] = ..., seq: _Optional[int] = ..., sent_at: _Optional[float] = ..., odds_change: _Optional[_Union[OddsChange, _Mapping]] = ..., bet_stop: _Optional[_Union[BetStop, _Mapping]] = ..., bet_start: _Optional[_Union[BetStart, _Mapping]] = ..., alive: _Optional[_Union[Alive, _Mapping]] = ..., score: _Optional[_Union[Score, _Mapping]] = ..., match_state: _Optional[_Union[MatchStateChange, _Mapping]] = ..., result: _Optional[_Union[Result, _Mapping]] = ..., rollback: _Optional[_Union[Rollback, _Mapping]] = ..., void_window: _Optional[_Union[VoidWindow, _Mapping]] = ...) -> None: ...

class OddsChange(_message.Message):
    __slots__ = ("market_id", "prices")
    class PricesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    market_id: str
    prices: _containers.ScalarMap[str, str]
    def __init__(self, market_id: _Optional[str] = ..., prices: _Optional[_Mapping[str, str]] = ...) -> None: ...

class BetStop(_message.Message):
    __slots__ = ("market_ids", "cause")
    MARKET_IDS_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    market_ids: _containers.RepeatedScalarFieldContainer[str]
    cause: str
    def __init__(self, market_ids: _Optional[_Iterable[str]] = ..., cause: _Optional[str] = ...) -> None: ...

class BetStart(_message.Message):
    __slots__ = ("market_ids", "cause")
    MARKET_IDS_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    market_ids: _containers.RepeatedScalarFieldContainer[str]
    cause: str
    def __init__(self, market_ids: _Optional[_Iterable[str]] = ..., cause: _Optional[str] = ...) -> None: ...

class Alive(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Score(_message.Message):
    __slots__ = ("score",)
    SCORE_FIELD_NUMBER: _ClassVar[int]
    score: str
    def __init__(self, score: _Optional[str] = ...) -> None: ...

class MatchStateChange(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: MatchState
    def __init__(self, state: _Optional[_Union[MatchState, str]] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("market_id", "winners", "void_factor", "dead_heat_factor", "result_version")
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    WINNERS_FIELD_NUMBER: _ClassVar[int]
    VOID_FACTOR_FIELD_NUMBER: _ClassVar[int]
    DEAD_HEAT_FACTOR_FIELD_NUMBER: _ClassVar[int]
    RESULT_VERSION_FIELD_NUMBER: _ClassVar[int]
    market_id: str
    winners: _containers.RepeatedScalarFieldContainer[str]
    void_factor: str
    dead_heat_factor: str
    result_version: int
    def __init__(self, market_id: _Optional[str] = ..., winners: _Optional[_Iterable[str]] = ..., void_factor: _Optional[str] = ..., dead_heat_factor: _Optional[str] = ..., result_version: _Optional[int] = ...) -> None: ...

class Rollback(_message.Message):
    __slots__ = ("market_id",)
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    market_id: str
    def __init__(self, market_id: _Optional[str] = ...) -> None: ...

class VoidWindow(_message.Message):
    __slots__ = ("start", "end", "market_id", "cause")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    start: float
    end: float
    market_id: str
    cause: str
    def __init__(self, start: _Optional[float] = ..., end: _Optional[float] = ..., market_id: _Optional[str] = ..., cause: _Optional[str] = ...) -> None: ...

class FeedBatch(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[FeedMessage]
    def __init__(self, messages: _Optional[_Iterable[_Union[FeedMessage, _Mapping]]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("event_id", "seq", "status", "code", "detail", "version")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    seq: int
    status: AckStatus
    code: str
    detail: str
    version: int
    def __init__(self, event_id: _Optional[str] = ..., seq: _Optional[int] = ..., status: _Optional[_Union[AckStatus, str]] = ..., code: _Optional[str] = ..., detail: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class PublishReply(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[Ack]
    def __init__(self, acks: _Optional[_Iterable[_Union[Ack, _Mapping]]] = ...) -> None: ...

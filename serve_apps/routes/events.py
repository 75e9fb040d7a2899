"""Events, markets and odds as bettors read them: from the region's odds cache, and live as
server-sent events (``serve_apps.streams``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header
from fastapi.responses import Response

from serve_apps import docs
from serve_apps.deps import event_service, stream_service
from serve_apps.models import EventOut, EventSummaryOut
from serve_apps.services import EventService
from serve_apps.streams import EVENT_STREAM, EventStreamResponse, OddsStreams, last_event_id
from serve_apps.views import event_body, json_response, summary_body

router = APIRouter(tags=["events"])

STREAM_ANSWER = (
    "The event's odds as server-sent events, until the client hangs up: first "
    "`event: snapshot` (the event as `GET /v1/events/{event_id}` shows it), then "
    "`event: odds` `{version, market_id, market_version, prices}`, `event: status` "
    "`{version, status, market_id, markets, cause}` and `event: score` `{version, score}`. "
    "Each message has `id: <version>` (always increasing); a `: keep-alive` comment comes "
    "every 15 s (by default) on an idle stream.")


@router.get("/v1/events", response_model=list[EventSummaryOut],
            responses=docs.responses(200))
async def list_events(events: EventService = Depends(event_service)) -> Response:
    """Live and upcoming events: ``[{event_id, name, sport, status, starts_at}]``."""
    return json_response([summary_body(e) for e in await events.listing()])


@router.get("/v1/events/{event_id}", response_model=EventOut,
            responses=docs.responses(200, *docs.INVALID, "UNKNOWN_EVENT", ok=EventOut))
async def get_event(event_id: str = docs.path_id("event_id", "demo-match"),
                    events: EventService = Depends(event_service)) -> Response:
    """The event with its markets, prices, versions and ``version`` (the public version),
    from this region's odds cache."""
    return json_response(event_body(await events.view(event_id)))


@router.get("/v1/events/{event_id}/stream", response_class=EventStreamResponse,
            status_code=200,
            responses=docs.responses(200, *docs.INVALID, "UNKNOWN_EVENT",
                                     media=(EVENT_STREAM,),
                                     descriptions={200: STREAM_ANSWER}))
async def stream_event(
    event_id: str = docs.path_id("event_id", "demo-match"),
    last_event_id_header: str | None = Header(
        default=None, alias="Last-Event-ID", max_length=64,
        description="the `id` of the last message received: the stream goes on with the "
                    "versions after it if it still can, else it starts with a snapshot"),
    streams: OddsStreams = Depends(stream_service),
) -> Response:
    """The event's odds, statuses and score as they change (``text/event-stream``).

    Reconnecting with ``Last-Event-ID`` gives exactly the versions after it when the server
    still has them, otherwise a fresh snapshot; a client never sees an older version after
    a newer one.
    """
    stream = await streams.open(event_id, last_event_id(last_event_id_header))
    return EventStreamResponse(stream)

"""Events, markets and odds as bettors read them."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from serve_apps import docs
from serve_apps.deps import event_service
from serve_apps.models import EventOut, EventSummaryOut
from serve_apps.services import EventService
from serve_apps.views import event_body, json_response, summary_body

router = APIRouter(tags=["events"])


@router.get("/v1/events", response_model=list[EventSummaryOut],
            responses=docs.responses(200))
async def list_events(events: EventService = Depends(event_service)) -> Response:
    """Live and upcoming events: ``[{event_id, name, sport, status, starts_at}]``."""
    return json_response([summary_body(e) for e in await events.listing()])


@router.get("/v1/events/{event_id}", response_model=EventOut,
            responses=docs.responses(200, *docs.INVALID, "UNKNOWN_EVENT", ok=EventOut))
async def get_event(event_id: str = docs.path_id("event_id", "demo-match"),
                    events: EventService = Depends(event_service)) -> Response:
    """The event with its markets, prices and versions, straight from its event actor."""
    return json_response(event_body(await events.view(event_id)))

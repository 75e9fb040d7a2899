"""Events, markets and odds as bettors read them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from serve_apps.deps import Services, services

router = APIRouter(tags=["events"])


@router.get("/v1/events")
async def list_events(svc: Services = Depends(services)) -> list[dict[str, Any]]:
    """Live and upcoming events: ``[{event_id, name, sport, status, starts_at}]``."""
    return await svc.catalog.list()


@router.get("/v1/events/{event_id}")
async def get_event(event_id: str, svc: Services = Depends(services)) -> dict[str, Any]:
    """The event with its markets, prices and versions, straight from its event actor."""
    handle = await svc.registry.get(event_id)
    view: dict[str, Any] = await handle.view.remote()
    return view

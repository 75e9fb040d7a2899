"""``GET /healthz``: 200 only when the platform can take bets, 503 with the reason otherwise.

``GET /livez``: 200 whenever this replica's event loop answers (a liveness probe: it checks
nothing else, so a load balancer does not restart replicas because Redis is away).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from serve_apps.deps import Services, services
from serve_apps.problems import problem_response

router = APIRouter(tags=["health"])
SWEEPER_NAME = "saga-sweeper"


async def _redis(svc: Services) -> str:
    await asyncio.wait_for(svc.redis.ping(), timeout=2)
    info: dict[str, Any] = await asyncio.wait_for(svc.redis.info("persistence"), timeout=2)
    if info.get("loading"):
        return "loading its data"
    return "ok"


async def _sweeper() -> str:
    import ray

    handle = await asyncio.to_thread(ray.get_actor, SWEEPER_NAME, namespace="inplay")
    alive: bool = await asyncio.wait_for(handle.ping.remote(), timeout=3)
    return "ok" if alive else "not sweeping"


@router.get("/healthz")
async def healthz(svc: Services = Depends(services)) -> JSONResponse:
    """Redis reachable and loaded, Ray reachable, the saga sweeper alive."""
    checks: dict[str, str] = {}
    for name, probe in (("redis", _redis(svc)), ("sweeper", _sweeper())):
        try:
            checks[name] = await probe
        except Exception as exc:
            checks[name] = f"{type(exc).__name__}: {exc}"[:200]
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ok", "checks": checks})
    bad = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    return problem_response(503, "UNAVAILABLE", f"not ready to take bets ({bad})",
                            checks=checks)


@router.get("/livez")
async def livez() -> dict[str, str]:
    """This replica answers; nothing behind it is checked (that is ``/healthz``)."""
    return {"status": "alive"}

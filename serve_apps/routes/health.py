"""``GET /healthz``: 200 only when the platform can take bets, 503 with the reason otherwise.

``GET /livez``: 200 whenever this replica's event loop answers (a liveness probe: it checks
nothing else, so a load balancer does not restart replicas because Redis is away).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from serve_apps import docs
from serve_apps.deps import readiness
from serve_apps.models import HealthOut, LiveOut
from serve_apps.problems import problem_response
from serve_apps.services import Readiness
from serve_apps.views import json_response

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut,
            responses=docs.responses(200, "UNAVAILABLE", ok=HealthOut))
async def healthz(ready: Readiness = Depends(readiness)) -> Response:
    """Redis reachable and loaded, Ray reachable, the saga sweeper alive."""
    checks = await ready.checks()
    if all(v == "ok" for v in checks.values()):
        return json_response({"status": "ok", "checks": checks})
    bad = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    return problem_response("UNAVAILABLE", f"not ready to take bets ({bad})", checks=checks)


@router.get("/livez", response_model=LiveOut,
            responses=docs.responses(200, ok=LiveOut))
async def livez() -> Response:
    """This replica answers; nothing behind it is checked (that is ``/healthz``)."""
    return json_response({"status": "alive"})

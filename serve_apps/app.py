"""The HTTP edge: one FastAPI app behind a Ray Serve deployment (``inplay`` application).

``create_app()`` builds the routes (no Ray needed: tests mount it with their own services);
``ApiDeployment`` gives each Serve replica its services; ``build_application`` /
``app_builder`` are what ``inplay up`` and ``serve deploy cluster/serve_config.yaml`` run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI, Request
from ray import serve
from ray.serve import Application

from cluster.config import Settings, load_settings
from serve_apps import body_limit, problems
from serve_apps.deps import Principal, Services, authenticate, current
from serve_apps.routes import accounts, bets, events, health, ops, wallet

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
DESCRIPTION = (
    "Live betting and live streaming for casino and sportsbook operators. Errors are RFC 9457 "
    "problem+json with a stable `code`. Money and prices are decimal strings; POSTs that move "
    "money or place bets take an `Idempotency-Key` header."
)


class _ReplicaRedis:
    """The replica's Redis client, resolved when first used (routers are built at import)."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # pickling and copying probe dunders: not the client's
            raise AttributeError(name)
        return getattr(current(self._app).redis, name)


def _media_router(app: FastAPI) -> Any:
    from media.actors import get_or_create_region_actor
    from media.entitlements import EntitlementStore
    from serve_apps.media_routes import build_media_router

    handles: dict[str, Any] = {}

    async def region_actor(event_id: str) -> Any:
        region = current(app).settings.media_region
        if region not in handles:
            handles[region] = await asyncio.to_thread(get_or_create_region_actor, region)
        return handles[region]

    async def media_principal(request: Request) -> Principal:
        return authenticate(request, current(request.app))

    return build_media_router(media_principal, EntitlementStore(_ReplicaRedis(app)),
                              region_actor)


class InplayAPI(FastAPI):
    """The FastAPI app, with ``POST /v1/bets`` answered on a fast path (``bets.fast_place_bet``).

    Everything else, and every bet request the fast path does not take (bad content type,
    invalid JSON or body), goes through FastAPI as usual. ``fast_bets=False`` turns the fast
    path off (the benchmark measures what it is worth). Every request body is bounded
    (``body_limit``: 413 ``PAYLOAD_TOO_LARGE``).
    """

    fast_bets: bool = True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            receive = await body_limit.bounded(scope, receive, send)
            if receive is None:  # refused: too large
                return
            if (self.fast_bets and scope["method"] == "POST"
                    and scope["path"][len(scope.get("root_path", "")):] == bets.HOT_PATH):
                await bets.fast_place_bet(self, scope, receive, send, super().__call__)
                return
        await super().__call__(scope, receive, send)


def create_app(svc: Services | None = None) -> FastAPI:
    app = InplayAPI(title="inplay", version=API_VERSION, description=DESCRIPTION)
    if svc is not None:
        app.fast_bets = svc.settings.api_fast_bets
        app.state.services = svc
    problems.install(app)
    # the bet route first: routes are matched in order, and it is the one that is hot
    for module in (bets, health, accounts, events, wallet, ops):
        app.include_router(module.router)
    app.include_router(_media_router(app))
    try:
        from serve_apps.web import web_router
    except ImportError:  # the page is optional for API-only deployments
        pass
    else:
        app.include_router(web_router())
    return app


@serve.deployment(
    name="api",
    max_ongoing_requests=2000,
    ray_actor_options={"num_cpus": 0},
    logging_config={"enable_access_log": False},
)
@serve.ingress()
class ApiDeployment:
    """One API replica: builds its services (Redis pool, wallet, saga, registry) once.

    The FastAPI app is built in the replica (late-bound ingress), not pickled from the
    driver, so its routes and schemas are those of the code the replica imported.
    """

    def __init__(self, settings: dict[str, Any], token_key: str) -> None:
        self.services = Services.build(Settings.model_validate(settings), token_key)
        if not self.services.settings.api_watch_disconnects:
            skip_disconnect_watch()

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self.services)


def skip_disconnect_watch() -> bool:
    """Serve's direct ingress answers each request as if it carried
    ``x-request-disconnect-disabled: ?1``; returns whether the switch is in place.

    By default Serve runs every request in a task of its own next to a second task that
    watches for the client hanging up, and cancels the request when it does. A bet must not
    depend on its client staying (the saga's batch runs on anyway, so the watch only costs:
    two tasks, a queue and an ``asyncio.wait`` per request). Serve skips the watch for
    requests with that header, and offers no server-side setting for it, so this replica
    answers the header question itself. Streaming responses still see the disconnect: their
    ``receive`` is then the server's own. Ray is pinned (2.60.0); a test checks the hook.
    """
    from ray.serve._private import replica

    if not callable(getattr(replica, "parse_disconnect_disabled_header", None)):
        log.warning("this Ray has no parse_disconnect_disabled_header: the per-request "
                    "disconnect watch stays on")
        return False
    replica.parse_disconnect_disabled_header = lambda headers: True
    return True


def build_application(settings: Settings, token_key: str) -> Application:
    payload = settings.model_dump(mode="json")
    deployment: Any = ApiDeployment
    return deployment.options(num_replicas=settings.api_replicas).bind(payload, token_key)


def app_builder(args: dict[str, str]) -> Application:
    """For ``serve run``/``serve deploy``: settings from the environment (and ``args``)."""
    overrides: dict[str, Any] = {k: v for k, v in args.items() if k != "token_key"}
    settings = load_settings(**overrides)
    token_key = args.get("token_key") or settings.secret("token_key")
    return build_application(settings, token_key)

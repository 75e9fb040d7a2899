"""The HTTP edge: one FastAPI app behind a Ray Serve deployment (``inplay`` application).

``create_app()`` builds the routes (no Ray needed: tests mount it with their own services);
``ApiDeployment`` gives each Serve replica its services; ``build_application`` is what
``inplay up`` runs (``cluster.deploy`` builds it from the settings for ``serve deploy``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from ray import serve
from ray.serve import Application

from serve_apps import body_limit, docs, problems, streams
from serve_apps.loopback import bind_grpc_on_loopback
from serve_apps.media_routes import router as media_router
from serve_apps.routes import accounts, bets, betslips, events, health, ops, wallet
from serve_apps.services import ApiConfig, ApiServices
from serve_apps.web import web_router

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
DESCRIPTION = """Live betting and live streaming for casino and sportsbook operators.

* **Errors** are RFC 9457 `application/problem+json` with a stable machine `code` (the
  `Problem` schema) and the facts that help the client (`price`, `max_stake`, ...).
* **Money and prices** are decimal strings in answers (`"12.50"`, `"2.36"`); requests take
  strings or numbers with at most two decimals; prices lie on the price ladder.
* **Idempotency**: every POST that moves money or places a bet takes an `Idempotency-Key`
  header (1-64 characters); the same key with the same body returns the original outcome.
* **Auth**: `Authorization: Bearer <token>` (the **Authorize** button here takes the token
  alone). Players log in with `POST /v1/sessions`; operators and publishers get tokens from
  `inplay token create`. A missing or bad token is 401 before anything else is checked.
* Times are RFC 3339 UTC (requests too: `2026-11-27T20:00:00Z`); ids are opaque strings.
* `HEAD` works wherever `GET` does; a method a path does not take is 405 with `Allow`.
* Each operation lists the codes each refusal status carries; `docs/API.md` in the
  repository is the same contract in prose, with the table of every code.
"""


class InplayAPI(FastAPI):
    """The FastAPI app, with ``POST /v1/bets`` answered on a fast path (``bets.fast_place_bet``).

    Everything else, and every bet request the fast path does not take (no token, bad content
    type, invalid JSON or body), goes through FastAPI as usual. ``fast_bets=False`` turns the
    fast path off (the benchmark measures what it is worth). Every request body is bounded
    (``body_limit``: 413 ``PAYLOAD_TOO_LARGE``), and ``HEAD`` is answered wherever ``GET`` is.
    """

    fast_bets: bool = True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            receive = await body_limit.bounded(scope, receive, send)
            if receive is None:  # refused: too large
                return
            if scope["method"] == "HEAD":
                scope, send = {**scope, "method": "GET", "inplay.head": True}, \
                    _without_body(send)
            elif (self.fast_bets and scope["method"] == "POST"
                    and scope["path"][len(scope.get("root_path", "")):] == bets.HOT_PATH):
                await bets.fast_place_bet(self, scope, receive, send, super().__call__)
                return
        await super().__call__(scope, receive, send)


def _without_body(send: Any) -> Any:
    """A ``send`` that keeps the headers (Content-Length included) and drops the body."""

    async def head_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return head_send


def create_app(svc: ApiServices | None = None) -> FastAPI:
    app = InplayAPI(title="inplay", version=API_VERSION, description=DESCRIPTION)
    if svc is not None:
        app.fast_bets = svc.config.fast_bets
        app.state.services = svc
    problems.install(app)
    # the bet route first: routes are matched in order, and it is the one that is hot
    for module in (bets, betslips, health, accounts, events, wallet, ops):
        app.include_router(module.router)
    app.include_router(media_router)
    app.include_router(web_router())
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with every refusal declared as problem+json.

    FastAPI declares its own 422 (``HTTPValidationError``, ``application/json``) on routes
    that did not declare one; ours is a ``VALIDATION_ERROR`` problem, so that is rewritten.
    """
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = docs.Problem.model_json_schema(
        ref_template="#/components/schemas/{model}")
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            answers = operation.get("responses", {})
            content = answers.get("422", {}).get("content", {})
            if "application/json" in content:
                answers["422"] = docs.problem_answer(422, list(docs.INVALID))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    app.openapi_schema = schema
    return schema


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

    def __init__(self, config: ApiConfig) -> None:
        bind_grpc_on_loopback()
        self.services = ApiServices.build(config)  # the token key: from its file
        if not config.watch_disconnects:
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


def build_application(config: ApiConfig, replicas: int) -> Application:
    deployment: Any = ApiDeployment
    return deployment.options(num_replicas=replicas).bind(config)


# ---------------------------------------------------------------- the odds application

ODDS_PREFIX = "/v1/events"


class PrefixedAPI(InplayAPI):
    """Some of the API's routes alone, as an application Serve mounts at ``prefix``: Serve
    adds the prefix to ``root_path`` but keeps it in ``path``, and the routes are declared
    with their full paths (the same routers as in ``create_app``, whose OpenAPI documents
    them), so the prefix is taken back out of ``root_path``."""

    fast_bets = False
    prefix = ""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        root = scope.get("root_path", "")
        if self.prefix and root.endswith(self.prefix):
            scope = {**scope, "root_path": root[:-len(self.prefix)]}
        await self.answer(scope, receive, send)

    async def answer(self, scope: Any, receive: Any, send: Any) -> None:
        await super().__call__(scope, receive, send)


class OddsAPI(PrefixedAPI):
    """The event routes (``ODDS_PREFIX``), with the odds stream's fast path."""

    prefix = ODDS_PREFIX

    async def answer(self, scope: Any, receive: Any, send: Any) -> None:
        root = scope.get("root_path", "")
        svc: ApiServices | None = getattr(self.state, "services", None)
        if scope["type"] == "http" and scope["method"] == "GET" and svc is not None \
                and svc.streams is not None:
            found = streams.STREAM_PATH.match(scope["path"][len(root):])
            if found:  # the stream's fast path: an open stream keeps no FastAPI frames
                await streams.serve_stream(svc.streams, found.group(1), scope, receive, send)
                return
        await super().answer(scope, receive, send)


def create_odds_app(svc: ApiServices | None = None) -> FastAPI:
    """What the ``odds`` application serves: ``GET /v1/events``, ``/v1/events/{event_id}``
    and the stream, from the same router as ``create_app`` (whose OpenAPI documents them)."""
    app = OddsAPI(title="inplay odds", version=API_VERSION, docs_url=None, redoc_url=None,
                  openapi_url=None)
    if svc is not None:
        app.state.services = svc
    problems.install(app)
    app.include_router(events.router)
    return app


@serve.deployment(
    name="odds",
    # every open stream holds one of these for its whole life: thousands per replica, and
    # none of them is a slot the bets' deployment (``api``) needs
    max_ongoing_requests=10_000,
    ray_actor_options={"num_cpus": 0},
    logging_config={"enable_access_log": False},
)
@serve.ingress()
class OddsDeployment:
    """One odds replica: event reads from the region's odds cache, and the odds streams."""

    def __init__(self, config: ApiConfig) -> None:
        bind_grpc_on_loopback()
        self.services = ApiServices.build(config)
        # a stream watches for its client hanging up itself (serve_apps.streams)
        skip_disconnect_watch()

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_odds_app(self.services)


def build_odds_application(config: ApiConfig, replicas: int,
                           max_ongoing_requests: int = 10_000) -> Application:
    """The ``odds`` application (route prefix ``ODDS_PREFIX``)."""
    deployment: Any = OddsDeployment
    return deployment.options(num_replicas=replicas,
                              max_ongoing_requests=max_ongoing_requests).bind(config)


# ---------------------------------------------------------------- the media application

MEDIA_PREFIX = "/v1/media"


class MediaAPI(PrefixedAPI):
    """The media routes (WHIP/WHEP signalling, HLS playlists and parts, stats)."""

    prefix = MEDIA_PREFIX


def create_media_app(svc: ApiServices | None = None) -> FastAPI:
    """What the ``media`` application serves: the routes under ``MEDIA_PREFIX``, from the
    same router as ``create_app`` (whose OpenAPI documents them)."""
    app = MediaAPI(title="inplay media", version=API_VERSION, docs_url=None, redoc_url=None,
                   openapi_url=None)
    if svc is not None:
        app.state.services = svc
    problems.install(app)
    app.include_router(media_router)
    return app


@serve.deployment(
    name="media",
    # an LL-HLS player holds a request open while it waits for the next part (blocking
    # playlist reload): hundreds per replica, none of them a slot the bets' deployment needs
    max_ongoing_requests=2_000,
    ray_actor_options={"num_cpus": 0},
    logging_config={"enable_access_log": False},
)
@serve.ingress()
class MediaDeployment:
    """One media signalling replica: SDP offers and answers, playlists and CMAF parts fetched
    from the region's media actor. Video itself never passes through Serve."""

    def __init__(self, config: ApiConfig) -> None:
        from media.actors import lower_cpu_priority
        from media.sfu import MediaSettings

        bind_grpc_on_loopback()
        # video work yields the CPU to the bet path, as the media actors do
        self.nice = lower_cpu_priority(MediaSettings().cpu_nice)
        self.services = ApiServices.build(config)
        skip_disconnect_watch()

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_media_app(self.services)


def build_media_application(config: ApiConfig, replicas: int,
                            max_ongoing_requests: int = 2_000) -> Application:
    """The ``media`` application (route prefix ``MEDIA_PREFIX``): video traffic gets its own
    replicas, sized on their own, so it never takes a bet's request slot."""
    deployment: Any = MediaDeployment
    return deployment.options(num_replicas=replicas,
                              max_ongoing_requests=max_ongoing_requests).bind(config)

"""Feed ingest over gRPC, served by Ray Serve: the ``feed`` application.

Providers call ``inplay.feed.v1.Feed`` (``serve_apps/feed_proto/inplay_feed.proto``) on
Serve's gRPC port (``INPLAY_FEED_PORT``, on ``INPLAY_HTTP_HOST``: loopback by default), with
two metadata entries: ``authorization: Bearer <token>`` (role ``feed``, ``publisher`` or
``operator``; the provider is the token's subject) and ``application: feed`` (Serve routes
gRPC calls by application; the API is another one). ``Publish`` takes a client stream of
messages and answers their acks when the stream ends (what has arrived is applied as it
arrives, not held back until the end); ``PublishBatch`` acks one batch at once (what live
clients use, ``cluster.feed_client``). A bad or missing token is ``UNAUTHENTICATED``, a token
of another role ``PERMISSION_DENIED``, and then nothing is read or applied. Each message is
parsed by ``FeedService`` (a malformed one is acked ``refused INVALID_FEED_MESSAGE``) and
applied by the provider's adapter actor (``actors.feed``).

Why Serve and not a gRPC server of our own: "Ray Serve stays the ingress for every route",
and Ray 2.60's Serve takes client streaming in the mode ``inplay up`` runs it (HAProxy in
front, direct ingress to the replicas): checked end to end, a ``stream_unary`` call through
HAProxy reaches the replica's ``gRPCInputStream`` (``tests/e2e/test_feed.py``). Two things
are needed for it, both found on the way:

- the application needs a ``route_prefix`` (``FEED_ROUTE``), although gRPC does not route by
  path: Serve's controller leaves applications without one out of HAProxy's backends
  (``ServeController.get_target_groups``), and every call is then answered ``NOT_FOUND:
  Application 'feed' not found`` by HAProxy's default gRPC backend;
- clients must send ``application: feed``: with two applications HAProxy cannot pick one
  (``NOT_FOUND: Application metadata not set``).

HTTP requests on ``FEED_ROUTE`` reach this deployment too (Serve gives every application an
HTTP route); they are answered 404 ``NOT_FOUND``. With gRPC on, Serve also starts a
direct-ingress gRPC server in every ingress replica (the API's too), which Serve binds to
``[::]:<port>`` of ``RAY_SERVE_DIRECT_INGRESS_MIN/MAX_GRPC_PORT`` (fixed in Serve, like its
inter-deployment server; each home has its own range, ``cluster.local.serve_port_env``).
Providers use the HAProxy frontend; a call that reaches a replica directly is authenticated
all the same.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import grpc
from ray import serve
from ray.serve import Application
from ray.serve.grpc_util import RayServegRPCContext, gRPCInputStream
from starlette.responses import JSONResponse

from actors.event_actor import ActorConfig
from actors.feed import FeedAdapters
from domain import errors
from domain.feed import Ack
from serve_apps import problems
from serve_apps.feed_proto import inplay_feed_pb2 as pb
from serve_apps.feed_proto.convert import ack_to_wire, to_plain
from serve_apps.loopback import bind_grpc_on_loopback
from serve_apps.services import Authenticator, FeedService, read_token_key

log = logging.getLogger(__name__)

FEED_APP = "feed"
FEED_ROUTE = "/grpc/feed"
# what `serve.start(grpc_options=...)` registers
SERVICER = "serve_apps.feed_proto.inplay_feed_pb2_grpc.add_FeedServicer_to_server"
# messages handed to the adapter at once, at most (from a stream: whatever has arrived)
CHUNK = 512

# our codes → gRPC's (anything else the ingest can raise is a bug: INTERNAL)
_STATUS = {
    "UNAUTHENTICATED": grpc.StatusCode.UNAUTHENTICATED,
    "FORBIDDEN": grpc.StatusCode.PERMISSION_DENIED,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "OVERLOADED": grpc.StatusCode.UNAVAILABLE,
    "VALIDATION_ERROR": grpc.StatusCode.INVALID_ARGUMENT,
}


def grpc_options(port: int) -> dict[str, Any]:
    """Serve's gRPC options for the feed (``serve.start(grpc_options=...)``)."""
    return {"port": port, "grpc_servicer_functions": [SERVICER]}


@dataclass(frozen=True)
class FeedConfig:
    """What the ingest replica needs: how to reach the actors, and its replicas."""

    actor: ActorConfig
    replicas: int = 1
    # the file holding the token-signing key (read by the replica, never a Serve argument)
    token_key_file: str = ""


@serve.deployment(
    name="feed",
    max_ongoing_requests=1000,
    ray_actor_options={"num_cpus": 0},
    logging_config={"enable_access_log": False},
)
class FeedDeployment:
    """One ingest replica: authenticates, parses, hands messages to the adapters."""

    def __init__(self, config: FeedConfig) -> None:
        bind_grpc_on_loopback()
        self.auth = Authenticator.for_replica(read_token_key(config.token_key_file),
                                              config.actor.redis_url, 0)
        self.feed = FeedService(FeedAdapters(config.actor))

    async def Publish(self, request_stream: gRPCInputStream[pb.FeedMessage],
                      grpc_context: RayServegRPCContext) -> pb.PublishReply:
        """A client stream; its acks when it ends (its messages are applied as they come)."""
        try:
            provider = self._provider(grpc_context)
            acks = await self._stream(provider, request_stream)
        except Exception as exc:
            return _failed(grpc_context, exc)
        return pb.PublishReply(acks=[ack_to_wire(a) for a in acks])

    async def PublishBatch(self, batch: pb.FeedBatch,
                           grpc_context: RayServegRPCContext) -> pb.PublishReply:
        """One batch, acked at once."""
        try:
            provider = self._provider(grpc_context)
            acks = await self.feed.publish(provider, [to_plain(m) for m in batch.messages])
        except Exception as exc:
            return _failed(grpc_context, exc)
        return pb.PublishReply(acks=[ack_to_wire(a) for a in acks])

    async def __call__(self, request: Any) -> JSONResponse:
        """HTTP on the application's route: there is nothing here for HTTP."""
        return problems.problem_response(
            "NOT_FOUND", "the feed is served over gRPC (inplay.feed.v1.Feed); over HTTP, "
            "operators post to /v1/ops/feed", status=404)

    def _provider(self, context: RayServegRPCContext) -> str:
        metadata = dict(context.invocation_metadata())
        who = self.auth.principal(str(metadata.get("authorization", "")))
        return FeedService.provider_of(who)

    async def _stream(self, provider: str, stream: gRPCInputStream[pb.FeedMessage]
                      ) -> list[Ack]:
        """Read the stream in one task, hand what has arrived to the adapter in another: a
        slow stream has each message applied at once, a fast one in chunks."""
        arrived: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def read() -> None:
            try:
                async for message in stream:
                    arrived.put_nowait(to_plain(message))
            finally:
                arrived.put_nowait(None)

        reader = asyncio.get_running_loop().create_task(read())
        acks: list[Ack] = []
        try:
            ended = False
            while not ended:
                first = await arrived.get()
                if first is None:
                    break
                chunk = [first]
                while len(chunk) < CHUNK and not arrived.empty():
                    item = arrived.get_nowait()
                    if item is None:
                        ended = True
                        break
                    chunk.append(item)
                acks += await self.feed.publish(provider, chunk)
            await reader  # a stream that failed raises here
        finally:
            reader.cancel()
        if stream.is_cancelled():
            raise errors.Unavailable("the client stream broke off; what arrived was applied")
        return acks


def _failed(context: RayServegRPCContext, exc: BaseException) -> pb.PublishReply:
    """The call's status for a refusal (or a bug), with an empty reply."""
    found = problems.unwrap(exc)
    if isinstance(found, errors.DomainError):
        context.set_code(_STATUS.get(found.code, grpc.StatusCode.INTERNAL))
        context.set_details(f"{found.code}: {found.detail}")
    else:
        log.exception("feed ingest failed", exc_info=exc)
        context.set_code(grpc.StatusCode.INTERNAL)
        context.set_details("an unexpected error; acks were not sent (resending is safe)")
    return pb.PublishReply()


def build_feed_application(config: FeedConfig) -> Application:
    deployment: Any = FeedDeployment
    return deployment.options(num_replicas=config.replicas).bind(config)

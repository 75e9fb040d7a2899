"""Wiring the platform onto a Ray cluster: the sweeper and the API, from the settings.

``deploy`` is what ``inplay up`` runs against its own head; ``app_builder`` is the import path
of ``cluster/serve_config.yaml`` (``serve deploy`` on a cluster), reading the settings from
``INPLAY_*`` / ``REDIS_URL`` on the cluster.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from cluster.config import Settings, load_settings


def application(settings: Settings) -> Application:
    """The Serve application of the API, configured from ``settings`` (the replicas read the
    token key from ``settings.token_key_file()``: it is no argument of theirs)."""
    from serve_apps.app import build_application

    return build_application(settings.api_config(), settings.api_replicas)


ODDS_APP = "odds"


def odds_application(settings: Settings) -> Application:
    """The Serve application of the event reads and the odds stream (route prefix
    ``/v1/events``): its own deployment, so open streams never take the bets' slots."""
    from serve_apps.app import build_odds_application

    return build_odds_application(settings.api_config(), settings.odds_replicas,
                                  settings.odds_max_ongoing_requests)


MEDIA_APP, MEDIA_ROUTE = "media", "/v1/media"


def media_application(settings: Settings) -> Application:
    """The Serve application of the media routes (route prefix ``MEDIA_ROUTE``: WHIP/WHEP
    signalling, HLS playlists and parts, stats): replicas of their own at a lower CPU
    priority, so video traffic never takes a bet's request slot or its CPU."""
    from serve_apps.app import build_media_application

    return build_media_application(settings.api_config(), settings.media_replicas,
                                   settings.media_max_ongoing_requests)


def feed_application(settings: Settings) -> Application:
    """The Serve application of the feed ingest (gRPC ``inplay.feed.v1.Feed``, run as
    ``FEED_APP`` on ``FEED_ROUTE`` of ``serve_apps.feed``); Serve must have been started with
    ``feed_grpc_options``. The providers' adapter actors are made on their first message."""
    from serve_apps.feed import build_feed_application

    return build_feed_application(settings.feed_config())


def feed_grpc_options(settings: Settings) -> dict[str, Any]:
    """``serve.start(grpc_options=...)``: Serve's gRPC port is the feed's, and the partner
    API's (both servicers registered; calls are routed by their ``application`` metadata)."""
    from serve_apps import partner
    from serve_apps.feed import grpc_options

    options = grpc_options(settings.feed_port)
    return {**options, "grpc_servicer_functions": [*options["grpc_servicer_functions"],
                                                   partner.SERVICER]}


def partner_application(settings: Settings) -> Application:
    """The Serve application of the partner API (gRPC ``inplay.partner.v1.Partner``, run as
    ``PARTNER_APP`` on ``PARTNER_ROUTE`` of ``serve_apps.partner``), on the feed's gRPC port
    (``feed_grpc_options`` registers its servicer)."""
    from serve_apps.partner import build_partner_application

    return build_partner_application(settings.partner_config())


def start_services(settings: Settings) -> None:
    """The detached actors the API relies on (get or create): the saga sweeper and the
    settlement actors."""
    from actors.settlement import start_settlement
    from actors.sweeper import start_sweeper

    start_sweeper(settings.sweeper_config())
    start_settlement(settings.settlement_config())
    start_odds(settings)


def start_odds(settings: Settings) -> None:
    """The odds cache of every region (``odds:<region>``), waited for: the first streams and
    event reads find them loaded."""
    import ray

    from actors.odds_cache import OddsCacheConfig, start_odds_caches

    caches = start_odds_caches([OddsCacheConfig(region=r, actor=settings.actor_config())
                                for r in settings.regions()])
    ray.get([c.ping.remote() for c in caches], timeout=120)


def _from_args(args: dict[str, str], services: bool = True) -> Settings:
    """The settings from the environment (and ``args``) of a builder; the services the
    applications rely on are started (get or create) first. A ``token_key`` argument is
    refused: it would be shown in Serve's config (the replicas read the home's secret)."""
    if "token_key" in args:
        raise ValueError("token_key is not an argument: replicas read it from the home's "
                         "secrets (INPLAY_HOME/secrets/token_key)")
    overrides: dict[str, Any] = dict(args)
    settings = load_settings(**overrides)
    if services:
        start_services(settings)
    return settings


def app_builder(args: dict[str, str]) -> Application:
    """For ``serve run``/``serve deploy``: the ``inplay`` application."""
    return application(_from_args(args))


def odds_app_builder(args: dict[str, str]) -> Application:
    """For ``serve deploy``: the ``odds`` application (route prefix ``/v1/events``)."""
    return odds_application(_from_args(args))


def media_app_builder(args: dict[str, str]) -> Application:
    """For ``serve deploy``: the ``media`` application (route prefix ``/v1/media``)."""
    return media_application(_from_args(args))


def feed_app_builder(args: dict[str, str]) -> Application:
    """For ``serve deploy``: the ``feed`` application (gRPC; route prefix ``/grpc/feed``)."""
    return feed_application(_from_args(args, services=False))


def partner_app_builder(args: dict[str, str]) -> Application:
    """For ``serve deploy``: the ``partner`` application (gRPC; route prefix
    ``/grpc/partner``)."""
    return partner_application(_from_args(args))

"""Wiring the platform onto a Ray cluster: the sweeper and the API, from the settings.

``deploy`` is what ``inplay up`` runs against its own head; ``app_builder`` is the import path
of ``cluster/serve_config.yaml`` (``serve deploy`` on a cluster), reading the settings from
``INPLAY_*`` / ``REDIS_URL`` on the cluster.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from cluster.config import Settings, load_settings


def application(settings: Settings, token_key: str) -> Application:
    """The Serve application of the API, configured from ``settings``."""
    from serve_apps.app import build_application

    return build_application(settings.api_config(), token_key, settings.api_replicas)


def start_services(settings: Settings) -> None:
    """The detached actors the API relies on (get or create): the saga sweeper and the
    settlement actors."""
    from actors.settlement import start_settlement
    from actors.sweeper import start_sweeper

    start_sweeper(settings.sweeper_config())
    start_settlement(settings.settlement_config())


def app_builder(args: dict[str, str]) -> Application:
    """For ``serve run``/``serve deploy``: settings from the environment (and ``args``)."""
    overrides: dict[str, Any] = {k: v for k, v in args.items() if k != "token_key"}
    settings = load_settings(**overrides)
    start_services(settings)
    token_key = args.get("token_key") or settings.secret("token_key")
    return application(settings, token_key)

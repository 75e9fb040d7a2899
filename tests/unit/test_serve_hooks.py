"""The one Serve internal the API replicas rely on (Ray is pinned; this fails on an upgrade
that moves it, instead of the optimisation silently going away)."""

from __future__ import annotations

from ray.serve._private import replica

from serve_apps.app import skip_disconnect_watch


def test_replicas_can_skip_serves_per_request_disconnect_watch() -> None:
    original = replica.parse_disconnect_disabled_header
    try:
        # what Serve does without the header: it watches for disconnects (spawns a task)
        assert original({}) is False
        assert original({b"x-request-disconnect-disabled": b"?1"}) is True
        assert skip_disconnect_watch() is True
        assert replica.parse_disconnect_disabled_header({}) is True
    finally:
        replica.parse_disconnect_disabled_header = original

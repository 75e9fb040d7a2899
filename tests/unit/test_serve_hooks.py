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


def test_haproxy_may_hold_thousands_of_streams_within_the_open_files_limit() -> None:
    import resource

    from cluster.local import haproxy_maxconn

    maxconn = haproxy_maxconn()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == hard  # raised to the hard limit, for Ray and HAProxy to inherit
    # two descriptors per connection and room for the rest, or HAProxy will not start
    assert 1024 <= maxconn and (soft == resource.RLIM_INFINITY or 2.5 * maxconn + 500 <= soft)
    assert maxconn >= 5000 or soft < 12_000  # Serve's 4,096 is not enough for a match day

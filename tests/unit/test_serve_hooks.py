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


def test_replica_grpc_servers_bind_loopback_on_a_loopback_node() -> None:
    """Serve's replica binds its gRPC servers through two helpers it looks up when it starts
    them (after the constructor); on a loopback node ``bind_grpc_on_loopback`` swaps both for
    ones that turn ``[::]:<port>`` into ``127.0.0.1:<port>``."""
    import inspect

    from ray.serve._private import default_impl, grpc_util, replica

    from serve_apps.loopback import bind_grpc_on_loopback, loopback_binder

    # where Serve 2.60 binds them: the names this swaps are the ones it calls
    assert 'add_port_to_grpc_server(self._server, "[::]:0")' in inspect.getsource(replica)
    assert "add_grpc_address(server, f\"[::]:{grpc_options.port}\")" in \
        inspect.getsource(grpc_util.start_grpc_server)
    calls: list[str] = []
    bound = loopback_binder(lambda server, address: calls.append(address))
    bound(None, "[::]:0")
    bound(None, "[::]:40123")
    bound(None, "10.0.0.5:7")
    assert calls == ["127.0.0.1:0", "127.0.0.1:40123", "10.0.0.5:7"]
    assert loopback_binder(bound) is bound
    before = (replica.add_port_to_grpc_server, default_impl.add_grpc_address)
    try:
        assert bind_grpc_on_loopback("10.1.2.3") is False
        assert (replica.add_port_to_grpc_server, default_impl.add_grpc_address) == before
        assert bind_grpc_on_loopback("127.0.0.1") is True
        assert getattr(replica.add_port_to_grpc_server, "inplay_loopback", False)
        assert getattr(default_impl.add_grpc_address, "inplay_loopback", False)
    finally:
        replica.add_port_to_grpc_server, default_impl.add_grpc_address = before

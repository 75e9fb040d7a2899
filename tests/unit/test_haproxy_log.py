"""HAProxy's log when its request metrics are off (``cluster.local.haproxy_log_env``).

The datagrams themselves are counted against the bundled HAProxy in
``tests/integration/test_haproxy_log.py`` and on the running platform in
``tests/e2e/test_platform.py``.
"""

from __future__ import annotations

from cluster.local import SERVE_HAPROXY_LOG_TARGET, haproxy_log_env
from tests.support.haproxy import serve_log_line


def test_with_request_metrics_off_the_target_keeps_notices_and_drops_access_logs() -> None:
    assert haproxy_log_env(False) == {
        "RAY_SERVE_HAPROXY_LOG_TARGET": "127.0.0.1:514 local0 notice #"}
    assert haproxy_log_env(False, "/dev/log") == {
        "RAY_SERVE_HAPROXY_LOG_TARGET": "/dev/log local0 notice #"}


def test_with_request_metrics_on_serves_default_stays() -> None:
    assert haproxy_log_env(True) == {}


def test_serve_writes_the_target_verbatim_before_its_own_facility_and_level() -> None:
    """What the target relies on: Serve 2.60's `log {{ target }} local0 info` (and its default).

    A Serve that formats the line differently (or quotes the target) fails here, instead of
    HAProxy failing to start or the access log coming back silently.
    """
    import inspect

    from ray.serve._private import constants

    assert serve_log_line() == "log {{ config.log_target }} local0 info"
    assert f'"RAY_SERVE_HAPROXY_LOG_TARGET", "{SERVE_HAPROXY_LOG_TARGET}"' in " ".join(
        inspect.getsource(constants).split())
    rendered = serve_log_line().replace("{{ config.log_target }}",
                                        haproxy_log_env(False)["RAY_SERVE_HAPROXY_LOG_TARGET"])
    # everything after `#` is a comment to HAProxy: facility local0, levels up to notice
    assert rendered == "log 127.0.0.1:514 local0 notice # local0 info"

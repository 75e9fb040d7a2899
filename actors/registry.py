"""A cached registry of event actor handles for long-lived callers (API replicas, sweeper).

``ray.get_actor`` is a blocking GCS call: it runs in a thread, and its result is cached. A
handle whose actor died is evicted by the caller and looked up again next time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from actors import errors
from actors.event_actor import NAMESPACE, ActorConfig, actor_name, remote_event_actor


class EventRegistry:
    """Event id → actor handle; ``create=True`` makes the actor if it does not exist."""

    def __init__(self, config: ActorConfig) -> None:
        self.config = config
        self._handles: dict[str, Any] = {}

    async def get(self, event_id: str, create: bool = False) -> Any:
        handle = self._handles.get(event_id)
        if handle is not None:
            return handle
        if create:
            handle = await asyncio.to_thread(remote_event_actor, event_id, self.config)
        else:
            handle = await asyncio.to_thread(_lookup, event_id)
        self._handles[event_id] = handle
        return handle

    def evict(self, event_id: str) -> None:
        self._handles.pop(event_id, None)


def _lookup(event_id: str) -> Any:
    import ray

    try:
        return ray.get_actor(actor_name(event_id), namespace=NAMESPACE)
    except ValueError as exc:
        raise errors.UnknownEvent(f"event {event_id} does not exist") from exc

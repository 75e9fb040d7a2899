"""A small server-sent events reader over an httpx streaming response, for tests."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Message:
    """One message (``event``, ``id``, parsed ``data``), or a comment line."""

    event: str = ""
    id: int | None = None

    @property
    def version(self) -> int:
        """The message's id, which every message of the odds stream has."""
        assert self.id is not None, f"a message without an id: {self}"
        return self.id
    data: Any = None
    comment: str | None = None


class SseReader:
    """Messages and comments from a response, as they arrive (``retry:`` is remembered).

    The response is read by a task of its own: a read cancelled half way (a timeout) would
    break httpx's connection, so waiting for the next message never cancels a read.
    """

    def __init__(self, response: httpx.Response) -> None:
        self.retry_ms: int | None = None
        self._found: asyncio.Queue[Message | BaseException] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read(response))

    async def next(self, timeout_s: float = 10.0) -> Message:
        """The next message or comment (TimeoutError if none comes in time, EOFError once
        the stream ended)."""
        found = await asyncio.wait_for(self._found.get(), timeout_s)
        if isinstance(found, BaseException):
            self._found.put_nowait(found)
            raise found
        return found

    async def message(self, timeout_s: float = 10.0) -> Message:
        """The next message, skipping comments (TimeoutError if none comes in time)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            found = await self.next(max(0.0, deadline - asyncio.get_running_loop().time()))
            if found.comment is None:
                return found

    def close(self) -> None:
        self._reader.cancel()

    async def _read(self, response: httpx.Response) -> None:
        event, ident, data = "", None, []  # type: str, int | None, list[str]
        try:
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    self._found.put_nowait(Message(comment=line[1:].strip()))
                    continue
                if line == "":
                    if data:
                        self._found.put_nowait(
                            Message(event or "message", ident, json.loads("\n".join(data))))
                    event, ident, data = "", None, []
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    event = value
                elif field == "id":
                    ident = int(value)
                elif field == "data":
                    data.append(value)
                elif field == "retry":
                    self.retry_ms = int(value)
            self._found.put_nowait(EOFError("the stream ended"))
        except Exception as exc:  # closed by the client, or broken
            self._found.put_nowait(EOFError(f"the stream broke: {exc!r}"))

"""Server-sent events as the benchmark's clients read them (pure, no I/O).

``SseParser`` is incremental: bytes go in as they arrive (a message may be cut anywhere,
even inside a line ending) and whole messages come out. It follows the parts of the
``text/event-stream`` format the odds stream uses: ``event:``, ``id:``, ``data:`` (several
lines are joined by ``\\n``), ``retry:``, comment lines (``: keep-alive``), line endings
``\\n``, ``\\r\\n`` or ``\\r``, one optional space after the colon, a message dispatched at a
blank line when it has data. It does not decode the data (JSON): a client that only needs
the ``id`` of each ``odds`` message does not pay for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseMessage:
    """One dispatched message: its type (``message`` when none was given), ``id`` (None
    when absent or not an integer) and raw data."""

    event: str
    id: int | None
    data: bytes


class SseParser:
    """Bytes in, messages out; counts comments and remembers ``retry``."""

    __slots__ = ("_buf", "_skip_lf", "comments", "last_id", "retry_ms")

    def __init__(self) -> None:
        self._buf = b""
        self._skip_lf = False  # the last chunk ended in \r: a \n first in the next is its pair
        self.comments = 0
        self.retry_ms: int | None = None
        self.last_id: int | None = None  # the stream's last event id (kept across messages)

    def feed(self, chunk: bytes) -> list[SseMessage]:
        """The messages completed by ``chunk``, in order."""
        if not chunk:
            return []
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = False
        if b"\r" in chunk:
            self._skip_lf = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf + chunk if self._buf else chunk
        out: list[SseMessage] = []
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            found = self._block(buf[start:end])
            if found is not None:
                out.append(found)
            start = end + 2
        self._buf = buf[start:]
        return out

    def _block(self, block: bytes) -> SseMessage | None:
        event = ""
        data: list[bytes] = []
        for line in block.split(b"\n"):
            if not line:
                continue
            if line[0] == 0x3A:  # ':' a comment
                self.comments += 1
                continue
            name, colon, value = line.partition(b":")
            if colon and value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event = value.decode("utf-8", "replace")
            elif name == b"id":
                self.last_id = int(value) if value.isdigit() else None
            elif name == b"retry" and value.isdigit():
                self.retry_ms = int(value)
        if not data:
            return None
        return SseMessage(event or "message", self.last_id, b"\n".join(data))

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the end of a message."""
        return len(self._buf)


def stream_request(host: str, port: int, path: str, last_event_id: int | None = None) -> bytes:
    """The raw HTTP/1.1 request that opens one stream."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: text/event-stream",
             "Cache-Control: no-cache"]
    if last_event_id is not None:
        lines.append(f"Last-Event-ID: {last_event_id}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()

"""One bound on request bodies for the whole API, answered as problem+json.

FastAPI's own ``max_body_size`` answers a plain-text 413, and a limit raised while FastAPI
reads a body comes out as a 400; ours answers ``PAYLOAD_TOO_LARGE`` like every other refusal.
A declared ``Content-Length`` over the bound is refused before anything is read; a chunked
body (``Transfer-Encoding``) is read here up to the bound and replayed to the app. A request
with neither has no body (HTTP/1.1).
"""

from __future__ import annotations

from typing import Any

from serve_apps.problems import problem_response

# the largest legitimate body is an operator's event: 200 markets of up to 64 selections
MAX_BODY_BYTES = 4 * 1024 * 1024


async def bounded(scope: dict[str, Any], receive: Any, send: Any) -> Any | None:
    """The ``receive`` to give the app, or None when this answered 413 itself."""
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = MAX_BODY_BYTES + 1
            if declared > MAX_BODY_BYTES:
                await _refuse(scope, receive, send)
                return None
            return receive
        if name == b"transfer-encoding":
            chunked = True
    if not chunked:
        return receive
    try:
        raw = await read_body(receive)
    except BodyTooLarge:
        await _refuse(scope, receive, send)
        return None
    if raw is None:
        return replay_body(b"", receive, first={"type": "http.disconnect"})
    return replay_body(raw, receive)


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Any) -> bytes | None:
    """The whole request body, or None when the client went away first.

    Raises BodyTooLarge past ``MAX_BODY_BYTES``.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body = message.get("body", b"")
        size += len(body)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(body)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _refuse(scope: dict[str, Any], receive: Any, send: Any) -> None:
    response = problem_response("PAYLOAD_TOO_LARGE",
                                f"the request body is larger than {MAX_BODY_BYTES} bytes")
    await response(scope, receive, send)


def replay_body(raw: bytes, receive: Any, first: Any = None) -> Any:
    """A ``receive`` that gives ``raw`` as the whole body (or ``first``, a disconnect), then
    the connection's own messages."""
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return first or {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay

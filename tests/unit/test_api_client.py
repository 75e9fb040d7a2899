"""The API client waits out a throttled login (429 with Retry-After) and sends it again;
anything else is answered as it came. A real server over HTTP (uvicorn in a thread)."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from cluster.api_client import ApiClient, ApiError, Call, Calls

app = FastAPI()
seen: list[float] = []


@app.post("/v1/sessions")
async def sessions() -> JSONResponse:
    seen.append(time.monotonic())
    if len(seen) <= 2:  # the first two attempts are throttled
        return JSONResponse({"code": "RATE_LIMITED"}, status_code=429,
                            headers={"Retry-After": "0.2"})
    return JSONResponse({"token": "t", "expires_at": "", "account_id": "a1", "role": "player"})


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_throttled_login_is_sent_again_after_its_retry_after(base_url: str) -> None:
    seen.clear()
    with ApiClient(base_url) as api:
        session = api.login("u", "p")
    assert session["account_id"] == "a1"
    assert len(seen) == 3
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(seen))


def test_other_calls_answer_a_429_at_once(base_url: str) -> None:
    seen.clear()
    with ApiClient(base_url) as api, pytest.raises(ApiError) as refused:
        api.send(Call("POST", "/v1/sessions"))  # no waits asked for
    assert refused.value.status == 429 and len(seen) == 1


def test_the_wait_is_bounded_and_read_from_retry_after() -> None:
    call = Calls.login("u", "p")
    throttled = httpx.Response(429, headers={"Retry-After": "60"})
    assert call.wait_s(throttled, 0) == 5.0
    assert call.wait_s(httpx.Response(429, headers={"Retry-After": "x"}), 0) == 1.0
    assert call.wait_s(throttled, call.waits) is None
    assert call.wait_s(httpx.Response(401), 0) is None

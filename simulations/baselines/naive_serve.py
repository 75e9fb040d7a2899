"""The naive Serve path: default Ray Serve proxy, one actor call per request.

One deployment with a FastAPI ingress; its ``POST /bet`` parses the JSON body and awaits one
call to a trivial async actor, as a first version of a bet endpoint would. Everything is left at
Ray's defaults (proxy, access log, ``max_ongoing_requests``): no HAProxy/throughput flags.

    .venv/bin/python -m simulations.baselines.naive_serve --port PORT

Starts its own private Ray (``address="local"``: never joins a running cluster), prints
``READY <port>`` once the route answers, and shuts Serve and Ray down when stdin closes (or on
SIGTERM/SIGINT).
"""

# no `from __future__ import annotations`: FastAPI must see real annotations after pickling

import argparse
import os
import signal
import sys
import threading
import time
import urllib.request
from typing import Any

from fastapi import FastAPI, Request

# Flags that change the Serve data path: this baseline must run without them.
SERVE_FLAGS = ("RAY_SERVE_ENABLE_HA_PROXY", "RAY_SERVE_THROUGHPUT_OPTIMIZED",
               "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD", "RAY_ADDRESS")


def _build_app() -> Any:
    import ray
    from ray import serve

    @ray.remote(num_cpus=0)
    class Trivial:
        async def place(self, bet: dict[str, Any]) -> dict[str, Any]:
            return {"status": "accepted", "stake": bet.get("stake")}

    api = FastAPI()

    @serve.deployment(ray_actor_options={"num_cpus": 0})
    @serve.ingress(api)
    class NaiveBets:
        def __init__(self) -> None:
            self.actor = Trivial.options(  # type: ignore[attr-defined]
                name="naive-trivial", get_if_exists=True).remote()

        @api.post("/bet", status_code=201)
        async def bet(self, request: Request) -> dict[str, Any]:
            body = await request.json()
            result: dict[str, Any] = await self.actor.place.remote(body)
            return result

    return NaiveBets.bind()  # type: ignore[attr-defined]


def _wait_ready(port: int, deadline_s: float = 120.0) -> None:
    body = b'{"stake": "1.00"}'
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/bet", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                if resp.status == 201:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"naive Serve app did not answer on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--temp-dir", default=None,
                        help="Ray's temp dir (default /tmp/ray); a private one keeps this "
                             "cluster out of /tmp/ray/session_latest")
    parser.add_argument("--dashboard-port", type=int, default=None,
                        help="where Ray's minimal dashboard head listens (default: Ray's)")
    args = parser.parse_args()
    for name in SERVE_FLAGS:
        os.environ.pop(name, None)

    import ray
    from ray import serve

    ray.init(address="local", num_cpus=2, include_dashboard=False,
             dashboard_port=args.dashboard_port, object_store_memory=200 * 1024 * 1024,
             log_to_driver=False, _temp_dir=args.temp_dir)
    # after ray.init, which installs its own SIGTERM handler
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def wait_stdin() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_stdin, daemon=True).start()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": args.port})
        serve.run(_build_app(), name="naive", route_prefix="/")
        _wait_ready(args.port)
        print(f"READY {args.port}", flush=True)
        stop.wait()
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()

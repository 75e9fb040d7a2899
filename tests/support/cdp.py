"""A minimal Chrome DevTools Protocol client over its websocket, for browser e2e tests.

Starts Debian's headless Chromium with a fresh profile, opens one page and evaluates
JavaScript in it. No selenium, no chromedriver: `websockets` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--autoplay-policy=no-user-gesture-required", "--disable-dev-shm-usage",
    "--remote-debugging-port=0", "--remote-allow-origins=*",
)


def ensure_chromium() -> str:
    """Install Debian's chromium (and its driver) when missing; fail loudly if that fails."""
    if not Path(CHROMIUM).exists():
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        for command in (["apt-get", "update"],
                        ["apt-get", "install", "-y", "chromium", "chromium-driver"]):
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} still missing after apt-get install chromium")
    return CHROMIUM


class CdpError(Exception):
    """A CDP command failed or page JavaScript threw."""


class Page:
    """One page target: send CDP commands, evaluate JavaScript, collect console output."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.console: list[str] = []
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self._ws:
            message = json.loads(raw)
            future = self._waiting.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message)
            elif message.get("method") == "Runtime.consoleAPICalled":
                args = message["params"].get("args", [])
                self.console.append(" ".join(str(a.get("value", a.get("description", "")))
                                             for a in args))
            elif message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                self.console.append("EXCEPTION " + json.dumps(details.get("exception", details))
                                    [:500])

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   limit_s: float = 30.0) -> dict[str, Any]:
        """One CDP command; its result or CdpError."""
        ident = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        await self._ws.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        reply = await asyncio.wait_for(future, limit_s)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def evaluate(self, expression: str, limit_s: float = 30.0) -> Any:
        """Evaluate JavaScript (promises awaited) and return its JSON value."""
        result = await self.send("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True,
            "userGesture": True}, limit_s)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, limit_s: float, what: str) -> Any:
        """Poll a JavaScript expression until it is truthy; its value, or AssertionError."""
        deadline = time.monotonic() + limit_s
        value: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(CdpError):
                value = await self.evaluate(expression)
                if value:
                    return value
            await asyncio.sleep(0.25)
        raise AssertionError(f"timed out after {limit_s}s waiting for {what} (last {value!r}); "
                             f"console: {self.console[-20:]}")

    async def screenshot(self, path: Path) -> None:
        """A PNG of the page (for humans looking at a failure)."""
        import base64

        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))

    async def close(self) -> None:
        """Disconnect."""
        self._reader.cancel()
        await self._ws.close()


class Browser:
    """A headless Chromium process with a throwaway profile."""

    def __init__(self, binary: str = CHROMIUM) -> None:
        self._binary = binary
        self._profile = Path(tempfile.mkdtemp(prefix="inplay-chromium-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = 30.0) -> None:
        """Launch and wait for the DevTools port."""
        self._process = subprocess.Popen(
            [self._binary, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}",
             "--window-size=1280,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        active = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not active.exists() or not active.read_text().strip():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not open its DevTools port "
                                   f"(exit {self._process.poll()})")
            time.sleep(0.1)
        self.port = int(active.read_text().split()[0])

    def _new_target(self, url: str) -> str:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?{url}",
                                         method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(json.load(response)["webSocketDebuggerUrl"])

    async def open(self, url: str) -> Page:
        """A new page at `url` with Runtime and Page domains enabled."""
        ws_url = await asyncio.to_thread(self._new_target, "about:blank")
        ws = await websockets.connect(ws_url, max_size=64 * 1024 * 1024)
        page = Page(ws)
        await page.send("Runtime.enable")
        await page.send("Page.enable")
        await page.send("Page.navigate", {"url": url})
        return page

    def stop(self) -> None:
        """Kill the browser and remove its profile."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        shutil.rmtree(self._profile, ignore_errors=True)

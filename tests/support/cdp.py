"""A minimal Chrome DevTools Protocol client over its websocket, for browser e2e tests.

Starts Debian's headless Chromium with a fresh profile, opens one page and evaluates
JavaScript in it (and, with ``init_script``, before the page's own scripts), takes PNG
screenshots and reads them back (``decode_png``: stdlib only). No selenium, no chromedriver:
`websockets` only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import struct
import subprocess
import tempfile
import time
import urllib.request
import zlib
from dataclasses import dataclass
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

    async def screenshot(self, path: Path) -> bytes:
        """A PNG of the page, written to ``path`` (for humans) and returned (for checks)."""
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        data = base64.b64decode(shot["data"])
        await asyncio.to_thread(path.write_bytes, data)
        return data

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

    async def open(self, url: str, init_script: str | None = None) -> Page:
        """A new page at `url` with Runtime and Page domains enabled; ``init_script`` runs in
        it before any of the page's own scripts (e.g. to watch its ``fetch`` calls)."""
        ws_url = await asyncio.to_thread(self._new_target, "about:blank")
        ws = await websockets.connect(ws_url, max_size=64 * 1024 * 1024)
        page = Page(ws)
        await page.send("Runtime.enable")
        await page.send("Page.enable")
        if init_script:
            await page.send("Page.addScriptToEvaluateOnNewDocument", {"source": init_script})
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


@dataclass(frozen=True)
class Picture:
    """A decoded PNG: ``pixel(x, y)`` is (r, g, b, a), 8 bits each."""

    width: int
    height: int
    rgba: bytes

    def pixel(self, x: int, y: int) -> tuple[int, int, int, int]:
        at = (y * self.width + x) * 4
        r, g, b, a = self.rgba[at:at + 4]
        return r, g, b, a


def decode_png(data: bytes) -> Picture:
    """Decodes the PNGs Chromium writes (8-bit RGB or RGBA, not interlaced), stdlib only."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    at, idat, header = 8, bytearray(), None
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        at += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, color, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, color type {color}, "
                         f"interlace {interlace}")
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        _unfilter(kind, line, previous, channels)
        rows.append(line)
        previous = line
    pixels = b"".join(rows)
    if channels == 3:  # add an opaque alpha
        rgba = bytearray(width * height * 4)
        rgba[0::4], rgba[1::4], rgba[2::4] = pixels[0::3], pixels[1::3], pixels[2::3]
        rgba[3::4] = b"\xff" * (width * height)
        pixels = bytes(rgba)
    return Picture(width, height, pixels)


def _unfilter(kind: int, line: bytearray, above: bytearray, bpp: int) -> None:
    """Undoes one scanline's PNG filter in place (RFC 2083 section 6)."""
    if kind == 0:
        return
    if kind == 2:
        for i in range(len(line)):
            line[i] = (line[i] + above[i]) & 0xFF
        return
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + ((left + above[i]) >> 1)) & 0xFF
        elif kind == 4:
            up, corner = above[i], above[i - bpp] if i >= bpp else 0
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            line[i] = (line[i] + predictor) & 0xFF
        else:
            raise ValueError(f"unknown PNG filter {kind}")

"""The bettor's web page in a real headless Chromium against the real platform, as a person
sees it.

The platform is started as a newcomer would: `inplay up --demo --detach` in a fresh INPLAY_HOME
on free ports, logging in with the demo player it prints. Chromium (Debian's package, installed
here when missing) is driven over the DevTools protocol: the page must log in, play the live
video (frames advance), show odds, place a bet from the slip that then shows in the bets list,
and show a rejection's exact code. Logged out, only the login form may be seen (checked on the
elements and on a screenshot's pixels). Logged in, the odds follow the event's stream (no
polling of the event while it is live): an operator's odds change, score, bet stop and
re-opening show within seconds; the slip refuses a stopped selection; "My bets" names each bet
by its own event; without ?event= the page shows the event in play and moves on when it closes.

The demo event is read from GET /v1/events (in play, else the next scheduled); the tests that
change an event create their own (`e2e-web-...`), so the demo's own feed cannot race them.
Screenshots go to the artifacts directory (ARTIFACTS).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from cluster.api_client import ApiClient, ApiError, Call
from domain.ladder import ticks_away
from tests.support.cdp import Browser, Page, Picture, decode_png, ensure_chromium
from tests.support.platform import Platform, api

pytestmark = [pytest.mark.slow, pytest.mark.ray]

ROOT = Path(__file__).resolve().parents[2]
INPLAY = ROOT / ".venv" / "bin" / "inplay"
# `inplay up --demo` prints each demo player as "player: <username> / <password>".
CREDENTIALS = re.compile(r"player:\s*(\S+)\s*/\s*(\S+)")
ARTIFACTS = Path(tempfile.gettempdir()) / "inplay-e2e"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed by apt-get when missing (fails loudly if it cannot be)."""
    return ensure_chromium()


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    """A fresh headless Chromium (fresh profile) per test."""
    instance = Browser(chromium)
    await asyncio.to_thread(instance.start)
    yield instance
    await asyncio.to_thread(instance.stop)


async def log_in(page: Page, username: str, password: str) -> None:
    """Fill and submit the login form the way a person would."""
    await page.wait_for("document.readyState === 'complete'", 30, "the page to load")
    assert await page.evaluate("document.title") , "the page has no title"
    await page.evaluate(f"""(() => {{
        document.getElementById('username').value = {json.dumps(username)};
        document.getElementById('password').value = {json.dumps(password)};
        document.getElementById('login-form').requestSubmit(); return true; }})()""")
    await page.wait_for("sessionStorage.getItem('inplay.token')", 30, "the login to succeed")


async def assert_video_plays(page: Page, mode_prefix: str) -> None:
    """The <video> plays: currentTime and decoded frames both advance."""
    mode = await page.wait_for(
        "(() => { const m = document.getElementById('video-mode').textContent;"
        " return !m.includes('connecting') && m !== 'not available' && m; })()",
        60, "the video to start")
    assert mode.startswith(mode_prefix), f"video mode {mode!r}, wanted {mode_prefix}"
    probe = ("(() => { const v = document.getElementById('video');"
             " return [v.currentTime, v.getVideoPlaybackQuality().totalVideoFrames,"
             " v.paused, v.videoWidth]; })()")
    t0, frames0, _, _ = await page.evaluate(probe)
    await asyncio.sleep(3)
    t1, frames1, paused, width = await page.evaluate(probe)
    assert not paused and width > 0, f"video paused={paused} width={width}"
    assert t1 - t0 > 1.5, f"currentTime advanced {t1 - t0:.2f}s in 3s ({mode})"
    assert frames1 - frames0 >= 25, f"only {frames1 - frames0} frames in 3s ({mode})"


async def place_from_slip(page: Page, stake: str, policy: str) -> dict[str, str]:
    """Click the first open price, enter a stake and policy, place; the slip's outcome."""
    clicked = await page.evaluate("""(() => {
        const b = document.querySelector('#markets .price:not([disabled])');
        if (!b) return null; b.click(); return b.dataset.selectionId; })()""")
    assert clicked, "no open price to click"
    await page.evaluate(f"""(() => {{
        document.getElementById('stake').value = {json.dumps(stake)};
        document.querySelector('input[name=odds_change][value={policy}]').checked = true;
        document.getElementById('slip-result').replaceChildren();
        delete document.getElementById('slip-result').dataset.status;
        document.getElementById('slip').requestSubmit(); return true; }})()""")
    outcome: dict[str, str] = await page.wait_for(
        "(() => { const d = document.getElementById('slip-result').dataset;"
        " return d.status && d.status !== 'pending' ? {...d,"
        " text: document.getElementById('slip-result').textContent} : null; })()",
        60, "the bet's outcome on the slip")
    return outcome


# ------------------------------------------------------------------------------ helpers

# Counts the page's own fetch calls (installed before its scripts run).
FETCH_LOG = """(() => {
  const calls = [];
  const original = window.fetch;
  window.__fetches = calls;
  window.fetch = function (input, init) {
    const url = new URL(typeof input === "string" ? input : input.url, location.href);
    calls.push({ path: url.pathname, query: url.search,
                 method: ((init && init.method) || "GET").toUpperCase(), at: performance.now() });
    return original.apply(this, arguments);
  };
})();"""

LIVE_FIRST = {"in_play": 0, "suspended": 1, "scheduled": 2}


def listing(platform: Platform) -> list[dict[str, Any]]:
    """GET /v1/events: [{event_id, name, sport, status, starts_at}]."""
    with api(platform) as client:
        events: list[dict[str, Any]] = client.send(Call("GET", "/v1/events"))
    return events


def pick(events: list[dict[str, Any]], skip: frozenset[str] = frozenset(),
         own: bool = True) -> str | None:
    """The event the page should show: in play (else suspended), else the next scheduled."""
    candidates = [e for e in events if e["status"] in LIVE_FIRST and e["event_id"] not in skip
                  and (own or not e["event_id"].startswith("e2e-"))]
    candidates.sort(key=lambda e: (LIVE_FIRST[e["status"]], e["starts_at"]))
    return candidates[0]["event_id"] if candidates else None


def demo_event(platform: Platform) -> str:
    """The demo's event to show (its video is published): in play, else the next scheduled."""
    found = pick(listing(platform), own=False)
    assert found, "the demo has no event in play or scheduled"
    return found


@dataclass
class OwnEvent:
    """An event this test made (closed at the end): ids and names as the page should show."""

    event_id: str
    name: str
    body: dict[str, Any]

    def selection_name(self, market_id: str, selection_id: str) -> str:
        market = next(m for m in self.body["markets"] if m["market_id"] == market_id)
        return str(next(s["name"] for s in market["selections"]
                        if s["selection_id"] == selection_id))

    def market_name(self, market_id: str) -> str:
        return str(next(m["name"] for m in self.body["markets"] if m["market_id"] == market_id))


def make_event(client: ApiClient, token: str, label: str, *, in_play: bool,
               starts_at: str = "2001-01-01T12:00:00Z") -> OwnEvent:
    """A fresh event with a match result and an over/under market, no in-play delay."""
    event_id = f"e2e-web-{label}-{secrets.token_hex(4)}"
    name = f"{label.title()} Rovers v {label.title()} Athletic"
    body = {"event_id": event_id, "name": name, "sport": "soccer", "starts_at": starts_at,
            "markets": [
                {"market_id": "mw", "name": f"{label.title()} match result", "in_play_delay_s": 0,
                 "selections": [{"selection_id": "home", "name": f"{label.title()} Rovers",
                                 "price": "2.50"},
                                {"selection_id": "draw", "name": "Draw", "price": "3.20"},
                                {"selection_id": "away", "name": f"{label.title()} Athletic",
                                 "price": "2.80"}]},
                {"market_id": "ou25", "name": f"{label.title()} over/under 2.5",
                 "in_play_delay_s": 0,
                 "selections": [{"selection_id": "over", "name": "Over 2.5", "price": "1.90"},
                                {"selection_id": "under", "name": "Under 2.5",
                                 "price": "1.95"}]}]}
    client.create_event(token, body)
    if in_play:
        client.set_status(token, event_id, "in_play")
    return OwnEvent(event_id, name, body)


def close_quietly(client: ApiClient, token: str, event_id: str) -> None:
    with contextlib.suppress(ApiError):
        client.set_status(token, event_id, "closed")


def set_market_status(client: ApiClient, token: str, event_id: str, market_id: str,
                      status: str) -> None:
    """POST /v1/ops/events/{id}/markets/{market}/status: a bet stop ("suspended") or its end."""
    client.send(Call("POST", f"/v1/ops/events/{quote(event_id)}/markets/{market_id}/status",
                     {"status": status}, token=token))


def set_score(client: ApiClient, token: str, event_id: str, score: str) -> None:
    client.send(Call("POST", f"/v1/ops/events/{quote(event_id)}/score", {"score": score},
                     token=token))


@pytest.fixture
def operator(platform: Platform) -> Iterator[tuple[ApiClient, str]]:
    with api(platform) as client:
        yield client, platform.operator_token


@pytest.fixture
def own_event(operator: tuple[ApiClient, str]) -> Iterator[OwnEvent]:
    """An in-play event of this test's own, closed afterwards."""
    client, token = operator
    event = make_event(client, token, "stream", in_play=True)
    try:
        yield event
    finally:
        close_quietly(client, token, event.event_id)


async def save_failure(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with contextlib.suppress(Exception):
        await page.screenshot(ARTIFACTS / f"{name}.png")


async def event_reads(page: Page, event_id: str) -> int:
    """How many times the page has read GET /v1/events/{id} (the stream not counted)."""
    path = f"/v1/events/{quote(event_id, safe='')}"
    count: int = await page.evaluate(
        f"window.__fetches.filter((c) => c.method === 'GET' && c.path === {json.dumps(path)})"
        ".length")
    return count


async def wait_live(page: Page, limit_s: float = 30) -> None:
    await page.wait_for("document.getElementById('odds-feed').dataset.state === 'live'",
                        limit_s, "the odds stream to be live")


async def settle(page: Page) -> None:
    """Fonts loaded and two frames painted: what a screenshot then shows is what is there."""
    await page.evaluate("document.fonts.ready.then(() => new Promise((done) =>"
                        " requestAnimationFrame(() => requestAnimationFrame(() => done(true)))))")


def rgb(css: str) -> tuple[int, int, int]:
    """'rgb(15, 20, 25)' -> (15, 20, 25)."""
    found = re.findall(r"\d+", css)
    assert len(found) >= 3, css
    return int(found[0]), int(found[1]), int(found[2])


Box = tuple[int, int, int, int]


def off_color(picture: Picture, box: Box, color: tuple[int, int, int],
              holes: tuple[Box, ...] = (), tolerance: int = 2) -> tuple[int, Box | None]:
    """Pixels in `box` (x0, y0, x1, y1; end exclusive) but outside `holes` whose colour is not
    `color` (within `tolerance` per channel): their count and bounding box."""
    x0, y0, x1, y1 = box
    want = bytes((*color, 255))
    count, found = 0, None
    for y in range(max(0, y0), min(picture.height, y1)):
        spans = [(max(0, x0), min(picture.width, x1))]
        for hx0, hy0, hx1, hy1 in holes:
            if hy0 <= y < hy1:
                spans = [part for a, b in spans for part in ((a, min(b, hx0)), (max(a, hx1), b))
                         if part[0] < part[1]]
        for a, b in spans:
            row = picture.rgba[(y * picture.width + a) * 4:(y * picture.width + b) * 4]
            if row == want * (b - a):
                continue
            for x in range(a, b):
                r, g, bl, _ = picture.pixel(x, y)
                if max(abs(r - color[0]), abs(g - color[1]), abs(bl - color[2])) > tolerance:
                    count += 1
                    found = (x, y, x, y) if found is None else (
                        min(found[0], x), min(found[1], y), max(found[2], x), max(found[3], y))
    return count, found


# ------------------------------------------------------------------ the demo event, as before


async def test_bettor_page_video_odds_bet_and_rejection(platform: Platform, browser: Browser,
                                                        own_event: OwnEvent) -> None:
    page = await browser.open(f"{platform.url}/?event={quote(demo_event(platform))}")
    try:
        await log_in(page, platform.username, platform.password)
        prices = await page.wait_for(
            "document.querySelectorAll('#markets .price').length", 30, "odds to appear")
        assert prices >= 2
        assert await page.wait_for(
            "/\\d/.test(document.getElementById('balance').textContent)", 20, "the balance")

        await assert_video_plays(page, "WebRTC")

        # the bets go to an event of the test's own: the demo's match stops its markets on
        # every dangerous moment, and a stop during the in-play delay refuses the bet
        target = quote(own_event.event_id)
        await page.evaluate(f"location.assign('/?event={target}'); true")
        await page.wait_for(
            f"location.search.includes('{target}') && document.readyState === 'complete'"
            " && document.querySelectorAll('#markets .price:not([disabled])').length >= 2",
            30, "the test's own event on the page")
        accepted = await place_from_slip(page, "1.00", "any")
        assert accepted["status"] == "accepted", accepted
        bet_id = accepted["betId"]
        await page.wait_for(
            f"!!document.querySelector('#bets tr[data-bet-id=\"{bet_id}\"]')", 20,
            "the bet in the bets list")

        # A bettor who saw an older price and will not take another one: the slip must show
        # PRICE_CHANGED and offer the current price.
        current = await page.evaluate("""(() => {
            const b = document.querySelector('#markets .price:not([disabled])');
            b.click(); return b.dataset.price; })()""")
        stale = "1.01" if current != "1.01" else "1.02"
        await page.evaluate(f"state.slip.price = {json.dumps(stale)}; renderSlip(); true")
        await page.evaluate("""(() => {
            document.getElementById('stake').value = '1.00';
            document.querySelector('input[name=odds_change][value=none]').checked = true;
            document.getElementById('slip').requestSubmit(); return true; })()""")
        rejected = await page.wait_for(
            "(() => { const d = document.getElementById('slip-result').dataset;"
            " return d.code ? {...d, text: document.getElementById('slip-result').textContent,"
            " price: document.getElementById('slip-price').textContent} : null; })()",
            30, "the rejection on the slip")
        assert rejected["code"] == "PRICE_CHANGED", rejected
        assert "PRICE_CHANGED" in rejected["text"] and "current price" in rejected["text"]
        assert rejected["price"] != stale, "the slip should now offer the current price"
    except BaseException:
        await save_failure(page, "bettor_page_failure")
        raise
    finally:
        await page.close()


async def test_bettor_page_hls_fallback_plays(platform: Platform, browser: Browser) -> None:
    # `?video=hls` takes the path a browser without WebRTC takes: our MSE player over LL-HLS
    # (or the slower tiers the account is entitled to).
    page = await browser.open(f"{platform.url}/?event={quote(demo_event(platform))}&video=hls")
    try:
        await log_in(page, platform.username, platform.password)
        await assert_video_plays(page, "LL-HLS")
    finally:
        await page.close()


# ------------------------------------------------------------------ logged out: the login only

# Every element a person could see (rendered, with an area, on screen), but the login panel
# (and what is in it), the page's name in the header, and the containers around them.
VISIBLE_REPORT = """(() => {
  const login = document.getElementById('login-panel');
  const brand = document.querySelector('header h1');
  const box = (el) => { const r = el.getBoundingClientRect();
    return { x: r.x, y: r.y, w: r.width, h: r.height, right: r.right, bottom: r.bottom }; };
  const onScreen = (el) => { const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0
      && r.left < innerWidth && r.top < innerHeight; };
  const seen = (el) => el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })
    && onScreen(el);
  const stray = [...document.body.querySelectorAll('*')].filter((el) => seen(el)
    && !login.contains(el) && !brand.contains(el) && !el.contains(login) && !el.contains(brand)
    && !['SCRIPT', 'STYLE'].includes(el.tagName))
    .map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
      + (el.className && typeof el.className === 'string' ? '.' + el.className : ''));
  const sections = {};
  for (const sel of ['#login-panel', '#login-form', '#username', '#password', '#account',
                     '#logout', '#balance', '#app', '#video', '#odds', '#markets', '#slip',
                     '#slip-empty', '#bets', '#skip']) {
    const el = document.querySelector(sel);
    sections[sel] = el ? { visible: seen(el), ...box(el) } : null;
  }
  const panels = [...document.querySelectorAll('.panel')].filter((p) => p !== login)
    .map((p) => ({ visible: seen(p), ...box(p) }));
  return { stray, sections, panels, header: box(document.querySelector('header')),
    brand: box(brand), login: box(login), width: innerWidth, height: innerHeight,
    headerColor: getComputedStyle(document.querySelector('header')).backgroundColor,
    pageColor: getComputedStyle(document.body).backgroundColor };
})()"""


async def test_logged_out_visitor_sees_only_the_login_form(platform: Platform,
                                                           browser: Browser) -> None:
    page = await browser.open(f"{platform.url}/")
    try:
        await page.wait_for("document.readyState === 'complete'"
                            " && document.getElementById('login-panel').checkVisibility()",
                            30, "the login form")
        await settle(page)
        seen: dict[str, Any] = await page.evaluate(VISIBLE_REPORT)
        sections = seen["sections"]
        for sel in ("#login-panel", "#login-form", "#username", "#password"):
            assert sections[sel]["visible"] and sections[sel]["w"] > 0, (sel, sections[sel])
        for sel in ("#account", "#logout", "#balance", "#app", "#video", "#odds", "#markets",
                    "#slip", "#slip-empty", "#bets", "#skip"):
            hidden = sections[sel]
            assert not hidden["visible"] and hidden["w"] == 0 and hidden["h"] == 0, (sel, hidden)
        assert all(not p["visible"] and p["w"] == 0 for p in seen["panels"]), seen["panels"]
        assert seen["stray"] == [], f"seen logged out besides the login: {seen['stray']}"

        # The pixels: around the login form, only the page's background; in the header, right of
        # the page's name (where the balance and "Log out" go), only the header's.
        ARTIFACTS.mkdir(exist_ok=True)
        picture = decode_png(await page.screenshot(ARTIFACTS / "logged_out.png"))
        scale = picture.width / seen["width"]
        header, brand, login = seen["header"], seen["brand"], seen["login"]

        def px(v: float) -> int:
            return round(v * scale)

        header_area: Box = (px(brand["right"]) + 8, px(header["y"]) + 2, picture.width,
                            px(header["bottom"]) - 3)
        count, where = off_color(picture, header_area, rgb(seen["headerColor"]))
        assert count == 0, f"{count} pixels drawn in the header's account area, within {where}"
        main_area: Box = (0, px(header["bottom"]) + 2, picture.width, picture.height)
        login_box: Box = (px(login["x"]) - 6, px(login["y"]) - 6, px(login["right"]) + 6,
                          px(login["bottom"]) + 6)
        count, where = off_color(picture, main_area, rgb(seen["pageColor"]), (login_box,))
        assert count == 0, f"{count} pixels drawn outside the login form, within {where}"

        # The same check sees the panels once logged in (it can fail).
        await log_in(page, platform.username, platform.password)
        await page.wait_for("document.querySelectorAll('#markets .price').length"
                            " || /Nothing to bet/.test(document.getElementById('markets')"
                            ".textContent)", 30, "the odds panel")
        await settle(page)
        picture = decode_png(await page.screenshot(ARTIFACTS / "logged_in.png"))
        count, _ = off_color(picture, main_area, rgb(seen["pageColor"]), (login_box,))
        assert count > 10_000, "logged in, the panels should be drawn where the check looks"
        count, _ = off_color(picture, header_area, rgb(seen["headerColor"]))
        assert count > 0, "logged in, the balance and 'Log out' should be drawn in the header"
    except BaseException:
        await save_failure(page, "logged_out_failure")
        raise
    finally:
        await page.close()


# ------------------------------------------------------- logged in: the odds follow the stream


async def test_odds_and_score_follow_the_stream_without_polling(
        platform: Platform, browser: Browser, operator: tuple[ApiClient, str],
        own_event: OwnEvent) -> None:
    client, token = operator
    page = await browser.open(f"{platform.url}/?event={quote(own_event.event_id)}",
                              init_script=FETCH_LOG)
    try:
        await log_in(page, platform.username, platform.password)
        await page.wait_for("document.querySelectorAll('#markets .price').length >= 5",
                            30, "the odds")
        await wait_live(page)
        assert (await page.evaluate("document.getElementById('odds-feed').textContent")) \
            == "live"
        reads = await event_reads(page, own_event.event_id)
        assert reads >= 1  # the first load

        await asyncio.sleep(2.5)  # a polling page would have read the event twice by now
        button = ("document.querySelector('#markets .price[data-market-id=\"mw\"]"
                  "[data-selection-id=\"home\"]')")
        before = Decimal(await page.evaluate(f"{button}.dataset.price"))
        after = ticks_away(before, 3)
        client.set_odds(token, own_event.event_id, "mw", {"home": str(after)})
        started = time.monotonic()  # the change is made: now the page must show it
        await page.wait_for(f"Number({button}.dataset.price) === {float(after)}"
                            f" && {button}.textContent.includes({json.dumps(str(after))})",
                            5, f"the new price {after} on the page")
        took = time.monotonic() - started
        assert took < 3, f"the odds change took {took:.1f}s to show"

        set_score(client, token, own_event.event_id, "1-0")
        await page.wait_for("document.getElementById('event-score').textContent"
                            ".includes('1-0')", 5, "the score")
        await asyncio.sleep(1.5)
        assert await event_reads(page, own_event.event_id) == reads, \
            "the page read GET /v1/events/{id} while the stream was live (polling)"
        assert await page.evaluate("document.getElementById('odds-feed').dataset.state") \
            == "live"
        streams = await page.evaluate(
            "window.__fetches.filter((c) => c.path.endsWith('/stream')).length")
        assert streams == 1, f"the stream was opened {streams} times"
    except BaseException:
        await save_failure(page, "odds_stream_failure")
        raise
    finally:
        await page.close()


MARKET = "document.querySelector('#markets .market[data-market-id=\"ou25\"]')"
BET_STOP_STATE = f"""(() => {{
  const box = {MARKET};
  const stop = box.querySelector('.stop');
  const prices = [...box.querySelectorAll('.price')];
  const other = [...document.querySelectorAll('#markets .market[data-market-id="mw"] .price')];
  const slipStop = document.getElementById('slip-stop');
  return {{ label: stop && stop.checkVisibility() ? stop.textContent : null,
    disabled: prices.map((b) => b.disabled),
    shown: prices.map((b) => b.checkVisibility() && b.getBoundingClientRect().height > 0
      && /\\d/.test(b.textContent) ? b.dataset.price : null),
    otherDisabled: other.map((b) => b.disabled),
    slipStop: slipStop.checkVisibility() ? slipStop.textContent : null,
    place: document.getElementById('place').disabled }};
}})()"""


async def test_bet_stop_disables_prices_with_its_label_and_the_slip_refuses(
        platform: Platform, browser: Browser, operator: tuple[ApiClient, str],
        own_event: OwnEvent) -> None:
    client, token = operator
    page = await browser.open(f"{platform.url}/?event={quote(own_event.event_id)}",
                              init_script=FETCH_LOG)
    try:
        await log_in(page, platform.username, platform.password)
        await page.wait_for(f"{MARKET} && {MARKET}.querySelectorAll('.price').length === 2",
                            30, "the over/under market")
        await wait_live(page)
        await page.evaluate(f"{MARKET}.querySelector('.price[data-selection-id=\"over\"]')"
                            ".click(); true")
        await page.wait_for("document.getElementById('slip').checkVisibility()", 5, "the slip")
        before = await page.evaluate(BET_STOP_STATE)
        assert before["label"] is None and before["disabled"] == [False, False], before
        assert before["slipStop"] is None and before["place"] is False, before

        set_market_status(client, token, own_event.event_id, "ou25", "suspended")
        started = time.monotonic()
        stopped = await page.wait_for(
            f"(() => {{ const s = {BET_STOP_STATE}; return s.label ? s : null; }})()",
            5, "the bet stop's label")
        assert time.monotonic() - started < 3, "the bet stop took over 3 s to show"
        assert stopped["label"].startswith("Bet stop"), stopped
        assert stopped["disabled"] == [True, True], stopped
        assert stopped["shown"] == ["1.90", "1.95"], "a stopped market's prices stay visible"
        assert stopped["otherDisabled"] == [False, False, False], "only ou25 is stopped"
        assert stopped["slipStop"] and stopped["slipStop"].startswith("Bet stop"), stopped
        assert stopped["place"] is True, stopped
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(ARTIFACTS / "bet_stop.png")

        # Submitting anyway (Enter, a script): refused on the page, nothing sent.
        await page.evaluate("""(() => {
            document.getElementById('stake').value = '1.00';
            document.getElementById('slip').requestSubmit(); return true; })()""")
        refused = await page.wait_for(
            "document.getElementById('slip-result').dataset.code || null", 5, "the refusal")
        assert refused == "MARKET_SUSPENDED"
        posts = await page.evaluate(
            "window.__fetches.filter((c) => c.method === 'POST' && c.path === '/v1/bets')"
            ".length")
        assert posts == 0, "a bet on a stopped market was sent"

        set_market_status(client, token, own_event.event_id, "ou25", "open")
        reopened = await page.wait_for(
            f"(() => {{ const s = {BET_STOP_STATE};"
            " return s.label === null && !s.disabled.includes(true) ? s : null; })()",
            5, "the label to go when the market re-opens")
        assert reopened["slipStop"] is None and reopened["place"] is False, reopened
    except BaseException:
        await save_failure(page, "bet_stop_failure")
        raise
    finally:
        with contextlib.suppress(ApiError):
            set_market_status(client, token, own_event.event_id, "ou25", "open")
        await page.close()


# --------------------------------------------------------- "My bets": each bet's own names


async def test_my_bets_name_each_bet_by_its_own_event(
        platform: Platform, browser: Browser, operator: tuple[ApiClient, str],
        own_event: OwnEvent) -> None:
    client, token = operator
    # Another event whose market and selection ids are the shown one's, with other names.
    other = make_event(client, token, "names", in_play=False,
                       starts_at="2099-01-01T12:00:00Z")
    try:
        player = client.login(platform.username, platform.password)["token"]
        here = client.place_bet(player, own_event.event_id, "mw", "home", "1.00", "2.50",
                                odds_change="any")
        there = client.place_bet(player, other.event_id, "mw", "home", "1.00", "2.50",
                                 odds_change="any")
        page = await browser.open(f"{platform.url}/?event={quote(own_event.event_id)}",
                                  init_script=FETCH_LOG)
        try:
            await log_in(page, platform.username, platform.password)
            row = ("(() => { const tr = document.querySelector('#bets tr[data-bet-id=\"' + %s"
                   " + '\"]'); if (!tr) return null; const t = (c) =>"
                   " tr.querySelector(c).textContent; return {event: t('.bet-event'),"
                   " market: t('.bet-market'), selection: t('.bet-selection')}; })()")
            want_there = {"event": other.name, "market": other.market_name("mw"),
                          "selection": other.selection_name("mw", "home")}
            got_there = await page.wait_for(
                f"(() => {{ const r = {row % json.dumps(there['bet_id'])};"
                f" return r && r.event === {json.dumps(other.name)} ? r : null; }})()",
                30, "the other event's bet with its own names")
            assert got_there == want_there
            got_here = await page.wait_for(row % json.dumps(here["bet_id"]), 10,
                                           "the shown event's bet")
            assert got_here == {"event": own_event.name,
                                "market": own_event.market_name("mw"),
                                "selection": own_event.selection_name("mw", "home")}
            await asyncio.sleep(6)  # the account refreshes every 5 s: the names stay cached
            assert await event_reads(page, other.event_id) == 1, \
                "the other event's names should be read once"
        except BaseException:
            await save_failure(page, "my_bets_failure")
            raise
        finally:
            await page.close()
    finally:
        close_quietly(client, token, other.event_id)


# ----------------------------------------------- no ?event=: the event in play, then the next


async def test_page_shows_the_event_in_play_then_the_next_when_it_closes(
        platform: Platform, browser: Browser, operator: tuple[ApiClient, str],
        own_event: OwnEvent) -> None:
    client, token = operator
    expected = pick(listing(platform))
    assert expected == own_event.event_id, "in play and starting first: the page's pick"
    page = await browser.open(f"{platform.url}/", init_script=FETCH_LOG)
    try:
        await log_in(page, platform.username, platform.password)
        shown = await page.wait_for("window.state && window.state.eventId", 30, "an event")
        assert shown == own_event.event_id
        await page.wait_for(f"document.getElementById('event-name').textContent"
                            f" === {json.dumps(own_event.name)}", 20, "the event's name")
        await wait_live(page)
        set_score(client, token, own_event.event_id, "2-1")
        await page.wait_for("document.getElementById('event-score').textContent"
                            ".includes('2-1')", 5, "the score")

        client.set_status(token, own_event.event_id, "closed")
        await page.wait_for("document.getElementById('event-status').dataset.status"
                            " === 'closed'", 5, "the event shown closed")
        moved = await page.wait_for(
            f"window.state.eventId !== {json.dumps(own_event.event_id)}"
            " && document.getElementById('markets').querySelector('.price, p')"
            " && (window.state.eventId || 'none')", 30, "the page to move to the next event")
        after = listing(platform)
        nxt = pick(after, skip=frozenset({own_event.event_id}))
        assert moved == (nxt or "none"), \
            f"moved to {moved}, the next in play or scheduled is {nxt}"
        if nxt is not None:
            name = next(e["name"] for e in after if e["event_id"] == nxt)
            await page.wait_for(f"document.getElementById('event-name').textContent"
                                f" === {json.dumps(name)}", 20, "the next event's name")
    except BaseException:
        await save_failure(page, "next_event_failure")
        raise
    finally:
        await page.close()

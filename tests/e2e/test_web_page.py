"""The bettor's web page in a real headless Chromium against the real platform.

The platform is started as a newcomer would: `inplay up --demo --detach` in a fresh INPLAY_HOME
on free ports, logging in with the demo player it prints. Chromium (Debian's package, installed
here when missing) is driven over the DevTools protocol: the page must log in, play the live
video (frames advance), show odds, place a bet from the slip that then shows in the bets list,
and show a rejection's exact code.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.cdp import Browser, Page, ensure_chromium
from tests.support.platform import Platform

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


async def test_bettor_page_video_odds_bet_and_rejection(platform: Platform,
                                                        browser: Browser) -> None:
    page = await browser.open(f"{platform.url}/?event=demo-match")
    try:
        await log_in(page, platform.username, platform.password)
        prices = await page.wait_for(
            "document.querySelectorAll('#markets .price').length", 30, "odds to appear")
        assert prices >= 2
        assert await page.wait_for(
            "/\\d/.test(document.getElementById('balance').textContent)", 20, "the balance")

        await assert_video_plays(page, "WebRTC")

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
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(ARTIFACTS / "bettor_page_failure.png")
        raise
    finally:
        await page.close()


async def test_bettor_page_hls_fallback_plays(platform: Platform, browser: Browser) -> None:
    # `?video=hls` takes the path a browser without WebRTC takes: our MSE player over LL-HLS
    # (or the slower tiers the account is entitled to).
    page = await browser.open(f"{platform.url}/?event=demo-match&video=hls")
    try:
        await log_in(page, platform.username, platform.password)
        await assert_video_plays(page, "LL-HLS")
    finally:
        await page.close()

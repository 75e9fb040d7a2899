"""The web page router: content types, no directory traversal, the page's own contract."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from serve_apps.web import STATIC_DIR, resolve_static, web_router


def _client() -> TestClient:
    app = FastAPI()
    app.include_router(web_router())
    return TestClient(app)


def test_page_and_assets_are_served_with_their_types() -> None:
    client = _client()
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        answer = client.get(f"/static/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind)
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_no_directory_traversal(tmp_path: Path) -> None:
    client = _client()
    for path in ("/static/../web.py", "/static/%2e%2e/web.py", "/static/..%2fweb.py",
                 "/static/%2e%2e%2f%2e%2e%2fpyproject.toml", "/static//etc/passwd",
                 "/static/", "/static/nothere.js"):
        assert client.get(path).status_code == 404, path
    (tmp_path / "ok.js").write_text("1")
    (tmp_path / ".hidden.js").write_text("1")
    (tmp_path / "notes.txt").write_text("1")
    outside = tmp_path.parent / "outside.js"
    outside.write_text("1")
    (tmp_path / "link.js").symlink_to(outside)
    assert resolve_static("ok.js", tmp_path) == (tmp_path / "ok.js").resolve()
    for name in ("../outside.js", "link.js", ".hidden.js", "notes.txt", "/etc/passwd", "",
                 "a\\..\\b.js", "ok.js\x00"):
        assert resolve_static(name, tmp_path) is None, name


def test_page_is_self_contained_and_labelled() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    script = (STATIC_DIR / "app.js").read_text()
    # No CDN, no external origin, no inline script (the CSP forbids it).
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "http://" not in script and "https://" not in script
    assert not re.search(r"<script>(?!</script>)", html)
    # Every input has a label; results and odds changes are announced.
    for ident in re.findall(r'<input id="([^"]+)"', html):
        assert f'for="{ident}"' in html, ident
    assert 'id="slip-result"' in html and 'aria-live="assertive"' in html
    assert 'id="odds-announce"' in html and 'aria-live="polite"' in html
    # The contract the page is written against.
    for needle in ('"Idempotency-Key"', "crypto.randomUUID()", "/v1/sessions", "/whep",
                   '"Content-Type": "application/sdp"', "iceGatheringState", "/stream",
                   "text/event-stream", "/v1/wallet", "/v1/bets", "MediaSource", "_HLS_msn",
                   "sessionStorage", "price_version", "odds_change"):
        assert needle in script, needle

"""The web page router: content types, no directory traversal, the page's own contract."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from serve_apps.web import STATIC_DIR, resolve_static, web_router

VENDOR = STATIC_DIR / "vendor"


def _client() -> TestClient:
    app = FastAPI()
    app.include_router(web_router())
    return TestClient(app)


def _own_scripts() -> dict[str, str]:
    """The page's own modules (not vendor/), by name."""
    return {p.name: p.read_text() for p in sorted(STATIC_DIR.glob("*.js"))}


def test_page_and_assets_are_served_with_their_types() -> None:
    client = _client()
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    names = [*_own_scripts(), "app.css"]
    assert len(names) > 5, "app.js is split into modules"
    for name in names:
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        answer = client.get(f"/static/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith(kind), name
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_vendored_hls_js_is_served_as_javascript_byte_for_byte() -> None:
    answer = _client().get("/static/vendor/hls.min.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
    assert answer.content == (VENDOR / "hls.min.js").read_bytes()
    # Its licence and notes stay in the repository: no served type.
    for name in ("LICENSE", "README.md"):
        assert (VENDOR / name).is_file(), name
        assert _client().get(f"/static/vendor/{name}").status_code == 404, name


def test_mjs_modules_are_served_as_javascript(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "mod.mjs").write_text("export const a = 1;\n")
    app = FastAPI()
    app.include_router(web_router(tmp_path))
    answer = TestClient(app).get("/static/mod.mjs")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/javascript; charset=utf-8"


def test_package_json_is_for_node_not_browsers(tmp_path: Path) -> None:
    # serve_apps/static/package.json marks the modules as ES modules for `node --check`.
    assert (STATIC_DIR / "package.json").is_file()
    client = _client()
    for path in ("/static/package.json", "/static/./package.json",
                 "/static/vendor/../package.json"):
        assert client.get(path).status_code == 404, path
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "package.json").write_text("{}")
    (tmp_path / "data.json").write_text("{}")
    assert resolve_static("package.json", tmp_path) is None
    assert resolve_static("sub/package.json", tmp_path) is None
    assert resolve_static("data.json", tmp_path) == (tmp_path / "data.json").resolve()


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
    scripts = _own_scripts()
    script = "\n".join(scripts.values())
    # No CDN, no external origin, no inline script (the CSP forbids it).
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "http://" not in script and "https://" not in script
    assert not re.search(r"<script[^>]*>(?!</script>)", html)
    assert '<script type="module" src="/static/app.js"></script>' in html
    # No eval-like code either (the CSP has no 'unsafe-eval').
    for name, source in scripts.items():
        assert not re.search(r"\beval\(|new Function\(|\bimport\s+\w+\s+from\s+\"(https?:)?//",
                             source), name
    # Every input has a label; results and odds changes are announced.
    for ident in re.findall(r'<input id="([^"]+)"', html):
        assert f'for="{ident}"' in html, ident
    assert 'id="slip-result"' in html and 'aria-live="assertive"' in html
    assert 'id="odds-announce"' in html and 'aria-live="polite"' in html
    # The contract the page is written against.
    for needle in ('"Idempotency-Key"', "crypto.randomUUID()", "/v1/sessions", "/whep",
                   '"Content-Type": "application/sdp"', "iceGatheringState", "/stream",
                   "text/event-stream", "/v1/wallet", "/v1/bets", "sessionStorage",
                   "price_version", "odds_change", "/index.m3u8", "lowLatencyMode: true",
                   "xhrSetup", '"Authorization"', "/static/vendor/hls.min.js",
                   '"hls", "LL-HLS"', '"hls-standard", "HLS"', '"hls-delayed", "delayed HLS"'):
        assert needle in script, needle
    # The hand-written MSE player is gone: hls.js plays HLS.
    assert "MediaSource" not in script and "appendBuffer" not in script


def test_browser_test_hooks_and_ids_are_kept() -> None:
    # tests/e2e/test_web_page.py drives the page through these (see test_web_js.py too).
    html = (STATIC_DIR / "index.html").read_text()
    for ident in ("username", "password", "login-form", "markets", "balance", "video",
                  "video-mode", "stake", "slip", "slip-result", "slip-price", "bets"):
        assert f'id="{ident}"' in html, ident
    for value in ("none", "higher", "any"):
        assert f'name="odds_change" value="{value}"' in html, value
    app = (STATIC_DIR / "app.js").read_text()
    assert "window.state = state;" in app and "window.renderSlip = renderSlip;" in app
    assert '"inplay.token"' in (STATIC_DIR / "state.js").read_text()

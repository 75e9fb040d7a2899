"""The web page's JavaScript, checked without a browser: `node --check` on every module,
imports and /static/ URLs that point at files that exist, and the modules loaded in node with
a stub DOM (the hooks tests/e2e/test_web_page.py uses, the HLS tier fall-through).

node is required, not optional: without it these tests fail and say how to get it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from serve_apps.web import STATIC_DIR, resolve_static

NODE = shutil.which("node") or "/usr/bin/node"
VENDOR = STATIC_DIR / "vendor"
# import x from "./a.js" / import {a} from "./a.js" / import "./a.js" / export {a} from "./a.js"
# / import("./a.js")
STATIC_IMPORT = re.compile(
    r"""^\s*(?:import|export)\s*(?:[\w\s{},*$]+?\sfrom\s*)?["']([^"']+)["']""", re.MULTILINE)
DYNAMIC_IMPORT = re.compile(r"""\bimport\(\s*["']([^"']+)["']\s*\)""")
STATIC_URL = re.compile(r"""["'](/static/[^"'?#]+)""")


def _modules() -> list[Path]:
    """Every .js/.mjs under serve_apps/static but the vendored minified builds."""
    found = [p for p in sorted(STATIC_DIR.rglob("*")) if p.suffix in (".js", ".mjs")]
    return [p for p in found if not (p.is_relative_to(VENDOR) and ".min." in p.name)]


def _node() -> str:
    if not Path(NODE).exists():
        pytest.fail("node is not installed: the web page's JavaScript cannot be checked. "
                    "Install Node.js 18 or newer (Debian: apt-get install nodejs) so that "
                    "`node` is on PATH or at /usr/bin/node.", pytrace=False)
    return NODE


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_node(), *args], capture_output=True, text=True, timeout=60,
                          check=False, **kwargs)  # type: ignore[call-overload]


def _imports(source: str) -> list[str]:
    return STATIC_IMPORT.findall(source) + DYNAMIC_IMPORT.findall(source)


def test_there_are_modules_to_check() -> None:
    names = {p.relative_to(STATIC_DIR).as_posix() for p in _modules()}
    assert {"app.js", "api.js", "video.js", "hls-player.js"} <= names, names
    assert not any(name.startswith("vendor/") for name in names)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(STATIC_DIR).as_posix())
def test_node_check(path: Path) -> None:
    done = _run(["--check", str(path)])
    assert done.returncode == 0, f"node --check {path.name}:\n{done.stderr}"


def test_package_json_makes_node_read_the_modules_as_es_modules(tmp_path: Path) -> None:
    package = json.loads((STATIC_DIR / "package.json").read_text())
    assert package["type"] == "module"
    # A module is strict code: `with` is fine in a script and a syntax error in a module.
    (tmp_path / "sloppy.js").write_text("with (Math) { max(1, 2); }\n")
    (tmp_path / "good.js").write_text('import { a } from "./a.js";\nexport const b = a;\n')
    (tmp_path / "bad.js").write_text("export const = 1;\n")
    assert _run(["--check", str(tmp_path / "sloppy.js")]).returncode == 0
    shutil.copy(STATIC_DIR / "package.json", tmp_path / "package.json")
    assert _run(["--check", str(tmp_path / "sloppy.js")]).returncode != 0
    assert _run(["--check", str(tmp_path / "good.js")]).returncode == 0
    assert _run(["--check", str(tmp_path / "bad.js")]).returncode != 0


def test_imports_point_at_files_that_exist_and_form_no_cycle() -> None:
    graph: dict[Path, list[Path]] = {}
    for path in _modules():
        graph[path] = []
        for spec in _imports(path.read_text()):
            assert spec.startswith(("./", "../")), f"{path.name}: import {spec!r} is not relative"
            target = (path.parent / spec).resolve()
            assert target.is_file(), f"{path.name}: import {spec!r}: no such file"
            assert target.is_relative_to(STATIC_DIR.resolve()), f"{path.name}: {spec!r}"
            graph[path].append(target)
    assert any(graph.values()), "no imports found: is the pattern broken?"
    done: set[Path] = set()

    def visit(node: Path, trail: tuple[Path, ...]) -> None:
        assert node not in trail, "import cycle: " + " -> ".join(p.name for p in (*trail, node))
        if node not in done:
            for nxt in graph.get(node, []):
                visit(nxt, (*trail, node))
            done.add(node)

    for node in graph:
        visit(node, ())
    # Every module is reachable from the page's entry point (no dead files).
    reachable, todo = set(), [STATIC_DIR.resolve() / "app.js"]
    while todo:
        node = todo.pop()
        if node not in reachable:
            reachable.add(node)
            todo += graph.get(node, [])
    assert {p.resolve() for p in graph} <= reachable


def test_urls_under_static_name_files_that_are_served() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    referenced = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert "/static/app.js" in referenced and "/static/app.css" in referenced
    for path in _modules():
        referenced += STATIC_URL.findall(path.read_text())
    assert "/static/vendor/hls.min.js" in referenced
    for url in referenced:
        assert resolve_static(url.removeprefix("/static/")) is not None, url


def test_vendored_hls_js_is_the_recorded_build() -> None:
    notes = (VENDOR / "README.md").read_text()
    version = re.search(r"^## hls\.js (\d+\.\d+\.\d+)$", notes, re.MULTILINE)
    recorded = re.search(r"sha256 of `hls\.min\.js`: `([0-9a-f]{64})`", notes)
    assert version and recorded, "vendor/README.md must give the version and the sha256"
    build = (VENDOR / "hls.min.js").read_bytes()
    assert hashlib.sha256(build).hexdigest() == recorded.group(1), "refresh vendor/README.md"
    assert f'"{version.group(1)}"'.encode() in build, "the build is not the version recorded"
    assert "Apache License" in (VENDOR / "LICENSE").read_text()


# A stub browser, enough for the modules to load and run a few steps in node.
_HARNESS = r"""
const elements = new Map();
const element = (id) => {
  if (!elements.has(id)) {
    elements.set(id, { id, hidden: false, textContent: "", value: "", dataset: {}, listeners: {},
      addEventListener(type, fn) { this.listeners[type] = fn; }, focus() {},
      removeAttribute() {}, load() {}, play: () => Promise.resolve(),
      canPlayType: () => "", readyState: 0, currentTime: 0, srcObject: null });
  }
  return elements.get(id);
};
const storage = new Map();
const windowListeners = [];
globalThis.window = globalThis;
globalThis.location = { search: process.env.SEARCH || "" };
globalThis.sessionStorage = { getItem: (k) => storage.get(k) ?? null,
  setItem: (k, v) => storage.set(k, String(v)), removeItem: (k) => storage.delete(k) };
globalThis.addEventListener = (type) => windowListeners.push(type);
globalThis.document = { readyState: "complete", title: "", getElementById: element,
  addEventListener() { throw new Error("the page should start at once when loaded late"); } };
const out = { console: [] };
const log = (...a) => out.console.push(a.join(" "));
"""

_PAGE_HOOKS = r"""
await import(process.env.MODULE);
out.loginShown = !element("login-panel").hidden && element("app").hidden;
out.listeners = Object.fromEntries([...elements].filter(([, e]) => Object.keys(e.listeners).length)
  .map(([id, e]) => [id, Object.keys(e.listeners)]));
out.window = windowListeners;
out.stateType = typeof window.state;
out.renderSlipType = typeof window.renderSlip;
window.state.slip = { market_id: "m1", selection_id: "s1", name: "Home", market_name: "Winner",
  price: "2.50", price_version: 7 };
// What tests/e2e/test_web_page.py evaluates in the page, word for word.
out.evaluated = globalThis.eval('state.slip.price = "1.01"; renderSlip(); true');
out.slipPrice = element("slip-price").textContent;
out.slipSelection = element("slip-selection").textContent;
console.log(JSON.stringify(out));
"""

_HLS_TIERS = r"""
// A stand-in for hls.js: LL-HLS answers 403 (not entitled), standard HLS plays.
const made = [];
class FakeHls {
  static Events = { ERROR: "error", MANIFEST_PARSED: "parsed", LEVEL_LOADED: "level" };
  static isSupported() { return true; }
  constructor(config) { this.config = config; this.handlers = {}; made.push(this); }
  on(name, fn) { this.handlers[name] = fn; }
  attachMedia(video) { this.video = video; }
  loadSource(url) {
    this.url = url;
    const xhr = { opened: null, headers: {}, open(m, u) { this.opened = [m, u]; },
      setRequestHeader(k, v) { this.headers[k] = v; } };
    this.config.xhrSetup(xhr, url + "?_HLS_msn=3&_HLS_part=1");
    this.xhr = xhr;
    setTimeout(() => {
      if (url.includes("/hls/")) {
        this.handlers.error("error", { fatal: true, details: "manifestLoadError",
          response: { code: 403, text: "Forbidden" },
          networkDetails: { responseText: JSON.stringify({ code: "MEDIA_TIER_NOT_ALLOWED" }) } });
        return;
      }
      this.handlers.level("level", { details: { partList: null, targetduration: 1 } });
      this.handlers.parsed("parsed", {});
      this.video.readyState = 4;
      this.timer = setInterval(() => { this.video.currentTime += 0.1; }, 50);
    }, 10);
  }
  destroy() { this.destroyed = true; clearInterval(this.timer); }
}
window.Hls = FakeHls;
const { state } = await import(new URL("state.js", process.env.MODULE));
state.token = "tok-123";
const { startVideo } = await import(process.env.MODULE);
const ctl = startVideo(element("video"), "demo match");
const t0 = Date.now();
while (!/^HLS$|not available/.test(element("video-mode").textContent) && Date.now() - t0 < 5000) {
  await new Promise((r) => setTimeout(r, 50));
}
out.mode = element("video-mode").textContent;
out.note = element("video-note").textContent;
out.players = made.map((h) => ({ url: h.url, config: { lowLatencyMode: h.config.lowLatencyMode,
  enableWorker: h.config.enableWorker }, opened: h.xhr.opened, headers: h.xhr.headers,
  destroyed: !!h.destroyed }));
ctl.stop();
out.stoppedAll = made.every((h) => h.destroyed);
console.log(JSON.stringify(out));
process.exit(0);
"""


def _harness(script: str, module: str, search: str = "") -> dict[str, object]:
    env = {**os.environ, "MODULE": (STATIC_DIR / module).resolve().as_uri(), "SEARCH": search}
    done = _run(["--input-type=module", "-e", _HARNESS + script], env=env)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_modules_link_and_keep_the_browser_tests_hooks() -> None:
    # Linking every module also proves each imported name is exported.
    page = _harness(_PAGE_HOOKS, "app.js")
    assert page["loginShown"] is True  # no token: the login form
    assert page["listeners"] == {"login-form": ["submit"], "logout": ["click"],
                                 "slip": ["submit"], "slip-clear": ["click"]}
    assert page["window"] == ["pagehide"]
    assert page["stateType"] == "object" and page["renderSlipType"] == "function"
    assert page["evaluated"] is True
    assert page["slipPrice"] == "1.01" and page["slipSelection"] == "Home — Winner"


def test_hls_tiers_fall_through_on_403_with_the_bearer_token() -> None:
    video = _harness(_HLS_TIERS, "video.js", search="?video=hls")
    assert video["mode"] == "HLS", video
    players = video["players"]
    assert isinstance(players, list) and len(players) == 2, players
    ll, standard = players
    assert ll["url"] == "/v1/media/demo%20match/hls/index.m3u8"
    assert standard["url"] == "/v1/media/demo%20match/hls-standard/index.m3u8"
    for player in players:
        assert player["config"] == {"lowLatencyMode": True, "enableWorker": False}
        assert player["headers"] == {"Authorization": "Bearer tok-123"}
        assert player["opened"] == ["GET", player["url"] + "?_HLS_msn=3&_HLS_part=1"]
    assert ll["destroyed"] is True  # the refused tier was torn down
    assert video["stoppedAll"] is True

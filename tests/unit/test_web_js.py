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
from typing import Any

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


# A stub browser, enough for the modules to load and run a few steps in node: elements by id
# (made on first use), createElement, text, attributes, classes, dataset, listeners and a
# querySelector(All) for simple selectors (tag, .class, [attr], [attr="value"]; the last
# compound of a descendant selector).
_HARNESS = r"""
const toKey = (name) => name.replace(/^data-/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
function matches(node, compound) {
  const m = /^([a-zA-Z0-9]*)((?:\.[\w-]+)*)((?:\[[^\]]+\])*)$/.exec(compound);
  if (!m || !node.tagName) return false;
  if (m[1] && node.tagName !== m[1].toUpperCase()) return false;
  for (const c of m[2].split(".").filter(Boolean)) if (!node.classList.contains(c)) return false;
  for (const [, name, value] of m[3].matchAll(/\[([\w-]+)(?:="([^"]*)")?\]/g)) {
    const have = name.startsWith("data-") ? node.dataset[toKey(name)]
      : name === "disabled" ? (node.disabled ? "" : undefined) : node.attributes[name];
    if (have === undefined || (value !== undefined && String(have) !== value)) return false;
  }
  return true;
}
class El {
  constructor(tag, id = "") {
    Object.assign(this, { tagName: tag.toUpperCase(), id, hidden: false, _text: "", children: [],
      parent: null, className: "", dataset: {}, attributes: {}, listeners: {}, disabled: false,
      value: "", readyState: 0, currentTime: 0, srcObject: null });
  }
  get classList() {
    const el = this;
    const list = () => el.className.split(/\s+/).filter(Boolean);
    return { contains: (c) => list().includes(c),
      add: (...c) => { el.className = [...new Set([...list(), ...c])].join(" "); },
      remove: (...c) => { el.className = list().filter((x) => !c.includes(x)).join(" "); } };
  }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); }
  set textContent(v) {
    this._text = v === undefined || v === null ? "" : String(v);
    this.children = [];
  }
  append(...nodes) {
    for (const n of nodes) {
      const child = typeof n === "string" ? { textContent: n } : n;
      child.parent = this;
      this.children.push(child);
    }
  }
  replaceChildren(...nodes) { this._text = ""; this.children = []; this.append(...nodes); }
  setAttribute(k, v) { this.attributes[k] = String(v); }
  getAttribute(k) { return this.attributes[k] ?? null; }
  removeAttribute(k) { delete this.attributes[k]; }
  addEventListener(type, fn) { this.listeners[type] = fn; }
  focus() { document.activeElement = this; }
  click() { if (!this.disabled && this.listeners.click) this.listeners.click({}); }
  closest(sel) { for (let n = this; n; n = n.parent) if (matches(n, sel)) return n; return null; }
  all() { return this.children.filter((c) => c.tagName).flatMap((c) => [c, ...c.all()]); }
  querySelectorAll(sel) {
    const parts = sel.split(",").map((s) => s.trim().split(/\s+/).pop());
    return this.all().filter((n) => parts.some((p) => matches(n, p)));
  }
  querySelector(sel) { return this.querySelectorAll(sel)[0] || null; }
  load() {}
  play() { return Promise.resolve(); }
  canPlayType() { return ""; }
}
const elements = new Map();
const element = (id) => {
  if (!elements.has(id)) elements.set(id, new El(id === "bets" ? "table" : "div", id));
  return elements.get(id);
};
element("bets").append(new El("tbody"));
const storage = new Map();
const windowListeners = [];
globalThis.window = globalThis;
globalThis.location = { search: process.env.SEARCH || "" };
globalThis.sessionStorage = { getItem: (k) => storage.get(k) ?? null,
  setItem: (k, v) => storage.set(k, String(v)), removeItem: (k) => storage.delete(k) };
globalThis.addEventListener = (type) => windowListeners.push(type);
globalThis.CSS = { escape: (s) => String(s) };
globalThis.document = { readyState: "complete", title: "", activeElement: null,
  getElementById: element, createElement: (tag) => new El(tag),
  createTextNode: (s) => ({ textContent: String(s) }),
  addEventListener() { throw new Error("the page should start at once when loaded late"); } };
const out = { console: [] };
const log = (...a) => out.console.push(a.join(" "));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const until = async (test, ms = 5000) => { // fails the script (loudly) on a timeout
  const t0 = Date.now();
  while (!test()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out: ${test}`);
    await sleep(10);
  }
  return true;
};
const mod = (name) => import(new URL(name, process.env.MODULE).href);
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


def _harness(script: str, module: str, search: str = "",
             extra: dict[str, str] | None = None) -> dict[str, Any]:
    env = {**os.environ, "MODULE": (STATIC_DIR / module).resolve().as_uri(), "SEARCH": search,
           **(extra or {})}
    done = _run(["--input-type=module", "-e", _HARNESS + script], env=env)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
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


# ------------------------------------------------------------------ the odds stream (sse.js)

_SSE_PARSER = r"""
const { SseParser } = await mod("sse.js");
const stream = JSON.parse(process.env.STREAM);
const run = (chunks) => {
  const p = new SseParser();
  const got = chunks.flatMap((c) => p.push(c));
  return { got, lastEventId: p.lastEventId, retry: p.retry, comments: p.comments,
    rest: p.end() };
};
const whole = run([stream]);
const byChar = run([...stream]);
let seed = 7;
const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
const random = [];
for (let i = 0, n = 1; i < stream.length; i += n) {
  n = 1 + Math.floor(rnd() * 9);
  random.push(stream.slice(i, i + n));
}
// a CR at the end of one chunk and its LF at the start of the next make one line end
const crlfSplit = run(stream.split(/(?<=\r)(?=\n)/));
out.whole = whole;
out.same = [byChar, run(random), crlfSplit].map((r) => JSON.stringify(r) === JSON.stringify(whole));
out.crlfChunks = stream.split(/(?<=\r)(?=\n)/).length;
console.log(JSON.stringify(out));
"""

_SSE_STREAM = (
    "\ufeff: hello\r\n\r\n"  # BOM, then a comment-only block: nothing dispatched
    "id: 7\nevent: snapshot\ndata: {\"version\": 7,\ndata:  \"x\": 1}\n\n"  # two data lines
    "event: odds\r\nid:8\r\ndata:{\"version\": 8}\r\n\r\n"  # CRLF, no space after the colon
    "event: score\rdata: {\"version\": 9}\rid: 9\r\r"  # CR only
    ": keep-alive\n\n"
    "event: status\nid: 10\n\n"  # no data: not dispatched, but the id is kept
    "data: plain\n\n"  # no event: a "message"
    "id: bad\0id\nretry: 2500\nretry: soon\nevent: odds\ndata\n\n"  # NUL id ignored; "data" alone
    "event: odds\ndata: {\"version\": 11}\n"  # no blank line: discarded at the end
)


def test_sse_parser_follows_the_standard_whatever_the_chunking() -> None:
    result = _harness(_SSE_PARSER, "sse.js", extra={"STREAM": json.dumps(_SSE_STREAM)})
    assert result["same"] == [True, True, True], "chunking changed what was parsed"
    assert isinstance(result["crlfChunks"], int) and result["crlfChunks"] > 2
    whole = result["whole"]
    assert isinstance(whole, dict)
    assert whole["got"] == [
        {"type": "snapshot", "data": '{"version": 7,\n "x": 1}', "id": "7"},
        {"type": "odds", "data": '{"version": 8}', "id": "8"},
        {"type": "score", "data": '{"version": 9}', "id": "9"},
        {"type": "message", "data": "plain", "id": "10"},
        {"type": "odds", "data": "", "id": "10"},
    ]
    assert whole["retry"] == 2500 and whole["comments"] == 2 and whole["rest"] == []
    assert whole["lastEventId"] == "10"


# ------------------------------------------------- version order, snapshots, bet stops (model.js)

_MODEL = r"""
const m = await mod("model.js");
const book = m.emptyBook();
const market = (id, status, cause, prices, version = 1) => ({ market_id: id, name: id.toUpperCase(),
  status, version, in_play_delay_s: 0, cause, result_version: null,
  selections: Object.entries(prices).map(([k, v]) => ({ selection_id: k, name: k, price: v })) });
const snapshot = (version, markets, extra = {}) => ({ event_id: "demo-1", name: "A v B",
  sport: "soccer", status: "in_play", starts_at: "2026-01-01T15:00:00Z", score: "0-0", version,
  markets, ...extra });
const steps = [];
const step = (label, type, data) => {
  const r = m.applyMessage(book, type, data);
  const markets = Object.fromEntries([...book.markets].map(([id, mk]) => [id, {
    status: mk.status, cause: mk.cause, version: mk.version,
    prices: Object.fromEntries(mk.selections.map((s) => [s.selection_id, s.price])),
    label: m.stopLabel(book.event, mk), open: m.marketOpen(book.event, mk) }]));
  steps.push({ label, applied: r.applied, stale: r.stale, reload: r.reload, closed: r.closed,
    changes: r.changes.map(([mk, s, before]) => [mk.market_id, s.selection_id, before, s.price]),
    version: book.version, status: book.event && book.event.status,
    score: book.event && book.event.score, markets });
};
step("snapshot", "snapshot", snapshot(10, [market("mw", "open", "", { home: "2.50", away: "3.00" }),
  market("ou25", "open", "", { over: "1.90", under: "1.95" })]));
step("odds", "odds", { version: 12, market_id: "mw", market_version: 4, prices: { home: "2.60" } });
step("older odds", "odds",
  { version: 11, market_id: "mw", market_version: 3, prices: { home: "9.00" } });
step("same version", "score", { version: 12, score: "5-5" });
step("bet stop", "status", { version: 13, status: "in_play", market_id: "mw",
  markets: { mw: "suspended", ou25: "open" }, cause: "goal" });
step("score", "score", { version: 14, score: "1-0" });
step("feed lost", "status", { version: 15, status: "suspended", market_id: null,
  markets: { mw: "suspended", ou25: "suspended" }, cause: "feed_lost" });
step("feed back", "status", { version: 16, status: "in_play", market_id: null,
  markets: { mw: "suspended", ou25: "open" }, cause: "" });
step("re-open", "status", { version: 17, status: "in_play", market_id: "mw",
  markets: { mw: "open", ou25: "open" }, cause: "" });
step("unknown market", "odds",
  { version: 18, market_id: "ng1", market_version: 1, prices: { home: "3.00" } });
step("new snapshot", "snapshot", snapshot(30,
  [market("ou25", "suspended", "penalty", { over: "1.70", under: "2.10" }, 9)],
  { score: "2-1" }));
step("older snapshot", "snapshot",
  snapshot(29, [market("mw", "open", "", { home: "2.00", away: "4.00" })]));
step("odds of a market no longer there", "odds",
  { version: 31, market_id: "mw", market_version: 9, prices: { home: "2.00" } });
step("closed", "status",
  { version: 32, status: "closed", market_id: null, markets: { ou25: "closed" }, cause: "" });
out.steps = steps;
out.labels = [m.stopLabel(null, market("x", "suspended", "dangerous_attack", {})),
  m.stopLabel(null, market("x", "suspended", "", {})),
  m.stopLabel(null, market("x", "settled", "", {})),
  m.stopLabel({ status: "suspended" }, market("x", "open", "", {}))];
console.log(JSON.stringify(out));
"""


def test_versions_never_go_back_and_a_snapshot_replaces_everything() -> None:
    result = _harness(_MODEL, "model.js")
    steps = {s["label"]: s for s in result["steps"]}
    first = steps["snapshot"]
    assert first["applied"] and first["version"] == 10 and first["changes"] == []
    assert first["markets"]["mw"]["open"] and first["markets"]["mw"]["label"] == ""

    odds = steps["odds"]
    assert odds["applied"] and odds["version"] == 12
    assert odds["changes"] == [["mw", "home", "2.50", "2.60"]]
    assert odds["markets"]["mw"]["prices"] == {"home": "2.60", "away": "3.00"}
    assert odds["markets"]["mw"]["version"] == 4

    # An older version after a newer one, and the same version again: ignored.
    for label in ("older odds", "same version"):
        step = steps[label]
        assert step["stale"] and not step["applied"] and step["version"] == 12, step
        assert step["markets"]["mw"]["prices"]["home"] == "2.60" and step["score"] == "0-0"

    stop = steps["bet stop"]
    assert stop["markets"]["mw"] == {**odds["markets"]["mw"], "status": "suspended",
                                     "cause": "goal", "label": "Bet stop — goal", "open": False}
    assert stop["markets"]["ou25"]["open"] is True
    assert steps["score"]["score"] == "1-0" and steps["score"]["version"] == 14

    lost = steps["feed lost"]  # the event suspended: every market stopped, each with its cause
    assert lost["status"] == "suspended"
    assert lost["markets"]["mw"]["label"] == "Bet stop — goal"
    assert lost["markets"]["ou25"]["label"] == "Bet stop — feed lost"
    back = steps["feed back"]
    assert back["markets"]["mw"]["label"] == "Bet stop — goal" and back["markets"]["ou25"]["open"]
    reopened = steps["re-open"]
    assert reopened["markets"]["mw"]["open"] and reopened["markets"]["mw"]["label"] == ""
    assert reopened["markets"]["mw"]["cause"] == ""

    unknown = steps["unknown market"]
    assert unknown["reload"] and not unknown["applied"] and unknown["version"] == 17

    fresh = steps["new snapshot"]  # replaces everything: markets, prices, causes, score
    assert fresh["applied"] and fresh["version"] == 30 and fresh["score"] == "2-1"
    assert list(fresh["markets"]) == ["ou25"]
    assert fresh["markets"]["ou25"]["prices"] == {"over": "1.70", "under": "2.10"}
    assert fresh["markets"]["ou25"]["label"] == "Bet stop — penalty"
    assert fresh["changes"] == [["ou25", "over", "1.90", "1.70"], ["ou25", "under", "1.95", "2.10"]]
    older = steps["older snapshot"]
    assert older["stale"] and list(older["markets"]) == ["ou25"] and older["version"] == 30
    gone = steps["odds of a market no longer there"]
    assert gone["reload"] and not gone["applied"]
    closed = steps["closed"]
    assert closed["closed"] and closed["status"] == "closed"
    assert closed["markets"]["ou25"]["label"] == "Closed"
    assert result["labels"] == ["Bet stop — dangerous attack", "Bet stop", "Settled",
                                "Bet stop — event suspended"]


# ------------------------------------------ the feed against a local SSE server (feed.js, odds.js)

_FEED = r"""
import http from "node:http";
const market = (status, cause, home) => ({ market_id: "mw", name: "Match result", status,
  version: 3, in_play_delay_s: 0, cause, result_version: null,
  selections: [{ selection_id: "home", name: "Home", price: home },
               { selection_id: "away", name: "Away", price: "3.00" }] });
const event = (version, home, extra = {}) => ({ event_id: "ev 1", name: "Home v Away",
  sport: "soccer", status: "in_play", starts_at: "2026-01-01T15:00:00Z", score: "0-0", version,
  markets: [market("open", "", home)], ...extra });
let current = event(10, "2.50");
let streamUp = false;
const opens = []; // the Last-Event-ID of each stream request (null: none)
let gets = 0;
let clients = [];
const server = http.createServer((req, res) => {
  if (req.url === "/v1/events/ev%201") {
    gets++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(current));
  } else if (req.url === "/v1/events/ev%201/stream") {
    opens.push(req.headers["last-event-id"] ?? null);
    if (!streamUp) {
      res.writeHead(503, { "content-type": "application/problem+json" });
      res.end("{}");
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store" });
    res.write(": hello\n\n");
    if (req.headers["last-event-id"] === undefined) {
      res.write(`id: ${current.version}\nevent: snapshot\ndata: ${JSON.stringify(current)}\n\n`);
    }
    clients.push(res);
  } else { res.writeHead(404); res.end(); }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;
const realFetch = globalThis.fetch;
globalThis.fetch = (path, options) => realFetch(base + path, options);
const send = (text) => clients.forEach((c) => c.write(text));

const { FEED, followOdds } = await mod("feed.js");
const { loadEvent } = await mod("odds.js");
const { state } = await mod("state.js");
Object.assign(FEED,
  { pollMs: 100, backoffMs: 250, maxBackoffMs: 250, reopenMs: 50, silentMs: 1500 });
const feed = element("odds-feed");
const prices = () => element("markets").querySelectorAll(".price")
  .map((b) => [b.dataset.selectionId, b.dataset.price, b.disabled]);
const stop = () => (element("markets").querySelector(".stop") || { textContent: "" }).textContent;

state.eventId = "ev 1";
await loadEvent();
let closed = 0;
const ctl = followOdds("ev 1", { onClosed: () => closed++ });

// 1. The stream cannot be opened: the page polls and says it is reconnecting.
await until(() => opens.length >= 2 && gets >= 4);
out.down = { state: feed.dataset.state, text: feed.textContent, opens: opens.slice(),
  polled: gets > 3 };
current = event(11, "2.55");
await until(() => prices()[0][1] === "2.55");
out.polledPrice = prices()[0][1];

// 2. The stream opens: live, and no more polling.
streamUp = true;
await until(() => feed.dataset.state === "live");
out.upAfterOpens = opens.length;
out.firstLastEventId = opens[opens.length - 1];
const getsLive = gets;
send("event: odds\r\nid: 12\r\ndata: " + JSON.stringify({ version: 12, market_id: "mw",
  market_version: 4, prices: { home: "2.60" } }) + "\r\n\r\n");
await until(() => prices()[0][1] === "2.60");
// a bet stop, split in odd places; then a stale odds message (version 12 again): ignored
const stopMsg = "id: 13\nevent: status\ndata: " + JSON.stringify({ version: 13, status: "in_play",
  market_id: "mw", markets: { mw: "suspended" }, cause: "goal" }) + "\n\n";
for (const part of [stopMsg.slice(0, 7), stopMsg.slice(7, 30), stopMsg.slice(30)]) {
  send(part);
  await sleep(20);
}
send("event: odds\nid: 12\ndata: " + JSON.stringify({ version: 12, market_id: "mw",
  market_version: 4, prices: { home: "9.00" } }) + "\n\n");
send(": keep-alive\n\nevent: score\nid: 14\ndata: {\"version\": 14, \"score\": \"1-0\"}\n\n");
await until(() => element("event-score").textContent.includes("1-0"));
await sleep(400); // four polling periods: none may happen while the stream is live
out.live = { state: feed.dataset.state, text: feed.textContent, prices: prices(), stop: stop(),
  score: element("event-score").textContent, polls: gets - getsLive, version: state.version };

// 3. The server ends the stream: the page opens it again at once with Last-Event-ID.
clients.forEach((c) => c.end());
clients = [];
await until(() => clients.length === 1);
out.reopen = { lastEventId: opens[opens.length - 1] };
send("id: 15\nevent: status\ndata: " + JSON.stringify({ version: 15, status: "in_play",
  market_id: "mw", markets: { mw: "open" }, cause: "" }) + "\n\n");
await until(() => stop() === "");
out.reopened = { prices: prices(), stop: stop(), polls: gets - getsLive,
  state: feed.dataset.state };

// 4. A silent stream (no keep-alive) is taken for dead and opened again.
const opensBefore = opens.length;
await until(() => opens.length > opensBefore, 4000);
out.silentReopened = opens.length > opensBefore;

// 5. The event closes.
send("id: 16\nevent: status\ndata: " + JSON.stringify({ version: 16, status: "closed",
  market_id: null, markets: { mw: "closed" }, cause: "" }) + "\n\n");
await until(() => closed > 0);
out.closed = { calls: closed, stop: stop(), status: element("event-status").textContent };
ctl.stop();
clients.forEach((c) => c.end());
server.close();
console.log(JSON.stringify(out));
process.exit(0);
"""


def test_feed_polls_only_while_the_stream_is_down_and_follows_it_in_order() -> None:
    result = _harness(_FEED, "feed.js")
    down = result["down"]
    assert down["state"] == "reconnecting" and down["text"].startswith("reconnecting"), down
    assert down["polled"] and down["opens"][0] == "10", down  # the first load's version
    assert result["polledPrice"] == "2.55"

    assert result["firstLastEventId"] == "11"
    live = result["live"]
    assert live["state"] == "live" and live["text"] == "live"
    assert live["polls"] == 0, "the page polled while the stream was live"
    assert live["prices"] == [["home", "2.60", True], ["away", "3.00", True]]  # stale 9.00 ignored
    assert live["stop"] == "Bet stop — goal" and live["score"] == "Score 1-0"
    assert live["version"] == 14

    assert result["reopen"]["lastEventId"] == "14"
    reopened = result["reopened"]
    assert reopened["stop"] == "" and reopened["state"] == "live"
    assert reopened["prices"] == [["home", "2.60", False], ["away", "3.00", False]]
    assert reopened["polls"] == 0, "a stream that could be opened again must not be polled"
    assert result["silentReopened"]
    closed = result["closed"]
    assert closed["calls"] == 1 and closed["stop"] == "Closed" and closed["status"] == "Closed"


# ------------------- the page: which event, bet stops on the slip, "My bets" names (app.js ...)

_PAGE = r"""
// A stub server behind fetch: the stream cannot be opened (503), so the page polls the event.
const market = (id, name, status, cause, sels) => ({ market_id: id, name, status, version: 1,
  in_play_delay_s: 0, cause, result_version: null,
  selections: sels.map(([sid, sname, price]) => ({ selection_id: sid, name: sname, price })) });
const snap = (id, name, version, status, markets) => ({ event_id: id, name, sport: "soccer",
  status, starts_at: "2026-01-01T15:00:00Z", score: "0-0", version, markets });
const events = {
  "demo-0": snap("demo-0", "Zero v Nil", 50, "closed",
    [market("ou25", "Over/under 2.5", "settled", "", [["over", "Over 2.5", "1.90"]])]),
  "demo-2": snap("demo-2", "Two v Deux", 5, "in_play",
    [market("mw", "Match result", "open", "", [["home", "Two", "2.10"], ["away", "Deux", "3.40"]])],
  ),
  "demo-3": snap("demo-3", "Three v Trois", 1, "scheduled",
    [market("mw", "Match result", "open", "",
      [["home", "Three", "1.80"], ["away", "Trois", "4.20"]])]),
};
const summary = (event_id, name, status, hour) => ({ event_id, name, sport: "soccer", status,
  starts_at: `2026-01-01T${hour}:00:00Z` });
const listing = [summary("demo-1", "One", "closed", 13), summary("demo-4", "Four", "scheduled", 19),
  summary("demo-3", "Three", "scheduled", 17), summary("demo-2", "Two", "in_play", 15)];
const bet = (bet_id, event_id, market_id, selection_id, status) => ({ bet_id, event_id,
  market_id, selection_id, status, stake: "1.00", price: "2.00" });
const bets = [bet("b1", "demo-2", "mw", "away", "accepted"),
  bet("b2", "demo-0", "ou25", "over", "won"), bet("b3", "gone", "mw", "home", "void")];
const calls = [];
const json = (status, body) => new Response(JSON.stringify(body), { status,
  headers: { "content-type": status < 400 ? "application/json" : "application/problem+json" } });
globalThis.fetch = async (path, options = {}) => {
  calls.push(`${options.method || "GET"} ${path}`);
  if (path === "/v1/wallet") return json(200, { balance: "100.00", reserved: "0.00" });
  if (path === "/v1/bets?limit=20") return json(200, { items: bets, next_cursor: null });
  if (path === "/v1/events") return json(200, listing);
  if (path.endsWith("/stream")) return json(503, { code: "UNAVAILABLE" });
  const id = decodeURIComponent(path.replace("/v1/events/", ""));
  if (path.startsWith("/v1/events/") && events[id]) return json(200, events[id]);
  return json(404, { code: path.startsWith("/v1/events/") ? "UNKNOWN_EVENT" : "NOT_FOUND" });
};
globalThis.Hls = { isSupported: () => false }; // no video here
storage.set("inplay.token", "tok-1");
const { FEED } = await mod("feed.js");
Object.assign(FEED, { pollMs: 50, backoffMs: 5000, maxBackoffMs: 5000 });
const { PAGE } = await import(process.env.MODULE);
PAGE.nextEventMs = 100;
const { state } = await mod("state.js");
const { refreshBets } = await mod("account.js");
const count = (call) => calls.filter((c) => c === call).length;

await until(() => element("event-name").textContent === "Two v Deux");
out.picked = state.eventId;
out.shown = { app: !element("app").hidden, login: !element("login-panel").hidden,
  account: !element("account").hidden };
const rows = () => element("bets").querySelector("tbody").querySelectorAll("tr").map((tr) => ({
  bet: tr.dataset.betId, event: tr.querySelector(".bet-event").textContent,
  market: tr.querySelector(".bet-market").textContent,
  selection: tr.querySelector(".bet-selection").textContent }));
// before the account's 5 s refresh: the page lists the bets once the event is shown
await until(() => rows().length === 3 && rows()[1].event === "Zero v Nil", 3000);
await refreshBets();
await refreshBets();
out.rows = rows();
out.nameReads = { "demo-0": count("GET /v1/events/demo-0"), gone: count("GET /v1/events/gone") };

// The player picks a price; then a bet stop: the slip says so and will not send the bet.
element("markets").querySelector(".price").click();
out.slipBefore = { selection: element("slip-selection").textContent,
  stop: element("slip-stop").hidden, place: element("place").disabled };
events["demo-2"] = snap("demo-2", "Two v Deux", 6, "in_play", [market("mw", "Match result",
  "suspended", "penalty", [["home", "Two", "2.10"], ["away", "Deux", "3.40"]])]);
await until(() => !element("slip-stop").hidden);
await element("slip").listeners.submit({ preventDefault() {} });
out.slipStopped = { stop: element("slip-stop").textContent, place: element("place").disabled,
  code: element("slip-result").dataset.code, result: element("slip-result").textContent,
  posts: calls.filter((c) => c.startsWith("POST")).length,
  label: element("markets").querySelector(".stop").textContent,
  disabled: element("markets").querySelectorAll(".price").map((b) => b.disabled) };

// The event closes: the page moves on to the next one.
events["demo-2"] = { ...events["demo-2"], version: 7, status: "closed" };
listing[3].status = "closed";
await until(() => element("event-name").textContent === "Three v Trois");
out.next = { eventId: state.eventId, slip: state.slip, slipHidden: element("slip").hidden };
console.log(JSON.stringify(out));
process.exit(0);
"""


def test_page_picks_the_live_event_stops_bets_names_bets_and_moves_on() -> None:
    result = _harness(_PAGE, "app.js")
    assert result["picked"] == "demo-2"  # in play, not the closed one, nor the scheduled ones
    assert result["shown"] == {"app": True, "login": False, "account": True}
    assert result["rows"] == [
        {"bet": "b1", "event": "Two v Deux", "market": "Match result", "selection": "Deux"},
        {"bet": "b2", "event": "Zero v Nil", "market": "Over/under 2.5", "selection": "Over 2.5"},
        {"bet": "b3", "event": "gone", "market": "mw", "selection": "home"},  # unreadable: ids
    ]
    assert result["nameReads"] == {"demo-0": 1, "gone": 1}  # once per event, cached
    assert result["slipBefore"] == {"selection": "Two — Match result", "stop": True,
                                    "place": False}
    stopped = result["slipStopped"]
    assert stopped["label"] == "Bet stop — penalty" and stopped["disabled"] == [True, True]
    assert stopped["stop"].startswith("Bet stop — penalty") and stopped["place"] is True
    assert stopped["code"] == "MARKET_SUSPENDED" and "MARKET_SUSPENDED" in stopped["result"]
    assert stopped["posts"] == 0, "a suspended selection was sent to the server"
    # then the next scheduled event (17:00 before 19:00), with an empty slip
    assert result["next"] == {"eventId": "demo-3", "slip": None, "slipHidden": True}

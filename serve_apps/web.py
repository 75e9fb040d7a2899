"""The bettor's web page (API.md "The web page") as a FastAPI router.

Plain files from `serve_apps/static/` (no build step): `/` is index.html and `/static/{path}`
serves the rest. Only files inside that folder are served, whatever the path says.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse

from serve_apps import docs
from serve_apps.problems import problem_response

STATIC_DIR = Path(__file__).parent / "static"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}

_STATIC_TYPES = tuple(sorted(set(CONTENT_TYPES.values())))

# Files in the folder that are for tools, not browsers (package.json only tells `node --check`
# that the page's .js files are ES modules).
NOT_SERVED = frozenset({"package.json"})

# The page is small and changes with deployments: let browsers revalidate, never go stale.
_CACHE = "no-cache"
# No inline script, no third-party origin: the page talks to its own API only.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'")


def resolve_static(path: str, root: Path = STATIC_DIR) -> Path | None:
    """The file `path` names inside `root`, or None for anything outside it, hidden, missing,
    of a type we do not serve or in NOT_SERVED (so `..`, absolute paths and symlinks out are
    refused)."""
    if not path or "\x00" in path or "\\" in path:
        return None
    base = root.resolve()
    candidate = (base / path).resolve()
    if not candidate.is_relative_to(base) or candidate == base:
        return None
    relative = candidate.relative_to(base)
    if any(part.startswith(".") for part in relative.parts):
        return None
    if not candidate.is_file() or candidate.suffix not in CONTENT_TYPES:
        return None
    if candidate.name in NOT_SERVED:
        return None
    return candidate


def _file(path: Path) -> FileResponse:
    return FileResponse(path, media_type=CONTENT_TYPES[path.suffix],
                        headers={"Cache-Control": _CACHE, "Content-Security-Policy": _CSP,
                                 "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer"})


def web_router(root: Path = STATIC_DIR) -> APIRouter:
    """Routes `/` (the page) and `/static/{path}` (its scripts and styles)."""
    router = APIRouter(tags=["web page"])

    @router.get("/", summary="The bettor's web page", response_class=FileResponse,
                responses=docs.responses(200, media=(CONTENT_TYPES[".html"],)))
    async def index() -> Response:
        page = resolve_static("index.html", root)
        if page is None:
            return problem_response("INTERNAL_ERROR", "the web page is missing from this build")
        return _file(page)

    @router.get("/static/{path:path}", summary="The web page's static files",
                response_class=FileResponse,
                responses=docs.responses(200, "NOT_FOUND", media=_STATIC_TYPES))
    async def static(path: str) -> Response:
        found = resolve_static(path, root)
        if found is None:
            return problem_response("NOT_FOUND", f"no static file {path}")
        return _file(found)

    return router

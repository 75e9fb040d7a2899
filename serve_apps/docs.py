"""What the served OpenAPI document says about answers: problem+json for every refusal.

Routes declare their answers with ``responses(201, 401, 409, ok=Model)``: the success status
gets the model (``application/json``), every error status the ``Problem`` schema as
``application/problem+json`` with the codes that status can carry.
"""

from __future__ import annotations

from typing import Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from serve_apps.problems import PROBLEM_JSON, STATUS

# cursors and other counters are bounded so that nothing downstream overflows
MAX_CURSOR = 1_000_000_000
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


class Problem(BaseModel):
    """An RFC 9457 problem: a stable ``code`` plus the facts that help the client."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "type": "https://inplay.dev/problems/price-changed", "title": "Price changed",
        "status": 409, "code": "PRICE_CHANGED", "detail": "price moved from 2.40 to 2.50",
        "bet_id": "bd9c0f3e1a2b4c5d6e7f8a9b", "price": "2.50", "price_version": 3}]})

    type: str = Field(description="a URI naming the problem (one per code)")
    title: str
    status: int
    code: str = Field(description="the stable machine code: what clients branch on")
    detail: str = Field(description="what happened, for people")


_DESCRIPTION = {
    200: "OK", 201: "Created", 202: "Accepted, not final yet", 204: "No content",
    400: "Bad request", 401: "No valid bearer token", 402: "Payment required",
    403: "Not allowed", 404: "Not found", 405: "Method not allowed", 409: "Conflict",
    413: "Request body too large", 415: "Unsupported media type",
    422: "Invalid request", 423: "Locked (suspended)", 429: "Too many requests",
    500: "Internal error", 501: "Not implemented yet", 503: "Unavailable; nothing was done",
}


def codes_for(status: int) -> list[str]:
    """The error codes answered with ``status``."""
    extra = {422: ["VALIDATION_ERROR"], 413: ["PAYLOAD_TOO_LARGE"]}.get(status, [])
    return sorted({c for c, s in STATUS.items() if s == status} | set(extra))


def responses(*statuses: int, ok: type[BaseModel] | None = None,
              descriptions: dict[int, str] | None = None,
              content_type: str = "application/json") -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: success with ``ok``, errors as problem+json."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        text = (descriptions or {}).get(status, _DESCRIPTION.get(status, "See codes"))
        if status < 400:
            entry: dict[str, Any] = {"description": text}
            if ok is not None:
                entry["model"] = ok
            elif content_type != "application/json":
                entry["content"] = {content_type: {"schema": {"type": "string"}}}
            out[status] = entry
            continue
        codes = codes_for(status)
        out[status] = {
            "description": f"{text}: {', '.join(codes)}" if codes else text,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out


def path_id(name: str) -> Any:
    """A path parameter that is an identifier (bounded, no key separators)."""
    return Path(pattern=ID_PATTERN, description=f"the {name.replace('_', ' ')}")

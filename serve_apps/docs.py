"""What the served OpenAPI document says about answers: problem+json for every refusal.

Routes declare what they answer with ``responses(201, 202, *BODY, "PRICE_CHANGED", ...,
ok=Model)``: success statuses (ints) get the model as ``application/json`` (or bodies of the
route's own ``media`` types), error codes (strings) are grouped by their status
(``problems.STATUS``) into ``application/problem+json`` answers with the ``Problem`` schema,
each listing the codes it can carry. ``docs/API.md`` says the same in prose; tests
(``tests/unit/test_openapi.py``) hold the two together.
"""

from __future__ import annotations

from typing import Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from serve_apps.problems import PROBLEM_JSON, STATUS

# cursors and other counters are bounded so that nothing downstream overflows
MAX_CURSOR = 1_000_000_000
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"

# the codes most routes share
AUTH = ("UNAUTHENTICATED",)  # any bearer token will do
ROLE = ("UNAUTHENTICATED", "FORBIDDEN")  # a token of the route's role
INVALID = ("VALIDATION_ERROR",)  # a path, query or header parameter out of its bounds
# a JSON body: unreadable (not UTF-8), too large, or not what the model says
BODY = ("HTTP_ERROR", "PAYLOAD_TOO_LARGE", "VALIDATION_ERROR")
IDEMPOTENT = ("IDEMPOTENCY_KEY_REQUIRED", "IDEMPOTENCY_KEY_REUSED")


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
    500: "Internal error", 503: "Unavailable; nothing was done",
}
PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again (when "
                                              "the server knows)",
                                "schema": {"type": "integer", "minimum": 1}}}


def problem_answer(status: int, codes: list[str]) -> dict[str, Any]:
    """The OpenAPI response for an error status carrying ``codes``."""
    text = _DESCRIPTION.get(status, "Refused")
    answer: dict[str, Any] = {
        "description": f"{text}: {', '.join(sorted(codes))}" if codes else text,
        "content": PROBLEM_CONTENT}
    if status in (429, 503):
        answer["headers"] = RETRY_AFTER
    return answer


def responses(*answers: int | str, ok: type[BaseModel] | None = None,
              descriptions: dict[int, str] | None = None,
              media: tuple[str, ...] = (),
              headers: dict[str, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses``: success statuses with ``ok`` as JSON (or a body of one of the
    ``media`` types, or none), with ``headers``; error codes as problem+json."""
    out: dict[int | str, dict[str, Any]] = {}
    errors: dict[int, list[str]] = {}
    for answer in answers:
        if isinstance(answer, str):
            errors.setdefault(STATUS[answer], []).append(answer)
            continue
        entry: dict[str, Any] = {
            "description": (descriptions or {}).get(answer, _DESCRIPTION.get(answer, "OK"))}
        if ok is not None:
            entry["model"] = ok
        elif media:
            entry["content"] = {m: {"schema": {"type": "string"}} for m in media}
        if headers:
            entry["headers"] = headers
        out[answer] = entry
    for status, codes in sorted(errors.items()):
        out[status] = problem_answer(status, sorted(set(codes)))
    return out


def path_id(name: str, example: str | None = None) -> Any:
    """A path parameter that is an identifier (bounded, no key separators)."""
    return Path(pattern=ID_PATTERN, max_length=64,
                description=f"the {name.replace('_', ' ')}",
                examples=[example] if example else None)

"""The served OpenAPI document is complete, and ``docs/API.md`` describes the same API.

The document is built from the app alone (``create_app()``: no services, no Ray, no Redis).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from serve_apps.app import create_app
from serve_apps.deps import principal
from serve_apps.problems import PROBLEM_JSON, STATUS

ROOT = Path(__file__).resolve().parents[2]
API_MD = (ROOT / "docs" / "API.md").read_text()
APP = create_app()
DOC: dict[str, Any] = APP.openapi()
OPERATIONS = [(method.upper(), path, op) for path, item in DOC["paths"].items()
              for method, op in item.items()]
# the POSTs that move money or place a bet: each reads Idempotency-Key
IDEMPOTENT = {("POST", "/v1/bets"), ("POST", "/v1/wallet/deposits"),
              ("POST", "/v1/wallet/withdrawals"), ("POST", "/v1/bets/{bet_id}/cashout")}

# `### METHOD /path`: one heading per operation in docs/API.md
HEADING = re.compile(r"^### (GET|POST|PUT|PATCH|DELETE) (/\S*)$", re.MULTILINE)


def _routes() -> dict[tuple[str, str], APIRoute]:
    """(method, path) → the route, through the included routers."""
    return {(method, str(context.path_format)): context.original_route
            for context in iter_route_contexts(APP.routes)
            if isinstance(context.original_route, APIRoute)
            and context.original_route.include_in_schema
            for method in context.methods or ()}


def _calls(dependant: Dependant) -> list[Any]:
    return [dependant.call, *(c for d in dependant.dependencies for c in _calls(d))]


def _headers(dependant: Dependant) -> set[str]:
    found = {p.alias for p in dependant.header_params}
    return found.union(*(_headers(d) for d in dependant.dependencies))


def _ids(operations: list[tuple[str, str, Any]]) -> list[str]:
    return [f"{m} {p}" for m, p, _ in operations]


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=_ids(OPERATIONS))
def test_every_operation_says_what_it_answers_on_success(method: str, path: str,
                                                         op: dict[str, Any]) -> None:
    success = {s: r for s, r in op["responses"].items() if s.startswith("2")}
    assert success, "no success answer is documented"
    for status, answer in success.items():
        content = answer.get("content")
        if not content:  # only ending a media session answers without a body
            assert method == "DELETE", f"{status} has no documented body"
            continue
        for media_type, body in content.items():
            assert body.get("schema"), f"{status} {media_type} has no schema"
            if media_type == "application/json":
                assert body["schema"] != {}, f"{status} has an empty JSON schema"


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=_ids(OPERATIONS))
def test_every_refusal_is_a_problem(method: str, path: str, op: dict[str, Any]) -> None:
    for status, answer in op["responses"].items():
        if int(status) < 400:
            continue
        assert answer["content"] == {
            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}, status
        # the description names the codes the status carries there, each with that status
        codes = re.findall(r"\b[A-Z][A-Z_]{2,}\b", answer["description"])
        assert codes, f"{status} names no code"
        assert all(STATUS[c] == int(status) for c in codes), (status, codes)


def test_the_problem_schema_and_no_fastapi_validation_error() -> None:
    problem = DOC["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "code", "detail"}
    assert problem.get("additionalProperties", True) is True  # the facts that help
    assert "HTTPValidationError" not in json.dumps(DOC)
    assert '"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}' \
        not in json.dumps(DOC)


def test_the_bearer_scheme_guards_every_route_that_needs_a_caller() -> None:
    schemes = DOC["components"]["securitySchemes"]
    assert schemes == {"HTTPBearer": {"type": "http", "scheme": "bearer",
                                      "description": schemes["HTTPBearer"]["description"]}}
    guarded = {key for key, route in _routes().items() if principal in _calls(route.dependant)}
    assert len(guarded) > 25
    for method, path, op in OPERATIONS:
        if (method, path) in guarded:
            assert op.get("security") == [{"HTTPBearer": []}], (method, path)
            assert "UNAUTHENTICATED" in op["responses"]["401"]["description"], (method, path)
        else:
            assert "security" not in op, (method, path)


def test_idempotency_key_is_documented_where_it_is_read() -> None:
    readers = {key for key, route in _routes().items()
               if "Idempotency-Key" in _headers(route.dependant)}
    assert readers == IDEMPOTENT
    for method, path, op in OPERATIONS:
        names = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        assert ("Idempotency-Key" in names) == ((method, path) in IDEMPOTENT), (method, path)
        if (method, path) in IDEMPOTENT:
            header = next(p for p in op["parameters"] if p["name"] == "Idempotency-Key")
            assert header["schema"]["anyOf"][0]["maxLength"] == 64
            assert "IDEMPOTENCY_KEY_REQUIRED" in op["responses"]["422"]["description"]


def _numbers(schema: dict[str, Any]) -> list[dict[str, Any]]:
    if schema.get("type") in ("integer", "number"):
        return [schema]
    return [n for s in schema.get("anyOf", []) for n in _numbers(s)]


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=_ids(OPERATIONS))
def test_every_parameter_is_bounded(method: str, path: str, op: dict[str, Any]) -> None:
    for parameter in op.get("parameters", []):
        schema = parameter["schema"]
        for number in _numbers(schema):
            assert "maximum" in number and "minimum" in number, parameter["name"]
        if parameter["in"] == "path" and path != "/static/{path}":
            assert schema.get("pattern") and schema.get("maxLength"), parameter["name"]


def test_request_bodies_have_examples_and_media_takes_sdp() -> None:
    schemas = DOC["components"]["schemas"]
    for name in ("BetRequest", "EventIn", "DepositRequest", "RegisterRequest",
                 "SessionRequest", "WithdrawalRequest"):
        assert schemas[name].get("examples"), name
    for kind in ("whip", "whep"):
        body = DOC["paths"][f"/v1/media/{{event_id}}/{kind}"]["post"]["requestBody"]
        assert set(body["content"]) == {"application/sdp"}
        assert body["content"]["application/sdp"]["example"].startswith("v=0")
        answer = DOC["paths"][f"/v1/media/{{event_id}}/{kind}"]["post"]["responses"]["201"]
        assert set(answer["content"]) == {"application/sdp"} and "Location" in answer["headers"]


def test_times_and_jurisdictions_say_what_the_server_accepts() -> None:
    schemas = DOC["components"]["schemas"]
    assert schemas["EventIn"]["properties"]["starts_at"]["format"] == "date-time"
    jurisdiction = schemas["RegisterRequest"]["properties"]["jurisdiction"]
    assert {"GB", "AU", "gb"} <= set(jurisdiction["enum"]) and "XX" not in jurisdiction["enum"]
    assert schemas["RegisterRequest"]["properties"]["date_of_birth"]["format"] == "date"


def test_api_md_has_a_heading_for_every_operation_and_no_other() -> None:
    documented = set(HEADING.findall(API_MD))
    served = {(method, path) for method, path, _ in OPERATIONS}
    assert documented == served, (f"in docs/API.md only: {sorted(documented - served)}; "
                                  f"served only: {sorted(served - documented)}")


def test_api_md_names_every_error_code_with_its_status() -> None:
    for code, status in STATUS.items():
        assert re.search(rf"\| `{code}` \| {status} \|", API_MD), f"{code} ({status})"

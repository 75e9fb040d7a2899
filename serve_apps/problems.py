"""One place that turns domain errors into RFC 9457 problem+json answers.

Every refusal the platform gives has a stable machine ``code``: the betting errors of the
event book (``actors.errors``), the wallet/account errors (``storage.errors``), request
validation (``VALIDATION_ERROR``) and the edge's own (auth, overload, unknown routes).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from actors.errors import BettingError
from storage.errors import WalletError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://inplay.dev/problems/"


class Problem(Exception):
    """An error raised at the edge itself (auth, roles, overload, bad headers)."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": TYPE_BASE + code.lower().replace("_", "-"),
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "code": code,
        "detail": detail,
        **{k: _jsonable(v) for k, v in extra.items()},
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def problem_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, detail, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def from_exception(exc: Exception) -> JSONResponse:
    """The problem answer for any domain or edge error."""
    if isinstance(exc, Problem):
        return _with_retry(exc.status, exc.code, exc.detail, exc.extra)
    if isinstance(exc, BettingError):
        return _with_retry(exc.status, exc.code, exc.detail, exc.extra)
    if isinstance(exc, WalletError):
        return _with_retry(exc.status, exc.code, exc.detail, dict(exc.extra))
    raise exc


def _with_retry(status: int, code: str, detail: str, extra: dict[str, Any]) -> JSONResponse:
    headers = None
    retry = extra.get("retry_after_s")
    if status in (429, 503) and retry is not None:
        headers = {"Retry-After": str(max(1, round(float(retry) + 0.499)))}
    return problem_response(status, code, detail, headers=headers, **extra)


def internal_error(exc: BaseException) -> JSONResponse:
    """The answer to a bug or an unexpected outage (logged with its traceback)."""
    log.exception("unhandled error", exc_info=exc)
    return problem_response(500, "INTERNAL_ERROR",
                            "an unexpected error; nothing was confirmed by this request")


def problem_from_error_dict(error: dict[str, Any]) -> JSONResponse:
    """An error that crossed a process boundary as ``{"code", "status", "detail", ...}``."""
    extra = {k: v for k, v in error.items() if k not in ("code", "status", "detail")}
    return _with_retry(int(error["status"]), str(error["code"]), str(error["detail"]), extra)


def install(app: FastAPI) -> None:
    """Register the handlers that make every error a problem+json answer."""

    async def domain(_: Request, exc: Exception) -> JSONResponse:
        return from_exception(exc)

    async def validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        code = _validation_code(errors)
        detail = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in errors)
        return problem_response(422, code, detail or "invalid request", errors=errors)

    async def http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}.get(
            exc.status_code, "HTTP_ERROR")
        return problem_response(exc.status_code, code, str(exc.detail))

    async def internal(_: Request, exc: Exception) -> JSONResponse:
        return internal_error(exc)

    for cls in (Problem, BettingError, WalletError):
        app.add_exception_handler(cls, domain)
    app.add_exception_handler(Exception, internal)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)


def _validation_code(errors: list[dict[str, Any]]) -> str:
    """Price and money fields keep their domain codes even when pydantic catches them."""
    for error in errors:
        field = str(error["loc"][-1]) if error["loc"] else ""
        if field == "price" or field.startswith("prices"):
            return "INVALID_ODDS"
        if field in ("stake", "amount") or field.startswith(("deposit_", "loss_", "stake_")):
            return "INVALID_AMOUNT"
    return "VALIDATION_ERROR"

"""Service errors and the one handler that renders them: {"error": {"code", "message"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("reviewguard.errors")


class ServiceError(Exception):
    status_code = 500
    code = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BatchTooLarge(ServiceError):
    status_code = 413
    code = "batch_too_large"


class BodyTooLarge(ServiceError):
    status_code = 413
    code = "body_too_large"


class Unauthorized(ServiceError):
    status_code = 401
    code = "unauthorized"


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **details}}


def _field_name(loc: tuple[Any, ...]) -> str:
    # ("body", "account", "id") -> "account.id"; list indices stay visible: "reviews.3.rating"
    # Union members appear in the location as validator descriptions; they are not fields.
    parts = [
        str(part)
        for part in loc
        if part != "body" and not (isinstance(part, str) and ("[" in part or "(" in part))
    ]
    return ".".join(parts) or "body"


def describe_validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {"field": _field_name(tuple(err.get("loc", ()))), "problem": str(err.get("msg", ""))}
        for err in errors
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, **exc.details), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = describe_validation_errors(list(exc.errors()))
        summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields[:5])
        return JSONResponse(
            error_body("invalid_request", summary or "invalid request", fields=fields), 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Logged with its type only: exception text may carry request data.
        log.error("unexpected error: %s", type(exc).__name__, exc_info=False)
        return JSONResponse(error_body("internal", "internal error"), 500)

"""Every refusal the API makes, in one shape: `{"error": {"code", "message", ...fields}}`.

The code and fields are the `FuchsiaError` class's (see `fuchsia.errors`); the HTTP status
follows from the class alone, never from the message. FastAPI's and Starlette's own refusals
(an unknown route, a wrong method, a parameter of the wrong type) are turned into the same
classes first, so a client sees one shape whatever refused it. An unexpected exception is a 500
with code `server_error` and no traceback (the server's log has it).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from fuchsia.errors import (
    ArtifactNotFound,
    ComponentNotFound,
    DefinitionError,
    DeploymentConflict,
    ExecutionNotFound,
    Forbidden,
    FuchsiaError,
    IdempotencyConflict,
    InvalidParameters,
    InvalidState,
    MethodNotAllowed,
    NodeNotFound,
    PayloadError,
    PayloadTooLarge,
    RequestError,
    RouteNotFound,
    ServerError,
    Unauthenticated,
    UnsupportedMediaType,
    WorkflowDisabled,
    WorkflowNotFound,
)
from fuchsia.logs import logger
from fuchsia.store import StoreUnavailable, StoreUnwritable

log = logger(__name__)

# Most specific first: the first class an error is an instance of gives its status.
STATUS: tuple[tuple[type[FuchsiaError], int], ...] = (
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (RouteNotFound, 404),
    (MethodNotAllowed, 405),
    (InvalidParameters, 422),
    (RequestError, 400),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (StoreUnwritable, 503),
    (StoreUnavailable, 503),
    (ExecutionNotFound, 404),
    (NodeNotFound, 404),
    (ArtifactNotFound, 404),
    (WorkflowNotFound, 404),
    (ComponentNotFound, 404),
    (IdempotencyConflict, 409),
    (DeploymentConflict, 409),
    (InvalidState, 409),
    (WorkflowDisabled, 409),
    (DefinitionError, 422),
    (PayloadError, 422),
    (ServerError, 500),
)


class ErrorDetail(BaseModel):
    """One refusal: its code, a message for people, and the code's typed fields."""

    model_config = ConfigDict(extra="allow")
    code: str = Field(examples=["execution_not_found"])
    message: str = Field(examples=["no execution with id 'nope'"])


class ErrorBody(BaseModel):
    error: ErrorDetail


# Documented on every route of the API (the OpenAPI document shows the shape once).
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "malformed (`invalid_request`, naming the `param`)"),
        (401, "no valid bearer token (`unauthenticated`)"),
        (403, "the token lacks the scope (`forbidden`)"),
        (404, "what is missing, named by the code"),
        (409, "refused by the state, or a reused idempotency key"),
        (413, "over a size limit (`payload_too_large`, with the `limit`)"),
        (415, "not JSON (`unsupported_media_type`)"),
        (422, "fields of the wrong shape (`invalid_parameters`), or against a schema"),
        (503, "the store cannot be written or reached (`store_unwritable`, `store_unavailable`)"),
    )
}


def status_of(error: FuchsiaError) -> int:
    return next((status for cls, status in STATUS if isinstance(error, cls)), 400)


def answer(error: FuchsiaError, status: int | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthenticated) else None
    return JSONResponse({"error": error.details()}, status or status_of(error), headers=headers)


def install(app: FastAPI) -> None:
    """Route every refusal of `app` through `answer`."""
    app.add_exception_handler(FuchsiaError, _on_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)


async def _on_error(request: Request, exc: FuchsiaError) -> JSONResponse:
    return answer(exc)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own refusals: an unknown route, a method the route does not take..."""
    path = request.url.path
    error: FuchsiaError
    if exc.status_code == 404:
        error = RouteNotFound(path)
    elif exc.status_code == 405:
        error = MethodNotAllowed(request.method, path)
    elif exc.status_code == 413:
        error = PayloadTooLarge(str(exc.detail), limit=0)
    else:
        error = RequestError(str(exc.detail))
    return answer(error, exc.status_code)


async def _on_invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A parameter or body field of the wrong type or out of bounds: 422 naming each one."""
    return answer(InvalidParameters([_problem(e) for e in exc.errors()]))


def _problem(error: Any) -> dict[str, str]:
    """`{"param": "query.after", "message": ...}` from one pydantic error."""
    where = [str(part) for part in error.get("loc", ())]
    if where[:1] == ["header"] and len(where) > 1:
        where[1] = where[1].replace("_", "-").title()
    return {"param": ".".join(where) or "request", "message": str(error.get("msg", "invalid"))}


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error answering %s %s", request.method, request.url.path)
    error = ServerError("internal server error; the server's log has the details", status=500)
    return answer(error, 500)

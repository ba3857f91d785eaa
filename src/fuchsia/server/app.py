"""The HTTP API (FastAPI, OpenAPI at /openapi.json, docs at /docs).

Every route but `/healthz` and the documentation requires a bearer token whose scope covers
it, unless the server was started with `--no-auth`. Errors are JSON `{"error": message}` with
400 for bad input, 401 without a valid token, 403 without the scope, 404 for an unknown
execution, workflow or component, 409 for requests the execution's state refuses, 422 for a
body of the wrong shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from fuchsia import payload as payloads
from fuchsia.components.manifest import manifest_document
from fuchsia.components.registry import summary as summary_of_component
from fuchsia.definition import LockedWorkflow, parse_text
from fuchsia.errors import (
    ArtifactNotFound,
    DefinitionError,
    ExecutionNotFound,
    FuchsiaError,
    PayloadError,
    RegistryError,
    StoreError,
    WorkflowNotFound,
)
from fuchsia.runtime.engine import Engine, TriggerAnswer
from fuchsia.runtime.views import artifact_view, deployment_view, summary
from fuchsia.server import metrics
from fuchsia.server.auth import grants, hash_token
from fuchsia.server.schedule import Scheduler
from fuchsia.server.signatures import SignatureError, verify
from fuchsia.store.records import FINAL_STATUSES

T = TypeVar("T")
PUBLIC = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
WEBHOOKS = "/hooks/{path:path}"  # authenticated by each workflow's signing secret instead


class StartRequest(BaseModel):
    workflow: str = Field(description="NAME or NAME@VERSION of a deployed workflow")
    payload: Any = None


class SignalRequest(BaseModel):
    name: str
    payload: Any = None


class RetryRequest(BaseModel):
    from_node: str | None = None


class DeployRequest(BaseModel):
    source: str = Field(description="the workflow file's text, YAML or JSON")


def create_app(
    open_engine: Callable[[], Awaitable[Engine]],
    *,
    auth: bool = True,
    schedule: bool = True,
    grace: float = 0.0,
) -> FastAPI:
    """The API over the engine `open_engine` returns (opened at start-up, closed at shutdown;
    executions it leaves running stay resumable), with the cron and poll scheduler."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = await open_engine()
        app.state.engine = engine
        await engine.resume(wait=False)  # what a previous server left running goes on
        scheduler = asyncio.create_task(Scheduler(engine).run()) if schedule else None
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.cancel()
                await asyncio.gather(scheduler, return_exceptions=True)
            await engine.close(grace)  # running nodes finish within the grace period

    app = FastAPI(title="Fuchsia", version="0.1.0", lifespan=lifespan)
    app.state.auth = auth
    app.add_exception_handler(FuchsiaError, _on_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_invalid_request)  # type: ignore[arg-type]
    app.include_router(router)
    return app


async def _on_error(request: Request, exc: FuchsiaError) -> JSONResponse:
    missing = ExecutionNotFound | WorkflowNotFound | ArtifactNotFound | RegistryError
    status = 404 if isinstance(exc, missing) else 400
    if isinstance(exc, StoreError) and "already deployed" in str(exc):
        status = 409
    return JSONResponse({"error": str(exc)}, status_code=status)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)


async def _on_invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A body or parameter of the wrong shape: 422 naming each field."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    ]
    return JSONResponse({"error": problems}, 422)


def scope(name: str) -> Any:
    """A dependency that admits a request whose bearer token covers scope `name`."""

    async def check(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> None:
        if not request.app.state.auth:
            return
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        token = credentials.strip() if scheme.lower() == "bearer" else ""
        store = request.app.state.engine.store
        record = await store.token_by_hash(hash_token(token)) if token else None
        if record is None or record.revoked_at is not None:
            raise HTTPException(
                401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        if not grants(record, name):
            raise HTTPException(403, f"this token lacks the {name!r} scope")

    return Depends(check)


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


router = APIRouter()


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    engine = engine_of(request)
    return {"status": "ok", "store": engine.store.url.split("@")[-1]}


@router.get("/metrics", dependencies=[scope("read")], response_class=PlainTextResponse)
async def prometheus(request: Request) -> str:
    return await metrics.render(engine_of(request).store)


@router.get("/api/v1/workflows", dependencies=[scope("read")])
async def list_workflows(request: Request) -> list[dict[str, Any]]:
    return [deployment_view(d) for d in await engine_of(request).deployments()]


@router.get("/api/v1/workflows/{ref}", dependencies=[scope("read")])
async def show_workflow(request: Request, ref: str) -> dict[str, Any]:
    engine = engine_of(request)
    deployment = await engine.deployment(ref)
    document = await engine.store.get_workflow(deployment.hash)
    return {**deployment_view(deployment), "workflow": payloads.parse(document, source="workflow")}


@router.post("/api/v1/workflows", status_code=201, dependencies=[scope("admin")])
async def deploy(request: Request, body: DeployRequest) -> dict[str, Any]:
    engine = engine_of(request)
    try:
        locked = await engine.lock(parse_text(body.source, "<request>"))
    except DefinitionError as exc:
        raise HTTPException(422, [str(p) for p in exc.problems]) from None
    deployment, created = await engine.deploy(locked)
    return {**deployment_view(deployment), "created": created}


@router.post("/api/v1/workflows/{ref}/disable", dependencies=[scope("admin")])
async def disable(request: Request, ref: str) -> dict[str, Any]:
    return deployment_view(await engine_of(request).set_active(ref, False))


@router.post("/api/v1/workflows/{ref}/enable", dependencies=[scope("admin")])
async def enable(request: Request, ref: str) -> dict[str, Any]:
    return deployment_view(await engine_of(request).set_active(ref, True))


@router.post("/api/v1/workflows/{ref}/pin", dependencies=[scope("admin")])
async def pin(request: Request, ref: str) -> dict[str, Any]:
    return deployment_view(await engine_of(request).pin(ref))


@router.post("/api/v1/workflows/{name}/unpin", dependencies=[scope("admin")])
async def unpin(request: Request, name: str) -> dict[str, Any]:
    return deployment_view(await engine_of(request).unpin(name))


@router.post("/api/v1/executions", status_code=201, dependencies=[scope("run")])
async def start(
    request: Request,
    body: StartRequest,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    engine = engine_of(request)
    try:
        execution_id = await engine.start_deployed(
            body.workflow, body.payload, idempotency_key=idempotency_key
        )
    except PayloadError as exc:
        raise HTTPException(422, str(exc)) from None
    return (await engine.get(execution_id)).to_dict()


@router.get("/api/v1/executions", dependencies=[scope("read")])
async def list_executions(
    request: Request, status: str | None = None, limit: int = 50, before: str | None = None
) -> dict[str, Any]:
    """Newest first, `limit` at a time; `next` is the `before` of the following page."""
    limit = max(1, min(limit, 1000))
    records = await engine_of(request).list(limit=limit, status=status, before=before)
    return {
        "executions": [summary(r) for r in records],
        "next": records[-1].id if len(records) == limit else None,
    }


@router.get("/api/v1/components", dependencies=[scope("read")])
async def list_components(request: Request) -> list[dict[str, Any]]:
    return [summary_of_component(c) for c in engine_of(request).registry.list()]


@router.get("/api/v1/components/{ref:path}", dependencies=[scope("read")])
async def inspect_component(request: Request, ref: str) -> dict[str, Any]:
    installed = engine_of(request).registry.resolve(ref)
    return {**summary_of_component(installed), "manifest": manifest_document(installed.manifest)}


@router.get("/api/v1/executions/{execution_id}", dependencies=[scope("read")])
async def show_execution(request: Request, execution_id: str) -> dict[str, Any]:
    return (await engine_of(request).get(execution_id)).to_dict()


@router.get("/api/v1/executions/{execution_id}/result", dependencies=[scope("read")])
async def result(request: Request, execution_id: str) -> Any:
    """The execution's result, also when it was stored as an artifact (above the inline
    limit, where the execution record shows `result_artifact` instead)."""
    return await engine_of(request).result(execution_id)


@router.get("/api/v1/executions/{execution_id}/artifacts", dependencies=[scope("read")])
async def artifacts(request: Request, execution_id: str) -> list[dict[str, Any]]:
    return [artifact_view(a) for a in await engine_of(request).artifacts(execution_id)]


@router.get(
    "/api/v1/executions/{execution_id}/artifacts/{artifact_id}",
    dependencies=[scope("read")],
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def artifact(request: Request, execution_id: str, artifact_id: str) -> Response:
    """An artifact's content, with its content type."""
    ref, data = await engine_of(request).artifact(execution_id, artifact_id)
    disposition = f"attachment; filename*=UTF-8''{quote(ref.name, safe='')}"
    return Response(
        data,
        media_type=ref.content_type,
        headers={"Content-Disposition": disposition, "ETag": f'"{ref.hash}"'},
    )


@router.get("/api/v1/executions/{execution_id}/events", dependencies=[scope("read")])
async def events(request: Request, execution_id: str, after: int = 0) -> list[dict[str, Any]]:
    engine = engine_of(request)
    full = (await engine.get(execution_id)).id
    return [
        {"seq": e.seq, "type": e.type, "node": e.node_id, "data": e.data, "at": e.at}
        for e in await engine.events(full, after)
    ]


@router.post("/api/v1/executions/{execution_id}/cancel", dependencies=[scope("run")])
async def cancel(request: Request, execution_id: str) -> dict[str, Any]:
    return (await _refusable(engine_of(request).cancel(execution_id))).to_dict()


@router.post("/api/v1/executions/{execution_id}/pause", dependencies=[scope("run")])
async def pause(request: Request, execution_id: str) -> dict[str, Any]:
    return (await _refusable(engine_of(request).pause(execution_id))).to_dict()


@router.post("/api/v1/executions/resume", dependencies=[scope("run")])
async def resume_interrupted(request: Request) -> list[dict[str, Any]]:
    """Take over every open execution whose process died (the server also does this when it
    starts); the executions taken over."""
    engine = engine_of(request)
    return [(await engine.get(i)).to_dict() for i in await engine.resume(wait=False)]


@router.post("/api/v1/executions/{execution_id}/resume", dependencies=[scope("run")])
async def resume(request: Request, execution_id: str) -> dict[str, Any]:
    engine = engine_of(request)
    execution = await engine.get(execution_id)
    if execution.status in FINAL_STATUSES:
        raise HTTPException(
            409, f"execution {execution.id} is {execution.status}: nothing to resume"
        )
    await engine.resume([execution.id], wait=False)
    return (await engine.get(execution.id)).to_dict()


@router.post("/api/v1/executions/{execution_id}/signal", dependencies=[scope("run")])
async def signal(request: Request, execution_id: str, body: SignalRequest) -> dict[str, Any]:
    signal_id = await _refusable(engine_of(request).signal(execution_id, body.name, body.payload))
    return {"signal": body.name, "id": signal_id}


@router.post(
    "/api/v1/executions/{execution_id}/retry", status_code=201, dependencies=[scope("run")]
)
async def retry(
    request: Request, execution_id: str, body: RetryRequest | None = None
) -> dict[str, Any]:
    engine = engine_of(request)
    new_id = await engine.retry(execution_id, body.from_node if body else None)
    return (await engine.get(new_id)).to_dict()


async def _refusable(work: Awaitable[T]) -> T:
    """Run an operation the execution's state may refuse (409 rather than 400)."""
    try:
        return await work
    except ExecutionNotFound:
        raise
    except FuchsiaError as exc:
        raise HTTPException(409, str(exc)) from None


async def webhook(request: Request, path: str) -> JSONResponse:
    """Start the deployed workflow whose webhook trigger is `/hooks/<path>`: the signature
    is checked over the raw body first; nothing is stored for a delivery that fails it; a
    redelivery (same delivery id) returns the execution the first one started."""
    engine = engine_of(request)
    target = await _webhook_target(engine, "/" + path, request.method)
    if target is None:
        return JSONResponse({"error": f"no webhook at /hooks/{path}"}, status_code=404)
    locked, spec = target
    limit = int(spec["max_body"])
    if int(request.headers.get("content-length") or 0) > limit:
        return JSONResponse({"error": f"the body is larger than {limit} bytes"}, 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return JSONResponse({"error": f"the body is larger than {limit} bytes"}, 413)
    secret = _secret(spec["secret"])
    if secret is None:
        return JSONResponse({"error": "the webhook's secret is not configured"}, 503)
    try:
        delivery = verify(
            spec["scheme"], secret, bytes(body), request.headers, float(spec["tolerance"])
        )
        payload = payloads.parse(bytes(body), source="body")
    except SignatureError:
        return JSONResponse({"error": "invalid or missing signature"}, 401)
    except PayloadError as exc:
        return JSONResponse({"error": str(exc)}, 422)
    if delivery is None and isinstance(payload, dict) and isinstance(payload.get("id"), str):
        delivery = payload["id"]  # Stripe events carry their id in the body
    answer = TriggerAnswer({} if payload is None else payload)
    if isinstance(spec.get("component"), dict):  # a component trigger decides
        request_view = {
            "method": request.method,
            "url": str(request.url),
            "headers": list(request.headers.items()),
            "body": bytes(body),
        }
        answer = await engine.poll_trigger(locked, spec["component"], request_view)
    key = f"webhook:{locked.name}:{delivery}" if delivery else None
    try:
        execution_id = await engine.start_triggered(locked, answer, key)
    except PayloadError as exc:
        return JSONResponse({"error": str(exc)}, 422)
    if execution_id is None:
        return JSONResponse({"status": "pending"}, 200)
    # for /metrics: a redelivery names the same execution, which is counted once
    await engine.store.record_fire(locked.name, time.time(), "webhook", execution_id)
    return JSONResponse({"id": execution_id}, 202)


for _method in ("POST", "PUT", "PATCH"):
    router.add_api_route(
        WEBHOOKS,
        webhook,
        methods=[_method],
        status_code=202,
        operation_id=f"webhook_{_method.lower()}",
    )


async def _webhook_target(
    engine: Engine, path: str, method: str
) -> tuple[LockedWorkflow, dict[str, Any]] | None:
    """The current deployment (pinned, else newest active) whose webhook listens at `path`."""
    for deployment in await engine.current_deployments():
        locked = LockedWorkflow.from_json(await engine.store.get_workflow(deployment.hash))
        spec = locked.document["trigger"].get("webhook")
        if spec and spec["path"] == path and spec["method"] == method:
            return locked, spec
    return None


def _secret(value: str) -> str | None:
    if value.startswith("env:"):
        return os.environ.get(value.removeprefix("env:")) or None
    return value

"""The HTTP API (FastAPI, OpenAPI at /openapi.json, docs at /docs and /redoc, served offline).

Every route but `/healthz` and the documentation requires a bearer token whose scope covers
it, unless the server was started with `--no-auth`; the OpenAPI document declares the bearer
scheme and marks each protected route. Bodies are bounded before they are read or
authenticated (`bodies.BodyLimit`) and parsed as JSON with a reason for every refusal. Every
refusal is `{"error": {"code", "message", ...fields}}` (`problems`): 400 malformed, 401
without a valid token, 403 without the scope, 404 naming what is missing, 409 for a request the
state refuses or a reused idempotency key, 413 over a size limit, 415 not JSON, 422 a field of
the wrong shape (each named) or a payload against its schema.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from fuchsia import payload as payloads
from fuchsia.components.manifest import manifest_document
from fuchsia.components.registry import summary as summary_of_component
from fuchsia.definition import parse_text
from fuchsia.definition.models import MAX_SIGNAL_NAME
from fuchsia.definition.source import MAX_FILE_BYTES
from fuchsia.errors import (
    Forbidden,
    FuchsiaError,
    InvalidParameters,
    InvalidState,
    PayloadTooLarge,
    Unauthenticated,
)
from fuchsia.runtime.engine import Engine
from fuchsia.runtime.idempotency import check_key as check_idempotency_key
from fuchsia.runtime.views import artifact_view, deployment_view, summary
from fuchsia.server import docs, metrics, problems
from fuchsia.server.auth import grants, hash_token
from fuchsia.server.bodies import BodyLimit, JsonRoute
from fuchsia.server.params import Text, TextParams
from fuchsia.server.schedule import Scheduler
from fuchsia.server.webhooks import PATH, webhook
from fuchsia.states import FINAL_STATUSES
from fuchsia.ui import routes as ui
from fuchsia.ui.session import stored_key

T = TypeVar("T")
WEBHOOKS = PATH  # authenticated by each workflow's signing secret instead
PUBLIC = frozenset({"/healthz", "/openapi.json"} | docs.PAGES)
MAX_SEQ = 2**63 - 1  # the stores' integer range
REF = r"^[^@]{1,200}(@[0-9]{1,18})?$"  # name, or name@version
Status = Literal[
    "pending", "running", "waiting", "paused",
    "completed", "completed_with_errors", "failed", "cancelled", "timed_out",
]  # fmt: skip
ExecutionId = Annotated[str, Path(min_length=1, max_length=64)]
ArtifactId = Annotated[str, Path(min_length=1, max_length=64)]
ComponentRef = Annotated[str, Path(min_length=1, max_length=300)]
WorkflowName = Annotated[str, Path(pattern=r"^[^@]{1,200}$")]
Seq = Annotated[int, Query(ge=0, le=MAX_SEQ, description="events after this sequence number")]
WorkflowRef = Annotated[str, Path(pattern=REF)]
bearer = HTTPBearer(auto_error=False, description="a token from `fuchsia tokens create`")


class StartRequest(BaseModel):
    workflow: Text = Field(pattern=REF, description="NAME or NAME@VERSION of a deployed workflow")
    payload: Any = None


class SignalRequest(BaseModel):
    name: Text = Field(min_length=1, max_length=MAX_SIGNAL_NAME)
    payload: Any = None


class RetryRequest(BaseModel):
    from_node: Text | None = Field(default=None, min_length=1, max_length=200)


class DeployRequest(BaseModel):
    source: str = Field(
        description=f"the workflow file's text, YAML or JSON; at most {MAX_FILE_BYTES} bytes"
    )


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
        app.state.ui_key = await stored_key(engine.store)  # UI sessions, shared
        if engine.drives and not engine.slots:  # a claiming server takes them as slots free
            await engine.resume(wait=False)  # what a previous server left running goes on
        scheduler = asyncio.create_task(Scheduler(engine).run()) if schedule else None
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.cancel()
                await asyncio.gather(scheduler, return_exceptions=True)
            await engine.close(grace)  # running nodes finish within the grace period

    app = FastAPI(
        title="Fuchsia", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.auth = auth
    app.add_middleware(BodyLimit)
    app.add_middleware(TextParams)  # outside BodyLimit: refused before a byte is read
    problems.install(app)
    docs.install(app)
    app.include_router(router)
    ui.install(app)  # the web UI at `/`, beside the API
    return app


def scope(name: str) -> Any:
    """A dependency that admits a request whose bearer token covers scope `name`."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if not request.app.state.auth:
            return
        token = credentials.credentials.strip() if credentials else ""
        store = request.app.state.engine.store
        record = await store.token_by_hash(hash_token(token)) if token else None
        if record is None or record.revoked_at is not None:
            raise Unauthenticated("a valid bearer token is required (Authorization: Bearer ...)")
        if not grants(record, name):
            raise Forbidden(name)

    return Depends(check)


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


router = APIRouter(route_class=JsonRoute, responses=problems.RESPONSES)


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    engine = engine_of(request)
    return {"status": "ok", "store": engine.store.url.split("@")[-1]}


@router.get("/metrics", dependencies=[scope("read")], response_class=PlainTextResponse)
async def prometheus(request: Request) -> Response:
    taken = await metrics.snapshot(engine_of(request).store)  # awaited: the loop is not blocked
    return Response(metrics.render(taken), media_type=metrics.CONTENT_TYPE)


@router.get("/api/v1/workers", dependencies=[scope("read")])
async def list_workers(request: Request) -> list[dict[str, Any]]:
    """The engines registered in the store: `fuchsia worker` processes, servers, runs."""
    return [w.to_json() for w in await engine_of(request).workers()]


@router.get("/api/v1/workflows", dependencies=[scope("read")])
async def list_workflows(request: Request) -> list[dict[str, Any]]:
    return [deployment_view(d) for d in await engine_of(request).deployments()]


@router.get("/api/v1/workflows/{ref}", dependencies=[scope("read")])
async def show_workflow(request: Request, ref: WorkflowRef) -> dict[str, Any]:
    engine = engine_of(request)
    deployment = await engine.deployment(ref)
    document = await engine.store.get_workflow(deployment.hash)
    return {**deployment_view(deployment), "workflow": payloads.parse(document, source="workflow")}


@router.post("/api/v1/workflows", status_code=201, dependencies=[scope("admin")])
async def deploy(request: Request, body: DeployRequest) -> dict[str, Any]:
    engine = engine_of(request)
    if len(body.source.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:  # the CLI's limit
        raise PayloadTooLarge(f"source is larger than {MAX_FILE_BYTES} bytes", limit=MAX_FILE_BYTES)
    locked = await engine.lock(parse_text(body.source, "<request>"))
    deployment, created = await engine.deploy(locked)
    return {**deployment_view(deployment), "created": created}


@router.post("/api/v1/workflows/{ref}/disable", dependencies=[scope("admin")])
async def disable(request: Request, ref: WorkflowRef) -> dict[str, Any]:
    return deployment_view(await engine_of(request).set_active(ref, False))


@router.post("/api/v1/workflows/{ref}/enable", dependencies=[scope("admin")])
async def enable(request: Request, ref: WorkflowRef) -> dict[str, Any]:
    return deployment_view(await engine_of(request).set_active(ref, True))


@router.post("/api/v1/workflows/{ref}/pin", dependencies=[scope("admin")])
async def pin(request: Request, ref: WorkflowRef) -> dict[str, Any]:
    return deployment_view(await engine_of(request).pin(ref))


@router.post("/api/v1/workflows/{name}/unpin", dependencies=[scope("admin")])
async def unpin(request: Request, name: WorkflowName) -> dict[str, Any]:
    return deployment_view(await engine_of(request).unpin(name))


@router.post("/api/v1/executions", status_code=201, dependencies=[scope("run")])
async def start(
    request: Request,
    body: StartRequest,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Start a deployed workflow. The same `Idempotency-Key` with the same workflow and
    payload returns the execution it started; with another workflow or payload: 409."""
    engine = engine_of(request)
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key, param="Idempotency-Key")
    attributes = {"http.route": "/api/v1/executions", "fuchsia.workflow.name": body.workflow}
    with engine.telemetry.trigger("api", attributes, request.headers.get("traceparent")):
        execution_id = await engine.start_deployed(
            body.workflow, body.payload, idempotency_key=idempotency_key
        )
    return (await engine.get(execution_id)).to_dict()


@router.get("/api/v1/executions", dependencies=[scope("read")])
async def list_executions(
    request: Request,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    before: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    workflow: Annotated[str | None, Query(pattern=r"^[^@]{1,200}$")] = None,
) -> dict[str, Any]:
    """Newest first, `limit` at a time (only `status`, only runs of the workflow named
    `workflow`); `next` is the `before` of the following page. A `before` that names no
    execution is refused (422), not read as a position among the ids."""
    engine = engine_of(request)
    if before is not None and not await engine.store.has_execution(before):
        message = f"no execution {before!r}: a cursor is the `next` of an earlier page"
        raise InvalidParameters([{"param": "query.before", "message": message}])
    records = await engine.list(limit=limit, status=status, before=before, workflow=workflow)
    return {
        "executions": [summary(r) for r in records],
        "next": records[-1].id if len(records) == limit else None,
    }


@router.get("/api/v1/components", dependencies=[scope("read")])
async def list_components(request: Request) -> list[dict[str, Any]]:
    return [summary_of_component(c) for c in engine_of(request).registry.list()]


@router.get("/api/v1/components/{ref:path}", dependencies=[scope("read")])
async def inspect_component(request: Request, ref: ComponentRef) -> dict[str, Any]:
    installed = engine_of(request).registry.resolve(ref)
    return {**summary_of_component(installed), "manifest": manifest_document(installed.manifest)}


@router.get("/api/v1/executions/{execution_id}", dependencies=[scope("read")])
async def show_execution(request: Request, execution_id: ExecutionId) -> dict[str, Any]:
    return (await engine_of(request).get(execution_id)).to_dict()


@router.get("/api/v1/executions/{execution_id}/result", dependencies=[scope("read")])
async def result(request: Request, execution_id: ExecutionId) -> Any:
    """The execution's result, also when it was stored as an artifact (above the inline
    limit, where the execution record shows `result_artifact` instead)."""
    return await engine_of(request).result(execution_id)


@router.get("/api/v1/executions/{execution_id}/artifacts", dependencies=[scope("read")])
async def artifacts(request: Request, execution_id: ExecutionId) -> list[dict[str, Any]]:
    return [artifact_view(a) for a in await engine_of(request).artifacts(execution_id)]


@router.get(
    "/api/v1/executions/{execution_id}/artifacts/{artifact_id}",
    dependencies=[scope("read")],
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def artifact(
    request: Request, execution_id: ExecutionId, artifact_id: ArtifactId
) -> Response:
    """An artifact's content, with its content type."""
    ref, data = await engine_of(request).artifact(execution_id, artifact_id)
    disposition = f"attachment; filename*=UTF-8''{quote(ref.name, safe='')}"
    return Response(
        data,
        media_type=ref.content_type,
        headers={"Content-Disposition": disposition, "ETag": f'"{ref.hash}"'},
    )


@router.get("/api/v1/executions/{execution_id}/events", dependencies=[scope("read")])
async def events(
    request: Request, execution_id: ExecutionId, after: Seq = 0
) -> list[dict[str, Any]]:
    return [e.to_json() for e in await engine_of(request).events(execution_id, after)]


@router.post("/api/v1/executions/{execution_id}/cancel", dependencies=[scope("run")])
async def cancel(request: Request, execution_id: ExecutionId) -> dict[str, Any]:
    return (await _refusable(engine_of(request).cancel(execution_id), execution_id)).to_dict()


@router.post("/api/v1/executions/{execution_id}/pause", dependencies=[scope("run")])
async def pause(request: Request, execution_id: ExecutionId) -> dict[str, Any]:
    return (await _refusable(engine_of(request).pause(execution_id), execution_id)).to_dict()


class ResumeRequest(BaseModel):
    ids: list[Annotated[Text, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=1000, description="full execution ids [default: every one]"
    )


@router.post("/api/v1/executions/resume", dependencies=[scope("run")])
async def resume_interrupted(
    request: Request, body: ResumeRequest | None = None
) -> list[dict[str, Any]]:
    """`Engine.resume`: lift the pause of each paused one of `ids`, and take over those of
    them (or, without `ids`, every open execution) whose process died (the server also does
    this when it starts); the executions this server took over."""
    engine = engine_of(request)
    ids = body.ids if body is not None else None
    return [(await engine.get(i)).to_dict() for i in await engine.resume(ids, wait=False)]


@router.post("/api/v1/executions/{execution_id}/resume", dependencies=[scope("run")])
async def resume(request: Request, execution_id: ExecutionId) -> dict[str, Any]:
    engine = engine_of(request)
    execution = await engine.get(execution_id)
    if execution.status in FINAL_STATUSES:
        raise InvalidState(
            f"execution {execution.id} is {execution.status}: nothing to resume",
            execution_id=execution.id,
        )
    await engine.resume([execution.id], wait=False)
    return (await engine.get(execution.id)).to_dict()


@router.post("/api/v1/executions/{execution_id}/signal", dependencies=[scope("run")])
async def signal(
    request: Request, execution_id: ExecutionId, body: SignalRequest
) -> dict[str, Any]:
    signal_id = await _refusable(
        engine_of(request).signal(execution_id, body.name, body.payload), execution_id
    )
    return {"signal": body.name, "id": signal_id}


@router.post(
    "/api/v1/executions/{execution_id}/retry", status_code=201, dependencies=[scope("run")]
)
async def retry(
    request: Request, execution_id: ExecutionId, body: RetryRequest | None = None
) -> dict[str, Any]:
    engine = engine_of(request)
    new_id = await engine.retry(execution_id, body.from_node if body else None)
    return (await engine.get(new_id)).to_dict()


async def _refusable(work: Awaitable[T], execution_id: str) -> T:
    """Run an operation the execution's state may refuse: the engine's plain refusals become
    `InvalidState` (409); its typed errors keep their class."""
    try:
        return await work
    except FuchsiaError as exc:
        if type(exc) is not FuchsiaError:
            raise
        raise InvalidState(str(exc), execution_id=execution_id) from None


for _method in ("POST", "PUT", "PATCH"):
    router.add_api_route(
        WEBHOOKS,
        webhook,
        methods=[_method],
        status_code=202,
        operation_id=f"webhook_{_method.lower()}",
        openapi_extra={"security": []},
    )

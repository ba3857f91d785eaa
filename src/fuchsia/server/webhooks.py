"""Webhook deliveries: `/hooks/<path>` starts the deployed workflow whose trigger listens there.

The body is bounded by the trigger's `max_body` before it is read (and by `BodyLimit` before
that), its signature is checked over the raw bytes before anything is parsed or stored, and the
delivery id makes the start idempotent: a redelivery of the same body returns the execution the
first one started, and the same delivery id with a different body is refused (409
`idempotency_conflict`): the engine compares payloads, and where a component trigger's answer
is the payload, the first body's sha256 is recorded under the delivery key and compared.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fuchsia.definition import LockedWorkflow
from fuchsia.errors import (
    FuchsiaError,
    IdempotencyConflict,
    PayloadTooLarge,
    RouteNotFound,
    Unauthenticated,
)
from fuchsia.observe import metrics
from fuchsia.runtime.engine import Engine, TriggerAnswer
from fuchsia.runtime.idempotency import check_key
from fuchsia.server.bodies import parse_json
from fuchsia.server.problems import answer
from fuchsia.server.signatures import SignatureError, verify

PATH = "/hooks/{path:path}"


class WebhookUnavailable(FuchsiaError):
    """The webhook exists but cannot check signatures: its secret is not configured."""

    code = "webhook_unavailable"


async def webhook(request: Request, path: str) -> JSONResponse:
    """Start the deployed workflow whose webhook trigger is `/hooks/<path>`: 202 `{"id"}`,
    or 200 `{"status": "pending"}` when its component trigger is not ready. Each delivery
    is counted by the status it is answered with (a refusal answered here as the API's
    error handler would answer it, an unexpected error as the 500 the app answers it with)."""
    try:
        response = await _deliver(request, path)
    except FuchsiaError as exc:
        response = answer(exc)
    except Exception as exc:  # the app's handlers answer (and log) it: counted as they answer
        code = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        metrics.recorder.webhook_delivered(code)
        raise
    metrics.recorder.webhook_delivered(response.status_code)
    return response


async def _deliver(request: Request, path: str) -> JSONResponse:
    engine: Engine = request.app.state.engine
    target = await _target(engine, "/" + path, request.method)
    if target is None:
        return answer(RouteNotFound(f"/hooks/{path}"))
    locked, spec = target
    body = await _read(request, int(spec["max_body"]))
    secret = _secret(spec["secret"])
    if secret is None:
        return answer(WebhookUnavailable("the webhook's secret is not configured"), 503)
    try:
        delivery = verify(spec["scheme"], secret, body, request.headers, float(spec["tolerance"]))
    except SignatureError:
        return answer(Unauthenticated("invalid or missing webhook signature"))
    payload = parse_json(body)
    if delivery is None and isinstance(payload, dict) and isinstance(payload.get("id"), str):
        delivery = payload["id"]  # Stripe events carry their id in the body
    if delivery is not None:
        check_key(delivery, param="the delivery id")
    key = f"webhook:{locked.name}:{delivery}" if delivery else None
    attributes = {"fuchsia.workflow.name": locked.name, "fuchsia.webhook.delivery": delivery}
    with engine.telemetry.trigger("webhook", attributes, request.headers.get("traceparent")):
        execution_id = await _start(engine, locked, spec, request, body, payload, key)
    if execution_id is None:
        return JSONResponse({"status": "pending"}, 200)
    # for /metrics: a redelivery names the same execution, which is counted once
    await engine.store.record_fire(locked.name, time.time(), "webhook", execution_id)
    return JSONResponse({"id": execution_id}, 202)


async def _read(request: Request, limit: int) -> bytes:
    """The raw body, refused (413) as soon as it is known to be over `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes", limit=limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes", limit=limit)
    return bytes(body)


async def _start(
    engine: Engine,
    locked: LockedWorkflow,
    spec: dict[str, Any],
    request: Request,
    body: bytes,
    payload: Any,
    key: str | None,
) -> str | None:
    if not isinstance(spec.get("component"), dict):
        # the payload is the body: the same delivery id with another body is a conflict
        return await engine.start(locked, payload, idempotency_key=key)
    if key is not None:  # the component answers anew: compare the bodies themselves
        digest = hashlib.sha256(body).hexdigest()
        if await engine.store.claim_delivery(key, digest) != digest:
            raise IdempotencyConflict(key, None)
    request_view = {
        "method": request.method,
        "url": str(request.url),
        "headers": list(request.headers.items()),
        "body": body,
    }
    answered: TriggerAnswer = await engine.poll_trigger(locked, spec["component"], request_view)
    return await engine.start_triggered(locked, answered, key)


async def _target(
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

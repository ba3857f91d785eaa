"""The UI's catalogue pages: deployed workflows (each with its graph, its locked document
and a Run form made from its trigger's JSON Schema), installed components, and the workers
registered in the store."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as Segment
from starlette.responses import Response

from fuchsia import payload as payloads
from fuchsia.errors import FuchsiaError
from fuchsia.runtime.engine import Engine
from fuchsia.runtime.views import iso
from fuchsia.ui import graph
from fuchsia.ui.forms import back, flash_of, read_form, shown
from fuchsia.ui.render import page
from fuchsia.ui.session import Viewer, check_csrf, viewer

Who = Annotated[Viewer, Depends(viewer)]
Name = Annotated[str, Segment(pattern=r"^[^@]{1,200}$")]
router = APIRouter(include_in_schema=False)
SIMPLE = ("string", "number", "integer", "boolean")
MAX_FIELDS = 30  # a schema with more top-level fields gets the JSON textarea


@dataclass(frozen=True)
class Field:
    """One input of a Run form: a top-level property of the trigger's object schema."""

    name: str
    type: str  # string, number, integer or boolean
    required: bool
    description: str
    choices: list[str]
    default: str


def form_fields(schema: dict[str, Any] | None) -> list[Field] | None:
    """The fields of a Run form for `schema`, or None when it needs the JSON textarea
    (no schema, not an object of simple properties, or too many of them)."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return None
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties or len(properties) > MAX_FIELDS:
        return None
    required = set(schema.get("required") or [])
    fields = []
    for name, spec in properties.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in SIMPLE:
            return None
        choices = [str(c) for c in spec.get("enum", [])] if kind == "string" else []
        default = spec.get("default")
        fields.append(
            Field(
                str(name),
                str(kind),
                name in required,
                str(spec.get("description", "")),
                choices,
                "" if default is None else str(default),
            )
        )
    return fields


def payload_of(fields: list[Field] | None, form: dict[str, str]) -> Any:
    """The payload a posted Run form describes (its JSON textarea, or its typed fields:
    an empty optional field is left out; a number that is not one is an error)."""
    if fields is None:
        text = form.get("payload", "").strip() or "{}"
        return payloads.parse(text, source="the payload")  # bounded: depth, digits, size
    payload: dict[str, Any] = {}
    for field in fields:
        raw = form.get(f"field.{field.name}", "")
        if field.type == "boolean":
            payload[field.name] = raw == "on"
        elif raw == "" and not field.required:
            continue
        elif field.type in ("number", "integer"):
            try:
                payload[field.name] = int(raw) if field.type == "integer" else float(raw)
            except ValueError:
                raise FuchsiaError(f"{field.name}: {raw!r} is not a {field.type}") from None
        else:
            payload[field.name] = raw
    return payload


def trigger_facts(trigger: Any, now: float, count: int = 5) -> dict[str, Any]:
    """What the workflow page says of a trigger: its type, the next `count` instants of a
    cron or poll schedule (ISO, UTC), a webhook's address."""
    if not isinstance(trigger, dict) or "type" not in trigger:
        return {"type": "manual"}
    kind = str(trigger["type"])
    facts: dict[str, Any] = {"type": kind}
    if kind in ("cron", "poll"):
        from fuchsia.server.schedule import next_instant

        instants, at = [], now
        try:
            for _ in range(count):
                at = next_instant(trigger, at)
                instants.append(iso(at))
        except (KeyError, ValueError, TypeError):
            pass  # a trigger this version cannot read: shown as its document only
        facts["next"] = instants
    elif kind == "webhook" and isinstance(trigger.get("webhook"), dict):
        facts["path"] = "/hooks" + str(trigger["webhook"].get("path", ""))
    return facts


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


@router.get("/workflows")
async def workflows(request: Request, who: Who) -> Response:
    deployments = await engine_of(request).deployments()
    by_name: dict[str, list[Any]] = {}
    for deployment in deployments:
        by_name.setdefault(deployment.name, []).append(deployment)
    return shown(page("workflows.html", who=who, by_name=by_name), who, request)


@router.get("/workflows/{name}")
async def workflow(
    request: Request,
    who: Who,
    name: Name,
    version: Annotated[int | None, Query(ge=1, le=10**18)] = None,
) -> Response:
    engine = engine_of(request)
    try:
        deployed = await engine.workflow(name if version is None else f"{name}@{version}")
    except FuchsiaError as exc:
        return page("error.html", 404, who=who, message=str(exc))
    locked = deployed.workflow
    values: dict[str, Any] = dict(
        who=who,
        deployed=deployed,
        versions=await engine.deployments(name),
        layout=graph.of_workflow(locked),
        kinds={n: locked.nodes[n].kind for n in locked.order},
        document=yaml.safe_dump(locked.document, sort_keys=False, allow_unicode=True),
        schema=locked.trigger_schema,
        fields=form_fields(locked.trigger_schema),
        trigger=locked.document.get("trigger"),
        facts=trigger_facts(locked.document.get("trigger"), time.time()),
        message=flash_of(request),
    )
    return shown(page("workflow.html", **values), who, request)


@router.post("/workflows/{name}/run")
async def run_workflow(request: Request, who: Who, name: Name) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get("csrf"))
    if not who.can_run:
        return page("error.html", 403, who=who, message="Your token may read, not run (scope run).")
    engine = engine_of(request)
    version = form.get("version", "")
    ref = f"{name}@{version}" if version.isdigit() else name
    here = f"/workflows/{name}" + (f"?{urlencode({'version': version})}" if version else "")
    try:
        deployed = await engine.workflow(ref)
        payload = payload_of(form_fields(deployed.workflow.trigger_schema), form)
        execution_id = await engine.start_deployed(ref, payload)
    except FuchsiaError as exc:
        return back(here, str(exc))
    return back(f"/runs/{execution_id}")


ADMIN_ACTIONS = ("enable", "disable", "pin", "unpin")


@router.post("/workflows/{name}/{action}")
async def manage_workflow(request: Request, who: Who, name: Name, action: str) -> Response:
    """Enable, disable, pin or unpin one version (admin scope)."""
    form = await read_form(request)
    check_csrf(request, form.get("csrf"))
    if not who.can_admin:
        return page("error.html", 403, who=who, message="Managing workflows needs scope admin.")
    if action not in ADMIN_ACTIONS:
        return page("error.html", 404, who=who, message=f"No action {action!r}.")
    engine = engine_of(request)
    version = form.get("version", "")
    ref = f"{name}@{version}" if version.isdigit() else name
    here = f"/workflows/{name}" + (f"?{urlencode({'version': version})}" if version else "")
    try:
        if action in ("enable", "disable"):
            await engine.set_active(ref, action == "enable")
        elif action == "pin":
            await engine.pin(ref)
        else:
            await engine.unpin(name)
    except FuchsiaError as exc:
        return back(here, str(exc))
    return back(here)


@router.get("/components")
async def components(request: Request, who: Who) -> Response:
    from fuchsia.components.manifest import manifest_document
    from fuchsia.components.registry import summary

    try:
        installed = [
            {**summary(c), "manifest": json.dumps(manifest_document(c.manifest), indent=2)}
            for c in engine_of(request).registry.list()
        ]
    except FuchsiaError as exc:
        return page("error.html", 500, who=who, message=str(exc))
    return shown(page("components.html", who=who, installed=installed), who, request)


@router.get("/workers")
async def workers(request: Request, who: Who) -> Response:
    found = await engine_of(request).workers()
    return shown(page("workers.html", who=who, workers=found), who, request)

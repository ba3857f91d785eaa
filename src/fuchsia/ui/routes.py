"""The UI's pages, fragments and actions, mounted at `/` of `fuchsia serve` beside the API.

Pages are server-rendered; htmx re-fetches a run page's live parts (`/runs/ID/parts`, each
swapped by its id) when the page's event stream (`fuchsia.ui.live`) says the run changed.
Actions are plain form posts with a CSRF token, answered with a redirect back to the page
(Post/Redirect/Get); what the engine refuses (a cancel of a finished run, say) comes back as
a message on that page, never a traceback. A token without the `run` scope sees every page,
no action button, and a 403 for any action it posts anyway.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as Segment
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from fuchsia import payload as payloads
from fuchsia.errors import ExecutionNotFound, FuchsiaError, InvalidState
from fuchsia.runtime.engine import Engine
from fuchsia.states import FINAL_STATUSES, ExecutionStatus
from fuchsia.ui import live, pages
from fuchsia.ui.forms import back, flash_of, read_form, shown
from fuchsia.ui.render import HEADERS, page
from fuchsia.ui.runs import ItemRow, RunView, event_text, items_of, run_view, runs_page
from fuchsia.ui.session import (
    SESSION,
    SESSION_SECONDS,
    CsrfRefused,
    LoginRequired,
    Viewer,
    browser_of,
    check_csrf,
    csrf_of,
    key_of,
    login_token,
    session_value,
    set_cookie,
    viewer,
)

ACTION_TIMEOUT = 30.0  # seconds a cancel or pause waits for the run to stop
STATUSES = [str(s) for s in ExecutionStatus]
Who = Annotated[Viewer, Depends(viewer)]
RunId = Annotated[str, Segment(min_length=1, max_length=64)]
ArtifactId = Annotated[str, Segment(min_length=1, max_length=64)]
router = APIRouter(include_in_schema=False)
router.include_router(pages.router)
router.include_router(live.router)


def install(app: FastAPI) -> None:
    """Serve the UI from `app`: its routes, its static files, its login redirect."""
    app.state.ui_key = secrets.token_bytes(32)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(CsrfRefused, _csrf_refused)


async def _to_login(request: Request, _: Exception) -> Response:
    if request.method != "GET":
        return page("error.html", 401, who=None, message="Log in first: no valid session.")
    if request.headers.get("HX-Request"):  # a fragment: the whole page goes to the login
        return Response(status_code=204, headers={"HX-Redirect": "/login"})
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", 303)


async def _csrf_refused(request: Request, _: Exception) -> Response:
    return page("error.html", 403, who=None, message="The form's CSRF token did not match.")


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


# -- login ----------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    browser, new = browser_of(request)
    who = Viewer(None, False, False, csrf_of(key_of(request), browser), browser, new)
    if not request.app.state.auth:
        return back(_safe_next(next))
    response = page("login.html", who=None, csrf=who.csrf, next=_safe_next(next), message=None)
    return shown(response, who, request)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get("csrf"))
    record = await login_token(request, form.get("token", ""))
    target = _safe_next(form.get("next"))
    if record is None:
        return page(
            "login.html", 401, who=None, csrf=form.get("csrf"), next=target,
            message="That token is not valid (or was revoked).",
        )  # fmt: skip
    response = RedirectResponse(target, 303)
    session = session_value(request.app.state.ui_key, record.id)
    https = request.url.scheme == "https"
    set_cookie(response, SESSION, session, SESSION_SECONDS, secure=https)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get("csrf"))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION, path="/")
    return response


# -- runs -----------------------------------------------------------------------------------


def _filters(status: str | None, workflow: str | None, q: str | None) -> dict[str, str]:
    return {k: v for k, v in {"status": status, "workflow": workflow, "q": q}.items() if v}


@router.get("/")
async def runs(
    request: Request,
    who: Who,
    status: Annotated[str | None, Query(max_length=40)] = None,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    engine = engine_of(request)
    message = flash_of(request)
    status = status if status in STATUSES else None
    if q and q.strip():
        try:
            found = await engine.store.resolve_id(q.strip())
        except FuchsiaError as exc:
            message = f"No single run matches “{q.strip()}”: {exc}"
        else:
            return back(f"/runs/{found}")
    listed = await runs_page(engine, status=status, workflow=workflow or None, before=before)
    if listed.unknown is not None:
        unknown = f"No run “{listed.unknown}” to page on from: the newest runs."
        message, before = (f"{message} {unknown}" if message else unknown), None
    names = sorted({d.name for d in await engine.deployments()})
    filters = _filters(status, workflow, None)
    older = urlencode({**filters, "before": listed.next}) if listed.next else None
    here = {**filters, **({"before": before} if before else {})}
    values: dict[str, Any] = dict(
        who=who, listed=listed, statuses=STATUSES, names=names, filters=filters,
        message=message, older=older, stream="/live/runs?" + urlencode(filters),
        part="/part/runs?" + urlencode(here),
    )  # fmt: skip
    return shown(page("runs.html", **values), who, request)


@router.get("/part/runs")
async def runs_part(
    request: Request,
    who: Who,
    status: Annotated[str | None, Query(max_length=40)] = None,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
    before: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    status = status if status in STATUSES else None
    listed = await runs_page(
        engine_of(request), status=status, workflow=workflow or None, before=before
    )
    part = request.url.path + (f"?{request.url.query}" if request.url.query else "?")
    return page("runs_table.html", who=who, listed=listed, part=part)


async def _run_or_missing(
    request: Request, who: Viewer, execution_id: str, node: str | None
) -> Any:
    try:
        return await run_view(engine_of(request), execution_id, node)
    except FuchsiaError as exc:
        status = 404 if isinstance(exc, ExecutionNotFound) else 400
        return page("error.html", status, who=who, message=str(exc))


@router.get("/runs/{execution_id}")
async def run(
    request: Request,
    who: Who,
    execution_id: RunId,
    node: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    view = await _run_or_missing(request, who, execution_id, node)
    if isinstance(view, Response):
        return view
    if view.execution.id != execution_id:  # a prefix: the page's own address is the full id
        return back(
            f"/runs/{view.execution.id}" + (f"?{urlencode({'node': node})}" if node else "")
        )
    selected = node if node in view.nodes else None
    values: dict[str, Any] = dict(
        who=who, view=view, selected=selected, message=flash_of(request), event_text=event_text,
        items=await _items(request, view, selected),
    )  # fmt: skip
    return shown(page("run.html", **values), who, request)


@router.get("/runs/{execution_id}/parts")
async def run_parts(
    request: Request,
    who: Who,
    execution_id: RunId,
    node: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The live parts of a run page in one answer (summary, graph, node panel, timeline,
    events), each marked to be swapped out of band by its id: one read of the run for
    every change the page hears of."""
    view = await _run_or_missing(request, who, execution_id, node)
    if isinstance(view, Response):
        return view
    selected = node if node in view.nodes else None
    values: dict[str, Any] = dict(
        who=who, view=view, selected=selected, event_text=event_text,
        items=await _items(request, view, selected),
    )  # fmt: skip
    return page("run_parts.html", **values)


async def _items(request: Request, view: RunView, selected: str | None) -> list[ItemRow]:
    if selected is None or view.nodes[selected].run.items is None:
        return []
    return await items_of(engine_of(request), view.execution.id, selected)


@router.get("/runs/{execution_id}/artifacts/{artifact_id}")
async def artifact(
    request: Request,
    who: Who,
    execution_id: RunId,
    artifact_id: Annotated[str, Segment(max_length=64)],
) -> Response:
    try:
        ref, data = await engine_of(request).artifact(execution_id, artifact_id)
    except FuchsiaError as exc:
        return page("error.html", 404, who=who, message=str(exc))
    headers = {
        **HEADERS,
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(ref.name, safe='')}",
    }
    return Response(data, media_type="application/octet-stream", headers=headers)


# -- actions --------------------------------------------------------------------------------

Action = Callable[[Engine, str, dict[str, str]], Awaitable[str | None]]


async def _cancel(engine: Engine, execution_id: str, form: dict[str, str]) -> str | None:
    async with asyncio.timeout(ACTION_TIMEOUT):
        await engine.cancel(execution_id)
    return None


async def _pause(engine: Engine, execution_id: str, form: dict[str, str]) -> str | None:
    async with asyncio.timeout(ACTION_TIMEOUT):
        await engine.pause(execution_id)
    return None


async def _resume(engine: Engine, execution_id: str, form: dict[str, str]) -> str | None:
    execution = await engine.get(execution_id)
    if execution.status in FINAL_STATUSES:
        raise InvalidState(f"execution {execution.id} is {execution.status}: nothing to resume")
    await engine.resume([execution.id], wait=False)
    return None


async def _retry(engine: Engine, execution_id: str, form: dict[str, str]) -> str | None:
    new_id = await engine.retry(execution_id, form.get("from_node") or None)
    return f"/runs/{new_id}"


async def _signal(engine: Engine, execution_id: str, form: dict[str, str]) -> str | None:
    """Send the signal a wait node waits for: the JSON payload given (an object), with
    `approved` set to true (Approve) or false (Reject); Send sends the payload as it is."""
    name = form.get("signal", "")
    if not name:
        raise FuchsiaError("the form names no signal")
    text = form.get("payload", "").strip() or "{}"
    value = payloads.parse(text, source="the payload")  # bounded: depth, digits, size
    decision = form.get("decision")
    if decision in ("approve", "reject"):
        if not isinstance(value, dict):
            raise FuchsiaError("to approve or reject, the payload must be a JSON object")
        value = {**value, "approved": decision == "approve"}
    await engine.signal(execution_id, name, value)
    return None


ACTIONS: dict[str, Action] = {
    "cancel": _cancel,
    "pause": _pause,
    "resume": _resume,
    "retry": _retry,
    "signal": _signal,
}


@router.post("/runs/{execution_id}/{action}")
async def act(request: Request, who: Who, execution_id: RunId, action: str) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get("csrf"))
    if not who.can_run:
        return page("error.html", 403, who=who, message="Your token may read, not act (scope run).")
    work = ACTIONS.get(action)
    if work is None:
        return page("error.html", 404, who=who, message=f"No action {action!r}.")
    node = form.get("node")
    here = f"/runs/{execution_id}" + (f"?{urlencode({'node': node})}" if node else "")
    try:
        target = await work(engine_of(request), execution_id, form)
    except TimeoutError:
        return back(here, f"The {action} was requested; the run has not stopped yet.")
    except FuchsiaError as exc:
        return back(here, str(exc))
    return back(target or here)

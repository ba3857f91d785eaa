"""The web UI in a real browser against a real server: the runs page, a run's live graph,
a node's panel, the actions (signal, cancel, retry from a node, start from a form), and a
read-only token refused every action. Every wait is on state (Playwright's `expect`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from support.server import Served, wait_for
from ui.conftest import WAIT_MS

HOSTILE = '<script>window.pwned = 1</script>"><img src=x onerror="window.pwned = 2">'


def keep_screenshot(page: Page, name: str) -> None:
    """With FUCHSIA_UI_SCREENSHOTS=DIR, save the page as DIR/name (how docs/ has its
    pictures: `FUCHSIA_UI_SCREENSHOTS=docs pytest tests/ui`)."""
    folder = os.environ.get("FUCHSIA_UI_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def start(api: httpx.Client, workflow: str, payload: Any) -> str:
    answer = api.post("/api/v1/executions", json={"workflow": workflow, "payload": payload})
    assert answer.status_code == 201, answer.text
    execution_id: str = answer.json()["id"]
    return execution_id


def node(page: Page, node_id: str) -> Any:
    return page.locator(f'svg.graph g.node[data-node="{node_id}"]')


def status(page: Page) -> Any:
    return page.locator("#summary")


def test_the_runs_page_lists_runs_with_their_status_and_workflow(
    page: Page, api: httpx.Client
) -> None:
    execution_id = start(api, "pipeline", {})
    wait_for(api, execution_id, "completed")
    page.goto("/")
    row = page.locator(f'tr[data-run="{execution_id}"]')
    expect(row).to_contain_text("completed")
    expect(row).to_contain_text("pipeline@1")
    expect(row).to_contain_text("manual")
    page.goto("/?status=waiting")
    expect(page.locator(f'tr[data-run="{execution_id}"]')).to_have_count(0)
    page.goto(f"/?q={execution_id[:20]}")  # an id prefix opens its run
    expect(page).to_have_url(re.compile(f"/runs/{execution_id}$"))


def test_a_new_run_appears_on_an_open_runs_page_without_a_reload(
    page: Page, api: httpx.Client
) -> None:
    page.goto("/")
    page.evaluate("window.marker = 'same page'")
    execution_id = start(api, "pipeline", {})
    expect(page.locator(f'tr[data-run="{execution_id}"]')).to_be_visible(timeout=WAIT_MS)
    assert page.evaluate("window.marker") == "same page"


def test_an_open_run_page_shows_node_states_change_without_a_reload(
    page: Page, api: httpx.Client
) -> None:
    execution_id = start(api, "approval", {"amount": 5})
    page.goto(f"/runs/{execution_id}")
    expect(node(page, "approve")).to_have_attribute("data-state", "waiting")
    expect(node(page, "book")).to_have_attribute("data-state", "pending")
    page.evaluate("window.marker = 'same page'")
    sent = api.post(
        f"/api/v1/executions/{execution_id}/signal",
        json={"name": "approval", "payload": {"approved": True, "by": "api"}},
    )  # from outside the page: only the store tells it
    assert sent.status_code == 200, sent.text
    expect(node(page, "book")).to_have_attribute("data-state", "succeeded")
    expect(status(page)).to_have_attribute("data-status", "completed")
    assert page.evaluate("window.marker") == "same page"


ELSEWHERE = """
name: elsewhere
nodes:
  first: {transform: {n: 1}}
  hold: {after: first, wait: {signal: go}}
  last: {after: hold, transform: {n: 2}}
"""


def test_a_run_driven_by_another_process_updates_the_open_page(
    page: Page, served: Served, api: httpx.Client, tmp_path: Path
) -> None:
    flow = tmp_path / "elsewhere.yaml"
    flow.write_text(ELSEWHERE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env["FUCHSIA_HOME"] = str(served.home)
    fuchsia = [sys.executable, "-m", "fuchsia"]
    running = subprocess.Popen(
        [*fuchsia, "run", str(flow), "--json", "--db", served.db],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # drives the run in its own process, against the server's store
    try:
        page.goto("/")
        row = page.locator("tr", has_text="elsewhere@1")
        expect(row).to_contain_text("waiting")  # the runs page heard of it on its own
        row.get_by_role("link").first.click()
        expect(node(page, "hold")).to_have_attribute("data-state", "waiting")
        page.evaluate("window.marker = 'same page'")
        execution_id = page.url.rsplit("/", 1)[-1]
        signalled = subprocess.run(
            [*fuchsia, "runs", "signal", execution_id, "go", "--db", served.db],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )  # from a third process
        assert signalled.returncode == 0, signalled.stderr
        expect(node(page, "last")).to_have_attribute("data-state", "succeeded")
        expect(status(page)).to_have_attribute("data-status", "completed")
        assert page.evaluate("window.marker") == "same page"
        _, errors = running.communicate(timeout=60)
        assert running.returncode == 0, errors
    finally:
        if running.poll() is None:
            running.kill()
            running.communicate()


def test_a_node_panel_shows_its_output_and_hostile_text_stays_text(
    page: Page, api: httpx.Client
) -> None:
    execution_id = start(api, "pipeline", {"text": HOSTILE})
    wait_for(api, execution_id, "completed")
    page.goto(f"/runs/{execution_id}")
    expect(node(page, "square")).to_contain_text("✓3")  # a foreach: its items by state
    page.locator('a.node-link[data-node="fetch"]').click()
    panel = page.locator("#node")
    expect(panel.locator("h2")).to_have_text("fetch")
    expect(panel.locator("pre.output")).to_contain_text("<script>window.pwned = 1</script>")
    expect(panel.locator("pre.output")).to_contain_text('\\"><img src=x onerror=')
    expect(panel.locator("pre.output")).to_contain_text('"items"')
    assert page.evaluate("window.pwned") is None
    assert page.locator("img").count() == 0
    page.locator('a.node-link[data-node="square"]').click()  # a foreach expands to its items
    expect(page.locator("#node table.items tbody tr")).to_have_count(3)
    expect(page.locator('#node tr[data-item="2"]')).to_contain_text("succeeded")


def test_a_node_panel_shows_the_components_log_lines(page: Page, api: httpx.Client) -> None:
    execution_id = start(api, "chatty", {})
    wait_for(api, execution_id, "completed")
    page.goto(f"/runs/{execution_id}?node=talk")
    logs = page.locator("#node table.logs tbody tr")
    expect(logs).to_have_count(2)
    expect(logs.first).to_contain_text("info")
    expect(logs.first).to_contain_text("hello from chatter")
    expect(page.locator("#node pre.output")).to_contain_text('"logged": 2')


def test_approving_a_waiting_node_through_its_form_completes_the_run(
    page: Page, api: httpx.Client
) -> None:
    execution_id = start(api, "approval", {"amount": 7})
    page.goto(f"/runs/{execution_id}?node=approve")
    form = page.locator("form.signal")
    form.locator("textarea").fill('{"by": "ada"}')
    keep_screenshot(page, "ui-run.png")
    form.get_by_role("button", name="Approve").click()
    expect(status(page)).to_have_attribute("data-status", "completed")
    done = wait_for(api, execution_id, "completed")
    assert done["result"] == {"approved": True, "by": "ada"}
    expect(page.locator("form.signal")).to_have_count(0)


def test_a_payload_being_typed_survives_a_live_refresh(page: Page, api: httpx.Client) -> None:
    execution_id = start(api, "approval", {"amount": 6})
    page.goto(f"/runs/{execution_id}?node=approve")
    page.locator("form.signal textarea").fill('{"by": "still typing"}')
    page.evaluate("document.getElementById('node').dataset.old = 'yes'")
    page.evaluate("htmx.trigger(document.body, 'fuchsia:changed')")  # what a change does
    expect(page.locator("#node[data-old]")).to_have_count(0)  # the panel was swapped anew
    expect(page.locator("form.signal textarea")).to_have_value('{"by": "still typing"}')
    api.post(f"/api/v1/executions/{execution_id}/cancel")


def test_a_bad_signal_payload_is_a_message_on_the_page(page: Page, api: httpx.Client) -> None:
    execution_id = start(api, "approval", {"amount": 1})
    page.goto(f"/runs/{execution_id}?node=approve")
    page.locator("form.signal textarea").fill("{not json")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".flash")).to_contain_text("not valid JSON")
    expect(status(page)).to_have_attribute("data-status", "waiting")
    api.post(f"/api/v1/executions/{execution_id}/cancel")


def test_cancelling_a_run_from_its_page(page: Page, api: httpx.Client) -> None:
    execution_id = start(api, "approval", {"amount": 2})
    page.goto(f"/runs/{execution_id}")
    expect(node(page, "approve")).to_have_attribute("data-state", "waiting")
    page.get_by_role("button", name="Cancel").click()
    expect(status(page)).to_have_attribute("data-status", "cancelled")
    assert api.get(f"/api/v1/executions/{execution_id}").json()["status"] == "cancelled"
    page.get_by_role("button", name="Retry").wait_for()  # a finished run offers a retry


def test_pausing_and_resuming_a_run_from_its_page(page: Page, api: httpx.Client) -> None:
    execution_id = start(api, "approval", {"amount": 4})
    page.goto(f"/runs/{execution_id}")
    expect(status(page)).to_have_attribute("data-status", "waiting")
    page.get_by_role("button", name="Pause").click()
    expect(status(page)).to_have_attribute("data-status", "paused")
    page.get_by_role("button", name="Resume").click()
    expect(status(page)).to_have_attribute("data-status", "waiting")
    page.get_by_role("button", name="Cancel").click()
    expect(status(page)).to_have_attribute("data-status", "cancelled")


def test_what_the_engine_refuses_is_a_message_on_the_page_not_a_traceback(
    page: Page, api: httpx.Client
) -> None:
    execution_id = start(api, "pipeline", {})
    wait_for(api, execution_id, "completed")
    page.goto(f"/runs/{execution_id}")
    csrf = page.locator('header input[name="csrf"]').get_attribute("value")
    assert csrf
    answer = page.request.post(f"/runs/{execution_id}/cancel", form={"csrf": csrf}, max_redirects=0)
    assert answer.status == 303 and answer.headers["location"] == f"/runs/{execution_id}"
    page.goto(f"/runs/{execution_id}")
    expect(page.locator(".flash")).to_contain_text("already completed; nothing to cancel")
    assert "Traceback" not in page.content()
    page.reload()  # shown once
    expect(page.locator(".flash")).to_have_count(0)


def test_an_admin_disables_and_enables_a_version(admin: BrowserContext) -> None:
    page = admin.new_page()
    try:
        page.goto("/workflows/pipeline?version=1")
        page.get_by_role("button", name="Disable").click()
        expect(page.locator(".title")).to_contain_text("disabled")
        expect(page.get_by_role("button", name="Run")).to_have_count(0)
        page.get_by_role("button", name="Enable").click()
        expect(page.locator(".title")).to_contain_text("active")
        expect(page.get_by_role("button", name="Run")).to_have_count(1)
    finally:
        page.close()


def test_retrying_from_a_node_reuses_what_came_before_it(page: Page, api: httpx.Client) -> None:
    execution_id = start(api, "pipeline", {"text": "again"})
    wait_for(api, execution_id, "completed")
    page.goto(f"/runs/{execution_id}?node=total")
    page.get_by_role("button", name="Retry from total").click()
    expect(page).not_to_have_url(re.compile(f"/runs/{execution_id}"))
    new_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    expect(status(page)).to_have_attribute("data-status", "completed")
    expect(page.locator('#events tr[data-type="node_reused"]')).to_have_count(2)
    expect(page.locator('svg.timeline rect.bar[data-node="total"]')).to_have_count(1)
    events = api.get(f"/api/v1/executions/{new_id}/events").json()
    assert {e["node"] for e in events if e["type"] == "node_reused"} == {"fetch", "square"}


def test_starting_a_deployed_workflow_from_its_generated_form(page: Page) -> None:
    page.goto("/workflows")
    page.get_by_role("link", name="approval").click()
    page.get_by_label("amount").fill("12.5")
    page.get_by_label("note").fill("from the form")
    page.get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f]{26}$"))
    expect(status(page)).to_have_attribute("data-status", "waiting")
    page.locator("details.values summary").click()
    expect(page.locator("details.values pre").first).to_contain_text('"amount": 12.5')
    page.get_by_role("button", name="Cancel").click()
    expect(status(page)).to_have_attribute("data-status", "cancelled")


def test_a_read_only_token_sees_no_action_and_is_refused_one(
    reader: BrowserContext, served: Served, api: httpx.Client
) -> None:
    execution_id = start(api, "approval", {"amount": 3})
    page = reader.new_page()
    try:
        page.goto(f"/runs/{execution_id}?node=approve")
        expect(node(page, "approve")).to_have_attribute("data-state", "waiting")
        expect(page.locator("header .whoami")).to_contain_text("read only")
        expect(page.locator(".actions button")).to_have_count(0)
        expect(page.locator("form.signal")).to_have_count(0)
        page.goto("/workflows/approval")
        expect(page.get_by_role("button", name="Run")).to_have_count(0)
        expect(page.get_by_role("button", name="Disable")).to_have_count(0)
        page.goto(f"/runs/{execution_id}?node=approve")
        expect(page.locator("form.signal")).to_have_count(0)
        csrf = page.locator('header input[name="csrf"]').get_attribute("value")
        assert csrf
        refused = page.request.post(
            f"/runs/{execution_id}/cancel", form={"csrf": csrf}, max_redirects=0
        )
        assert refused.status == 403
        assert "may read, not act" in refused.text()
    finally:
        page.close()
    assert api.get(f"/api/v1/executions/{execution_id}").json()["status"] == "waiting"
    api.post(f"/api/v1/executions/{execution_id}/cancel")


def test_pages_send_a_csp_without_unsafe_inline_and_fit_a_phone(
    browser: Any, served: Served, api: httpx.Client
) -> None:
    execution_id = start(api, "approval", {"amount": 9})
    anonymous = httpx.get(f"{served.url}/", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    context = browser.new_context(base_url=served.url, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        answer = page.goto("/login")
        assert answer is not None
        csp = answer.headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "script-src 'self'" in csp
        page.get_by_label("API token").fill(served.tokens["read"])
        page.get_by_role("button", name="Log in").click()
        for path in ("/", f"/runs/{execution_id}", "/workflows", "/workflows/approval"):
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
        page.goto(f"/runs/{execution_id}?node=approve")
        expect(node(page, "approve")).to_have_attribute("data-state", "waiting")
        keep_screenshot(page, "ui-run-phone.png")
    finally:
        context.close()
    api.post(f"/api/v1/executions/{execution_id}/cancel")


def test_a_wrong_token_is_refused_at_the_login_page(browser: Any, served: Served) -> None:
    context = browser.new_context(base_url=served.url)
    try:
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("API token").fill("fct_not-a-token")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".flash")).to_contain_text("not valid")
        page.goto("/")
        expect(page).to_have_url(re.compile("/login"))
    finally:
        context.close()


def test_logging_out_or_revoking_the_token_ends_the_session(browser: Any, served: Served) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env["FUCHSIA_HOME"] = str(served.home)
    fuchsia = [sys.executable, "-m", "fuchsia"]
    made = subprocess.run(
        [*fuchsia, "tokens", "create", "short-lived", "--json", "--db", served.db],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    token = json.loads(made.stdout)
    context = browser.new_context(base_url=served.url)
    try:
        page = context.new_page()
        for step in ("log out", "revoke"):
            page.goto("/login")
            page.get_by_label("API token").fill(token["token"])
            page.get_by_role("button", name="Log in").click()
            expect(page.locator("header .whoami")).to_contain_text("short-lived")
            cookies = {c["name"]: c for c in context.cookies()}
            assert token["token"] not in cookies["fuchsia_session"]["value"]
            assert cookies["fuchsia_session"]["httpOnly"]
            assert cookies["fuchsia_session"]["sameSite"] == "Strict"
            if step == "log out":
                page.get_by_role("button", name="Log out").click()
                expect(page).to_have_url(re.compile("/login$"))
                page.goto("/")
                expect(page).to_have_url(re.compile("/login"))
        subprocess.run(
            [*fuchsia, "tokens", "revoke", token["id"], "--db", served.db],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        page.goto("/workers")
        expect(page).to_have_url(re.compile("/login"))
    finally:
        context.close()

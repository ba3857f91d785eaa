"""One real `fuchsia serve` app (tokens on) and one Chromium for the web UI's browser tests
(tests/ui/test_browser.py, the one module that uses them): Playwright for Python driving
Debian's `chromium` (Playwright's own browser download is not reachable here; `.ci/run`
installs the package when it is missing). They are module-scoped, not session-scoped, as
Playwright's sync API keeps an event loop running in the main thread until it stops: the
tests after this module (`asyncio.run` in tests/unit, say) must not find it running.

The workflows need no component (transform, wait and foreach nodes), so a test costs what
the browser does. Each scope has its own logged-in browser context, made through the login
page; each test gets a fresh page in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from fuchsia.components.registry import Registry
from support.components import CACHE, built_component
from support.httpserver import clear_proxies
from support.server import Served

CHROMIUM = Path("/usr/bin/chromium")
COMPONENTS = Path(__file__).resolve().parents[1] / "components"
WAIT_MS = 30_000  # a hang guard for waits on state, never a timing assertion
expect.set_options(timeout=WAIT_MS)

APPROVAL = """
name: approval
version: 1
trigger:
  schema:
    type: object
    required: [amount]
    properties:
      amount: {type: number, description: "what to approve"}
      note: {type: string}
nodes:
  ask: {transform: {amount: "{{ amount }}", note: "{{ note | default('') }}"}}
  approve: {after: ask, wait: {signal: approval}}
  book: {after: approve, transform: {approved: "{{ approved }}", by: "{{ by | default('') }}"}}
"""

PIPELINE = """
name: pipeline
version: 1
nodes:
  fetch: {transform: {items: [1, 2, 3], text: "{{ text | default('') }}"}}
  square:
    after: fetch
    foreach: {items: "{{ items }}"}
    transform: {value: "{{ item * item }}"}
  total: {after: square, transform: {count: "{{ data | length }}"}}
"""


CHATTY = """
name: chatty
version: 1
nodes:
  talk:
    component: "{ref}"
    task: talk
    inputs: {{lines: 2, size: 0, text: "hello from chatter"}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The server, with the approval, pipeline and (the one with a component, for its log
    lines) chatty workflows deployed."""
    tmp = tmp_path_factory.mktemp("ui")
    with pytest.MonkeyPatch.context() as patch:
        clear_proxies(patch)
        cache = CACHE / "compiled-cache"
        cache.mkdir(parents=True, exist_ok=True)
        patch.setenv("FUCHSIA_CACHE", str(cache))
        build = built_component(COMPONENTS / "chatter").parent
        ref = Registry(tmp / "home" / "components").install(build).ref
        with Served(tmp, home=tmp / "home", schedule=False) as running:
            with running.client("admin") as admin:
                for source in (APPROVAL, PIPELINE, CHATTY.format(ref=ref)):
                    deployed = admin.post("/api/v1/workflows", json={"source": source})
                    assert deployed.status_code == 201, deployed.text
            yield running


@pytest.fixture(scope="module")
def api(served: Served) -> Iterator[httpx.Client]:
    """The HTTP API with a run-scope token: what starts and signals runs "elsewhere"."""
    with served.client("run") as client:
        yield client


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(served: Served, playwright: Playwright) -> Iterator[Browser]:
    """Chromium, closed before the server stops (its event streams end with it)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium", pytrace=False)
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
    yield launched
    launched.close()


def logged_in(browser: Browser, served: Served, scope: str) -> BrowserContext:
    context = browser.new_context(base_url=served.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto("/")
    assert "/login" in page.url
    page.get_by_label("API token").fill(served.tokens[scope])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{served.url}/")
    page.close()
    return context


@pytest.fixture(scope="module")
def runner(browser: Browser, served: Served) -> Iterator[BrowserContext]:
    """A browser logged in with a run-scope token."""
    context = logged_in(browser, served, "run")
    yield context
    context.close()


@pytest.fixture(scope="module")
def reader(browser: Browser, served: Served) -> Iterator[BrowserContext]:
    """A browser logged in with a read-scope token."""
    context = logged_in(browser, served, "read")
    yield context
    context.close()


@pytest.fixture(scope="module")
def admin(browser: Browser, served: Served) -> Iterator[BrowserContext]:
    """A browser logged in with an admin-scope token."""
    context = logged_in(browser, served, "admin")
    yield context
    context.close()


@pytest.fixture
def page(runner: BrowserContext) -> Iterator[Page]:
    """A page of the run-scope browser that accepts confirmations; the test fails if the
    page logged an error (a script error, or a CSP violation: an inline style or script)."""
    opened = runner.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    opened.close()
    assert errors == []

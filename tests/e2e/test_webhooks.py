"""Webhook triggers against a real server: signatures checked over the raw body, nothing
stored for a bad delivery, redeliveries idempotent."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import fuchsia
from fuchsia import Engine
from fuchsia.components.registry import Registry
from support.components import CACHE, built_component
from support.prometheus import sample
from support.server import Served, wait_for

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret"
STANDARD_KEY = base64.b64encode(b"standard-key-bytes").decode()
FLOWS = {
    "github": ("/gh", SECRET),
    "stripe": ("/stripe", SECRET),
    "standard": ("/std", f"whsec_{STANDARD_KEY}"),
}


def flow(scheme: str) -> str:
    path, secret = FLOWS[scheme]
    return f"""
name: hook-{scheme}
trigger:
  type: webhook
  schema: {{type: object, required: [order], properties: {{order: {{type: integer}}}}}}
  webhook: {{path: {path}, secret: "{secret}", scheme: {scheme}, max_body: 2048}}
nodes:
  take: {{transform: {{order: "{{{{ order }}}}"}}}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with Served(tmp_path_factory.mktemp("hooks")) as running:
        with running.client("admin") as admin:
            for scheme in FLOWS:
                assert (
                    admin.post("/api/v1/workflows", json={"source": flow(scheme)}).status_code
                    == 201
                )
        yield running


def mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def signed(
    scheme: str, body: bytes, *, delivery: str = "d-1", at: int | None = None, secret: str = SECRET
) -> dict[str, str]:
    at = int(time.time()) if at is None else at
    if scheme == "github":
        return {
            "X-Hub-Signature-256": "sha256=" + mac(secret.encode(), body).hex(),
            "X-GitHub-Delivery": delivery,
        }
    if scheme == "stripe":
        signature = mac(secret.encode(), f"{at}.".encode() + body).hex()
        return {"Stripe-Signature": f"t={at},v1={signature}"}
    key = base64.b64decode(STANDARD_KEY)
    signature = base64.b64encode(mac(key, f"{delivery}.{at}.".encode() + body)).decode()
    return {
        "webhook-id": delivery,
        "webhook-timestamp": str(at),
        "webhook-signature": f"v1,bm90LXRoaXMtb25l v1,{signature}",
    }  # rotation: 2 sent


def count(served: Served) -> int:
    async def main() -> int:
        async with await Engine.open(served.db) as engine:
            return len(await engine.list(limit=10_000))

    return asyncio.run(main())


@pytest.mark.parametrize("scheme", sorted(FLOWS))
def test_a_valid_signature_starts_an_execution(served: Served, scheme: str) -> None:
    body = json.dumps({"order": 7, "id": f"evt-{scheme}-ok"}).encode()
    response = httpx.post(
        f"{served.url}/hooks{FLOWS[scheme][0]}",
        content=body,
        headers={
            **signed(scheme, body, delivery=f"ok-{scheme}"),
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 202, response.text
    with served.client("read") as reader:
        shown = reader.get(f"/api/v1/executions/{response.json()['id']}").json()
    assert shown["workflow"] == f"hook-{scheme}"


@pytest.mark.parametrize("scheme", sorted(FLOWS))
def test_bad_signatures_are_refused_and_nothing_is_stored(served: Served, scheme: str) -> None:
    url = f"{served.url}/hooks{FLOWS[scheme][0]}"
    body = json.dumps({"order": 1}).encode()
    good = signed(scheme, body, delivery=f"bad-{scheme}")
    wrong = signed(scheme, body, delivery=f"bad-{scheme}", secret="other")
    if scheme == "standard":  # a wrong key for Standard Webhooks
        wrong = {**good, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}
    truncated = {k: v[:-4] if "signature" in k.lower() else v for k, v in good.items()}
    accented = [  # a non-ASCII signature was a TypeError (a 500) in hmac.compare_digest
        (k.encode(), (v[:-1] + "é" if "signature" in k.lower() else v).encode("latin-1"))
        for k, v in good.items()
    ]
    old = signed(scheme, body, delivery=f"bad-{scheme}", at=int(time.time()) - 3600)
    reserialised = json.dumps({"order": 1}, indent=2).encode()  # same data, other bytes
    before = count(served)
    attempts = [
        httpx.post(url, content=body),
        httpx.post(url, content=body, headers=wrong),
        httpx.post(url, content=body, headers=truncated),
        httpx.post(url, content=body, headers=accented),
        httpx.post(url, content=reserialised, headers=good),
    ]
    if scheme != "github":  # GitHub signs no timestamp
        attempts.append(httpx.post(url, content=body, headers=old))
    assert [r.status_code for r in attempts] == [401] * len(attempts)
    assert count(served) == before


def test_oversized_and_invalid_bodies(served: Served) -> None:
    url = f"{served.url}/hooks/gh"
    big = json.dumps({"order": 1, "pad": "x" * 4096}).encode()
    assert httpx.post(url, content=big, headers=signed("github", big)).status_code == 413
    junk = b"{not json"
    malformed = httpx.post(url, content=junk, headers=signed("github", junk))
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "invalid_request"
    assert "not valid JSON" in malformed.json()["error"]["message"]
    wrong_shape = json.dumps({"order": "seven"}).encode()
    refused = httpx.post(url, content=wrong_shape, headers=signed("github", wrong_shape))
    assert refused.status_code == 422 and "order" in refused.text
    assert refused.json()["error"]["code"] == "payload_error"
    nowhere = httpx.post(f"{served.url}/hooks/nowhere", content=b"{}")
    assert nowhere.status_code == 404
    assert nowhere.json()["error"] == {
        "code": "route_not_found",
        "message": "no route '/hooks/nowhere'; the API is under /api/v1 (see /docs)",
        "param": None,
        "path": "/hooks/nowhere",
    }


def test_the_same_delivery_fifty_times_at_once_starts_one_execution(served: Served) -> None:
    body = json.dumps({"order": 42}).encode()
    headers = signed("standard", body, delivery="dup-50")
    url = f"{served.url}/hooks/std"

    def send(_: int) -> httpx.Response:
        return httpx.post(url, content=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(send, range(50)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1


@pytest.mark.parametrize("scheme", sorted(FLOWS))
def test_a_delivery_id_reused_with_another_signed_body_is_a_conflict(
    served: Served, scheme: str
) -> None:
    url = f"{served.url}/hooks{FLOWS[scheme][0]}"

    def deliver(order: int) -> httpx.Response:
        body = json.dumps({"order": order, "id": f"evt-{scheme}-c13"}).encode()
        return httpx.post(url, content=body, headers=signed(scheme, body, delivery="c13"))

    first = deliver(1)
    assert first.status_code == 202, first.text
    again = deliver(1)
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    before = count(served)
    other = deliver(2)
    assert other.status_code == 409, other.text
    error = other.json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert error["execution_id"] == first.json()["id"]
    assert count(served) == before


def test_a_webhook_starts_the_pinned_version_and_counts_as_a_fire(served: Served) -> None:
    def version(number: int) -> str:
        return f"""
name: hook-pinned
version: {number}
trigger:
  type: webhook
  webhook: {{path: /pinned, secret: "{SECRET}", scheme: github}}
nodes:
  take: {{transform: {{version: {number}}}}}
"""

    with fuchsia.Client(served.url, token=served.tokens["admin"]) as client:
        client.deploy(version(1))
        client.deploy(version(2))
        assert client.pin("hook-pinned@1")["pinned"] is True

        def deliver(delivery: str) -> dict[str, object]:
            body = b'{"n": 1}'
            response = httpx.post(
                f"{served.url}/hooks/pinned",
                content=body,
                headers={**signed("github", body, delivery=delivery)},
            )
            assert response.status_code == 202, response.text
            with served.client("read") as reader:
                shown: dict[str, object] = wait_for(reader, response.json()["id"], "completed")
            return shown

        assert deliver("pin-1")["result"] == {"version": 1}
        assert client.unpin("hook-pinned")["version"] == 2
        assert deliver("pin-2")["result"] == {"version": 2}
        deliver("pin-2")  # a redelivery: the same execution, not another fire

    with served.client("read") as reader:
        metrics = reader.get("/metrics").text
    fires = sample(metrics, "fuchsia_trigger_fires_total", workflow="hook-pinned", kind="webhook")
    assert fires == 2


def test_a_component_trigger_delivery_reused_with_another_body_is_a_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The component answers each delivery anew, so the bodies themselves are compared: the
    same body again returns the first execution, another body under the id is a 409 (also
    when the first one was answered pending)."""
    monkeypatch.setenv("FUCHSIA_CACHE", str(CACHE / "compiled-cache"))
    home = tmp_path / "home"
    built = built_component(ROOT / "tests" / "components" / "ticker").parent
    ref = Registry(home / "components").install(built).ref
    gated = f"""
name: gated
trigger:
  type: webhook
  webhook: {{path: /gate, secret: "{SECRET}", scheme: github, component: "{ref}", trigger: gate}}
nodes:
  ship: {{transform: {{order: "{{{{ order }}}}"}}}}
"""
    with Served(tmp_path, home=home, schedule=False) as running:
        with running.client("admin") as admin:
            assert admin.post("/api/v1/workflows", json={"source": gated}).status_code == 201

        def deliver(order: dict[str, object], delivery: str) -> httpx.Response:
            body = json.dumps(order).encode()
            return httpx.post(
                f"{running.url}/hooks/gate",
                content=body,
                headers=signed("github", body, delivery=delivery),
                timeout=60,
            )

        first = deliver({"order": 1, "ship": True}, "g-1")
        assert first.status_code == 202, first.text
        again = deliver({"order": 1, "ship": True}, "g-1")
        assert again.status_code == 202 and again.json() == first.json()
        other = deliver({"order": 2, "ship": True}, "g-1")
        assert other.status_code == 409, other.text
        assert other.json()["error"]["code"] == "idempotency_conflict"
        assert deliver({"order": 3, "ship": False}, "g-2").json() == {"status": "pending"}
        assert deliver({"order": 3, "ship": True}, "g-2").status_code == 409


def test_the_first_body_of_a_delivery_is_kept_on_both_stores(store_url: str) -> None:
    async def main() -> None:
        async with await Engine.open(store_url) as engine:
            store = engine.store
            assert await store.claim_delivery("webhook:w:d-1", "aaa") == "aaa"
            assert await store.claim_delivery("webhook:w:d-1", "aaa") == "aaa"
            assert await store.claim_delivery("webhook:w:d-1", "bbb") == "aaa"
            assert await store.claim_delivery("webhook:w:d-2", "bbb") == "bbb"

    asyncio.run(main())

"""Webhook signatures, checked over the raw body before anything is parsed or stored.

- `github`:   `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`
- `stripe`:   `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "t.body")>[,v1=...]`
- `standard`: Standard Webhooks: `webhook-id`, `webhook-timestamp` and `webhook-signature:
  v1,<base64 HMAC-SHA256(key, "id.timestamp.body")> [v1,...]`, with the key the base64 part
  of a `whsec_` secret. Several signatures may be sent while secrets rotate; any may match.

Timestamps outside the tolerance are refused, so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

from fuchsia.server.auth import matches


class SignatureError(Exception):
    """The delivery is not signed by the secret (the message says why, for the log)."""


def verify(
    scheme: str,
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    tolerance: float,
    now: float | None = None,
) -> str | None:
    """Raise SignatureError unless the body is signed; return the delivery id if one is sent."""
    now = time.time() if now is None else now
    if scheme == "github":
        return _github(secret, body, headers)
    if scheme == "stripe":
        _stripe(secret, body, headers, tolerance, now)
        return None
    return _standard(secret, body, headers, tolerance, now)


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _github(secret: str, body: bytes, headers: Mapping[str, str]) -> str | None:
    sent = headers.get("x-hub-signature-256", "")
    if not sent.startswith("sha256="):
        raise SignatureError("missing X-Hub-Signature-256")
    expected = _mac(secret.encode(), body).hex()
    if not matches(sent.removeprefix("sha256="), expected):
        raise SignatureError("X-Hub-Signature-256 does not match")
    return headers.get("x-github-delivery")


def _fresh(timestamp: str, tolerance: float, now: float) -> None:
    try:
        moment = int(timestamp)
    except ValueError:
        raise SignatureError("the signature timestamp is not a number") from None
    if abs(now - moment) > tolerance:
        raise SignatureError("the signature timestamp is outside the tolerance")


def _stripe(
    secret: str, body: bytes, headers: Mapping[str, str], tolerance: float, now: float
) -> None:
    parts = [p.split("=", 1) for p in headers.get("stripe-signature", "").split(",") if "=" in p]
    timestamps = [v for k, v in parts if k == "t"]
    signatures = [v for k, v in parts if k == "v1"]
    if len(timestamps) != 1 or not signatures:
        raise SignatureError("missing or malformed Stripe-Signature")
    _fresh(timestamps[0], tolerance, now)
    expected = _mac(secret.encode(), timestamps[0].encode() + b"." + body).hex()
    if not any(matches(s, expected) for s in signatures):
        raise SignatureError("Stripe-Signature does not match")


def _standard(
    secret: str, body: bytes, headers: Mapping[str, str], tolerance: float, now: float
) -> str:
    delivery = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    sent = headers.get("webhook-signature", "")
    if not delivery or not timestamp or not sent:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    _fresh(timestamp, tolerance, now)
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = secret.encode()
    expected = base64.b64encode(_mac(key, f"{delivery}.{timestamp}.".encode() + body)).decode()
    for item in sent.split():
        version, _, signature = item.partition(",")
        if version == "v1" and matches(signature, expected):
            return delivery
    raise SignatureError("webhook-signature does not match")

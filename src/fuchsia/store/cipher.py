"""Encryption at rest: user-provided keys, AES-256-GCM, one small envelope per stored value.

A `Keyring` holds one or more keys, each with an id. The first key encrypts; every key
decrypts, so an old key stays usable until `fuchsia keys rotate` has re-encrypted everything
under the new first one. Keys come from `FUCHSIA_ENCRYPTION_KEY` (`ID:KEY[,ID:KEY...]`, KEY
being 32 bytes in URL-safe base64) or from the file `FUCHSIA_ENCRYPTION_KEY_FILE` names (one
`ID:KEY` per line, `#` comments), and are parsed in one place: `parse_keys`.

A sealed value is `MARKER + key id + ":" + nonce + ciphertext-and-tag` (text columns carry the
part after the marker in URL-safe base64). The nonce is 96 random bits per value. The row's
identity (table, primary key, column) is the associated data, so a ciphertext copied into
another row or column fails authentication instead of decrypting there. A value without the
marker is plaintext written before a key was configured, and reads as it is.

Reading never writes: a value whose key is missing, or that does not authenticate, raises
`KeyUnavailable` / `DecryptionFailed` (both `StoreError`s naming the key id) and the row is
left exactly as it was.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fuchsia.errors import StoreError
from fuchsia.reading import read_at_most

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_VARIABLE = "FUCHSIA_ENCRYPTION_KEY"
KEY_FILE_VARIABLE = "FUCHSIA_ENCRYPTION_KEY_FILE"
KEY_BYTES = 32
MAX_KEY_FILE = 1024 * 1024  # bytes: some twenty thousand ID:KEY lines
NONCE_BYTES = 12
# ESC cannot start a JSON document (JSON text escapes control characters), so no plaintext
# JSON column can be mistaken for a sealed value; "fx1" is the envelope's version.
MARKER = "\x1bfx1:"
MARKER_BYTES = MARKER.encode()
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class EncryptionError(StoreError):
    """Base of the encryption errors: each names the key id it is about (`key_id`)."""

    def __init__(self, message: str, key_id: str = "") -> None:
        super().__init__(message)
        self.key_id = key_id


class KeyConfigError(EncryptionError):
    """An encryption key setting (variable or key file) is malformed."""

    code = "encryption_key_invalid"


class KeyUnavailable(EncryptionError):
    """A stored value was encrypted with a key that is not configured."""

    code = "encryption_key_unavailable"


class DecryptionFailed(EncryptionError):
    """A stored value does not authenticate under the configured key with its id: a different
    key under the same id, or a value altered or moved from another row."""

    code = "decryption_failed"


@dataclass(frozen=True)
class Keyring:
    """Keys by id; `keys[0]` encrypts, all decrypt."""

    keys: tuple[tuple[str, bytes], ...] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyConfigError("a keyring needs at least one key")

    def __repr__(self) -> str:  # never the key material, in logs or tracebacks
        return f"Keyring(ids={self.ids()!r})"

    @property
    def current(self) -> str:
        """The id of the key new values are encrypted with."""
        return self.keys[0][0]

    def ids(self) -> list[str]:
        return [key_id for key_id, _ in self.keys]

    def seal(self, data: bytes, where: Where) -> bytes:
        """`data` encrypted under the first key, bound to `where` (the row's identity)."""
        key_id, key = self.keys[0]
        nonce = os.urandom(NONCE_BYTES)
        sealed = _aesgcm(key).encrypt(nonce, data, _aad(where))
        return MARKER_BYTES + key_id.encode() + b":" + nonce + sealed

    def unseal(self, blob: bytes, where: Where) -> bytes:
        """The plaintext of a sealed value (one that starts with the marker)."""
        key_id, body = _split(blob[len(MARKER_BYTES) :], where)
        key = dict(self.keys).get(key_id)
        if key is None:
            raise unavailable(key_id, where)
        from cryptography.exceptions import InvalidTag

        try:
            return _aesgcm(key).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], _aad(where))
        except InvalidTag:
            raise DecryptionFailed(
                f"cannot decrypt {describe(where)}: it does not authenticate under key "
                f"{key_id!r} (a different key configured under that id, or a value altered "
                "or moved from another row); nothing was changed",
                key_id,
            ) from None

    def seal_text(self, text: str, where: Where) -> str:
        sealed = self.seal(text.encode(), where)
        key_id, body = _split(sealed[len(MARKER_BYTES) :], where)
        return f"{MARKER}{key_id}:{base64.urlsafe_b64encode(body).decode()}"

    def unseal_text(self, text: str, where: Where) -> str:
        key_id, _, body = text[len(MARKER) :].partition(":")
        try:
            raw = base64.urlsafe_b64decode(body.encode())
        except (binascii.Error, ValueError):
            raise DecryptionFailed(
                f"{describe(where)} is not a valid encrypted value", key_id
            ) from None
        return self.unseal(MARKER_BYTES + key_id.encode() + b":" + raw, where).decode()


# A stored value's identity: (table, primary key parts..., column). Its JSON form is the
# associated data, which keeps parts that contain "/" or ":" unambiguous.
Where = tuple[str, ...]


@functools.lru_cache(maxsize=16)
def _aesgcm(key: bytes) -> AESGCM:
    """The cipher for a key. `cryptography` is imported on first use: it costs more than
    a CLI command that never touches an encrypted value should pay."""
    from cryptography.hazmat.primitives.ciphers import aead

    return aead.AESGCM(key)


def _aad(where: Where) -> bytes:
    return json.dumps(where, separators=(",", ":")).encode()


def describe(where: Where) -> str:
    """`executions 0190ab.../payload` style text for messages."""
    return f"{where[0]} {'/'.join(where[1:-1])} {where[-1]}".replace("  ", " ")


def _split(rest: bytes, where: Where) -> tuple[str, bytes]:
    key_id, sep, body = rest.partition(b":")
    name = key_id.decode(errors="replace")
    if not sep or len(body) < NONCE_BYTES + 16:
        raise DecryptionFailed(f"{describe(where)}: encrypted value is truncated", name)
    return name, body


def unavailable(key_id: str, where: Where) -> KeyUnavailable:
    return KeyUnavailable(
        f"{describe(where)} is encrypted with key {key_id!r}, which is not configured: add "
        f"{key_id}:KEY to {KEY_VARIABLE} (or {KEY_FILE_VARIABLE}); nothing was changed",
        key_id,
    )


def seal_text(keyring: Keyring | None, text: str | None, where: Where) -> str | None:
    """What a text column stores: `text` sealed, or as it is without a keyring."""
    if text is None or keyring is None:
        return text
    return keyring.seal_text(text, where)


def open_text(keyring: Keyring | None, text: str | None, where: Where) -> str | None:
    """A text column's plaintext: plaintext rows as they are, sealed ones decrypted."""
    if text is None or not text.startswith(MARKER):
        return text
    if keyring is None:
        raise unavailable(sealed_key_id(text) or "", where)
    return keyring.unseal_text(text, where)


def seal_blob(keyring: Keyring | None, data: bytes, content_hash: str) -> bytes:
    """What a blob row stores. The row stays addressed by the plaintext's hash (equal
    contents still share one row); the bytes are sealed, bound to that hash."""
    return data if keyring is None else keyring.seal(data, ("blobs", content_hash, "data"))


def open_blob(keyring: Keyring | None, data: bytes, content_hash: str) -> bytes:
    """A blob's plaintext. A plaintext blob that happens to start with the marker is told
    apart by its hash, which is that of the plaintext."""
    if not data.startswith(MARKER_BYTES):
        return data
    where = ("blobs", content_hash, "data")
    try:
        if keyring is None:
            raise unavailable(sealed_key_id(data) or "", where)
        return keyring.unseal(data, where)
    except EncryptionError:
        if "sha256:" + hashlib.sha256(data).hexdigest() == content_hash:
            return data
        raise


def sealed_key_id(value: str | bytes) -> str | None:
    """The id of the key a stored value is sealed with; None for plaintext."""
    raw = value.encode() if isinstance(value, str) else bytes(value)
    if not raw.startswith(MARKER_BYTES):
        return None
    return raw[len(MARKER_BYTES) :].partition(b":")[0].decode(errors="replace")


# -- configuration -----------------------------------------------------------------------


def parse_keys(text: str, source: str = KEY_VARIABLE) -> Keyring:
    """Parse `ID:KEY` entries separated by commas or newlines (blank lines and `#` comments
    skipped). Every problem is reported with `source` (a variable name, or `file:line`)."""
    keys: list[tuple[str, bytes]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0]
        where = f"{source}:{number}" if "\n" in text.strip() else source
        for entry in filter(None, (e.strip() for e in line.split(","))):
            keys.append(_parse_entry(entry, where))
    if not keys:
        raise KeyConfigError(f"{source} holds no key: expected ID:KEY (`fuchsia keys generate`)")
    seen: set[str] = set()
    for key_id, _ in keys:
        if key_id in seen:
            raise KeyConfigError(f"{source}: key id {key_id!r} appears twice", key_id)
        seen.add(key_id)
    return Keyring(tuple(keys))


def _parse_entry(entry: str, where: str) -> tuple[str, bytes]:
    key_id, sep, encoded = entry.partition(":")
    key_id, encoded = key_id.strip(), encoded.strip()
    if not sep or not _KEY_ID.fullmatch(key_id):
        raise KeyConfigError(
            f"{where}: expected ID:KEY with an id of letters, digits, '.', '_' or '-' "
            f"(at most 64), got {_shown(entry)}"
        )
    try:
        key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyConfigError(
            f"{where}: key {key_id!r} must be {KEY_BYTES} bytes in URL-safe base64 "
            f"(`fuchsia keys generate` makes one)",
            key_id,
        )
    return key_id, key


def _shown(entry: str) -> str:
    """An entry for an error message, without printing what may be key material."""
    return repr(entry.split(":", 1)[0] + (":..." if ":" in entry else ""))


def keys_from_env(environ: Mapping[str, str] | None = None) -> Keyring | None:
    """The keyring `FUCHSIA_ENCRYPTION_KEY` or `FUCHSIA_ENCRYPTION_KEY_FILE` configures, or
    None when neither is set (values are then stored in plaintext)."""
    env = os.environ if environ is None else environ
    inline = env.get(KEY_VARIABLE, "").strip()
    path = env.get(KEY_FILE_VARIABLE, "").strip()
    if inline and path:
        raise KeyConfigError(f"set {KEY_VARIABLE} or {KEY_FILE_VARIABLE}, not both")
    if inline:
        return parse_keys(inline, KEY_VARIABLE)
    if path:
        try:
            raw = read_at_most(path, MAX_KEY_FILE)
            text = raw.decode()
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyConfigError(f"{KEY_FILE_VARIABLE}: cannot read {path}: {exc}") from None
        if len(raw) > MAX_KEY_FILE:  # /dev/zero, a pipe: never read to its end
            raise KeyConfigError(f"{KEY_FILE_VARIABLE}: {path} is larger than {MAX_KEY_FILE} bytes")
        return parse_keys(text, f"{KEY_FILE_VARIABLE} ({path})")
    return None


def generate_key_line(key_id: str) -> str:
    """A new `ID:KEY` line with 32 random bytes."""
    if not _KEY_ID.fullmatch(key_id):
        raise KeyConfigError(
            f"key id {key_id!r}: use letters, digits, '.', '_' or '-' (at most 64)", key_id
        )
    return f"{key_id}:{base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()}"

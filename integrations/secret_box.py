"""Secrets kept encrypted at rest: AES-256-GCM with a key from settings, several keys for rotation.

A sealed value is `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`: the key id (the first 8 hex digits of
the key's SHA-256) says which key sealed it, so a box holding the new key first and the old keys after it
opens what every one of them sealed and seals with the first (docs/webhooks.md, "Rotating the encryption
key"). `aad` binds a sealed value to its row (e.g. the endpoint's id): moved to another row it does not open.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
NONCE_BYTES = 12


class SecretUnreadable(ValueError):
    """A sealed value that none of the box's keys opens (a key removed too early, or a changed value)."""


def derive_key(secret: str, *, purpose: str = "valueverse secrets at rest") -> bytes:
    """A 256-bit key from a configured text (SECRET_ENCRYPTION_KEY, or SECRET_KEY when that is unset)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(secret.encode())


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class SecretBox:
    """Seals with the first key, opens with whichever key sealed."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a secret box needs at least one key")
        for key in keys:
            if len(key) != 32:
                raise ValueError("keys are 32 bytes (AES-256)")
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self._current = key_id(keys[0])

    @classmethod
    def from_settings(cls, encryption_keys: str | None, fallback_secret: str) -> SecretBox:
        """`encryption_keys`: comma-separated texts, the current one first (rotation); unset: `fallback_secret`."""
        texts = [t.strip() for t in (encryption_keys or "").split(",") if t.strip()] or [fallback_secret]
        return cls([derive_key(t) for t in texts])

    def seal(self, plaintext: str, *, aad: str = "") -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, plaintext.encode(), aad.encode())
        return f"{VERSION}.{self._current}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, sealed: str, *, aad: str = "") -> str:
        try:
            version, kid, payload = sealed.split(".", 2)
            raw = base64.urlsafe_b64decode(payload.encode())
        except ValueError as exc:
            raise SecretUnreadable("not a sealed value") from exc
        box = self._keys.get(kid)
        if version != VERSION or box is None:
            raise SecretUnreadable(f"sealed with key {kid}, which is not configured")
        try:
            return box.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode()).decode()
        except InvalidTag as exc:
            raise SecretUnreadable("the sealed value was changed or belongs to another row") from exc

    def needs_resealing(self, sealed: str) -> bool:
        """Whether `sealed` was sealed with an older key (seal it again to retire that key)."""
        return sealed.split(".", 2)[1:2] != [self._current]

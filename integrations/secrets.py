"""Secrets kept at rest (provider keys, webhook signing secrets): AES-256-GCM with a key from settings.

`SECRET_ENCRYPTION_KEY` is 32 bytes in url-safe base64 (`python -c "import os, base64;
print(base64.urlsafe_b64encode(os.urandom(32)).decode())"`); unset, a key is derived from
`SECRET_KEY` with HKDF-SHA256. Each sealed value is `v1:<key id>:<nonce+ciphertext>`, the key id
being the first 8 hex digits of the key's SHA-256: rotation is `SECRET_ENCRYPTION_KEY=new` and
`SECRET_ENCRYPTION_OLD_KEYS=old[,older]`, and `open` finds the key a value was sealed with.
The associated data binds a value to its row (e.g. the organization and the field), so a value
copied to another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1"


class SecretUnreadable(ValueError):
    """A sealed value that no configured key opens (wrong key, tampered, or copied to another row)."""


def derive_key(secret_key: str) -> bytes:
    """The encryption key derived from the application's SECRET_KEY (used when SECRET_ENCRYPTION_KEY is unset)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"valueverse secrets at rest v1").derive(
        secret_key.encode()
    )


def parse_key(text: str) -> bytes:
    """A 32-byte key from its url-safe base64 text, or ValueError."""
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("SECRET_ENCRYPTION_KEY is 32 bytes in url-safe base64") from None
    if len(raw) != 32:
        raise ValueError("SECRET_ENCRYPTION_KEY is 32 bytes in url-safe base64")
    return raw


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class SecretBox:
    """Seals with the current key; opens with the current key or any older one still configured."""

    def __init__(self, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        self._current = key
        self._keys = {_key_id(k): k for k in (*old_keys, key)}

    @classmethod
    def from_settings(cls, encryption_key: str | None, old_keys: str | None, secret_key: str) -> SecretBox:
        key = parse_key(encryption_key) if encryption_key else derive_key(secret_key)
        olds = [parse_key(k) for k in (old_keys or "").split(",") if k.strip()]
        return cls(key, olds)

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self._current).encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_PREFIX}:{_key_id(self._current)}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, token: str, *, context: str) -> str:
        try:
            prefix, key_id, body = token.split(":", 2)
            key = self._keys[key_id]
            raw = base64.urlsafe_b64decode(body)
            if prefix != _PREFIX:
                raise ValueError(prefix)
            return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode()).decode()
        except Exception:
            raise SecretUnreadable("a stored secret does not open with the configured keys") from None

    def needs_rotation(self, token: str) -> bool:
        """Whether `token` was sealed with an older key (re-seal it with `seal(open(token))`)."""
        return token.split(":", 2)[1:2] != [_key_id(self._current)]

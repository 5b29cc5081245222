"""Secrets at rest: AES-GCM sealed, bound to their row, readable across a key rotation."""

from __future__ import annotations

import base64
import os

import pytest

from integrations.secrets import SecretBox, SecretUnreadable, derive_key, parse_key


def key_text() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def test_a_sealed_secret_opens_only_with_its_key_and_row():
    box = SecretBox.from_settings(None, None, "the app secret")
    sealed = box.seal("sk_test_123", context="org-1:STRIPE")
    assert "sk_test_123" not in sealed and sealed.startswith("v1:")
    assert box.open(sealed, context="org-1:STRIPE") == "sk_test_123"
    assert box.seal("sk_test_123", context="org-1:STRIPE") != sealed  # a fresh nonce every time
    with pytest.raises(SecretUnreadable):
        box.open(sealed, context="org-2:STRIPE")  # copied to another organization's row
    with pytest.raises(SecretUnreadable):
        SecretBox.from_settings(None, None, "another app secret").open(sealed, context="org-1:STRIPE")
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SecretUnreadable):
        box.open(tampered, context="org-1:STRIPE")


def test_rotation_reads_old_values_and_seals_new_ones_with_the_new_key():
    old, new = key_text(), key_text()
    before = SecretBox.from_settings(old, None, "app")
    sealed = before.seal("whsec_abc", context="c")
    rotated = SecretBox.from_settings(new, old, "app")
    assert rotated.open(sealed, context="c") == "whsec_abc"
    assert rotated.needs_rotation(sealed)
    resealed = rotated.seal(rotated.open(sealed, context="c"), context="c")
    assert not rotated.needs_rotation(resealed)
    with pytest.raises(SecretUnreadable):
        SecretBox.from_settings(new, None, "app").open(sealed, context="c")  # old key dropped too early


def test_keys_are_32_bytes_of_url_safe_base64():
    assert len(parse_key(key_text())) == 32
    assert len(derive_key("anything")) == 32
    for bad in ("short", base64.urlsafe_b64encode(os.urandom(16)).decode(), "!!!"):
        with pytest.raises(ValueError):
            parse_key(bad)

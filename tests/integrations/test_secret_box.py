"""Secrets at rest: AES-256-GCM, bound to their row, readable across a key rotation."""

from __future__ import annotations

import pytest

from integrations.secret_box import SecretBox, SecretUnreadable, derive_key
from services.webhooks import RETRY_DELAYS, retry_delay


def test_a_sealed_secret_opens_with_its_key_and_row_only() -> None:
    box = SecretBox.from_settings(None, "the SECRET_KEY")
    sealed = box.seal("whsec_abc", aad="row-1")
    assert "whsec_abc" not in sealed and sealed.startswith("v1.")
    assert box.open(sealed, aad="row-1") == "whsec_abc"
    assert box.seal("whsec_abc", aad="row-1") != sealed  # a fresh nonce each time
    with pytest.raises(SecretUnreadable):
        box.open(sealed, aad="row-2")
    with pytest.raises(SecretUnreadable):
        SecretBox.from_settings("another key", "the SECRET_KEY").open(sealed, aad="row-1")
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SecretUnreadable):
        box.open(tampered, aad="row-1")
    with pytest.raises(SecretUnreadable):
        box.open("not sealed at all", aad="row-1")


def test_a_rotation_reads_old_secrets_and_seals_with_the_new_key() -> None:
    old = SecretBox.from_settings("old key", "unused")
    sealed_before = old.seal("whsec_1", aad="r")
    rotated = SecretBox.from_settings("new key, old key", "unused")
    assert rotated.open(sealed_before, aad="r") == "whsec_1"
    assert rotated.needs_resealing(sealed_before)
    resealed = rotated.seal("whsec_1", aad="r")
    assert not rotated.needs_resealing(resealed)
    assert SecretBox.from_settings("new key", "unused").open(resealed, aad="r") == "whsec_1"
    assert derive_key("x") != derive_key("y") and len(derive_key("x")) == 32


def test_the_retry_schedule_is_the_documented_one_with_a_tenth_of_jitter() -> None:
    assert [d.total_seconds() for d in RETRY_DELAYS] == [5, 300, 1800, 7200, 18000, 36000, 36000]
    for attempt, base in enumerate(RETRY_DELAYS, start=1):
        delays = {retry_delay(f"endpoint:{n}", attempt) for n in range(50)}
        assert all(d is not None and base * 0.9 <= d <= base * 1.1 for d in delays)
        assert len(delays) > 40  # spread, so that receivers coming back are not hit all at once
        assert retry_delay("endpoint:1", attempt) == retry_delay("endpoint:1", attempt)  # the same for an attempt
    assert retry_delay("endpoint:1", len(RETRY_DELAYS) + 1) is None

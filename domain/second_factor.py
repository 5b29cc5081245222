"""TOTP second factor (RFC 6238, 30-second steps, 6 digits) and one-time recovery codes: the rules.

Time is an argument. A code is good for its own step and one step either side (a phone's clock a
little off); the caller remembers the step of the last code accepted, and a code of that step or
an earlier one is refused, so a code seen over a shoulder cannot be used again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime

import pyotp

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1  # steps accepted either side of the current one
ISSUER = "ValueVerse Billing"
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or typed from paper
RECOVERY_CODE_LENGTH = 10  # about 49 bits each, shown as xxxxx-xxxxx

_CODE = re.compile(r"^\d{6}$")


def step_of(at: datetime) -> int:
    return int(at.timestamp()) // STEP_SECONDS


def normalize_code(code: str) -> str | None:
    """The six digits of a code as typed (spaces allowed: '123 456'), or None when it is not one."""
    digits = re.sub(r"\s", "", code or "")
    return digits if _CODE.match(digits) else None


def matching_step(secret: str, code: str, at: datetime, *, drift: int = DRIFT_STEPS) -> int | None:
    """The step whose code this is (the current step first, then up to `drift` steps either side), or None."""
    digits = normalize_code(code)
    if digits is None:
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    now = step_of(at)
    for offset in sorted(range(-drift, drift + 1), key=abs):
        step = now + offset
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def otpauth_uri(secret: str, account: str, issuer: str = ISSUER) -> str:
    """What an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=issuer)


def normalize_recovery_code(code: str) -> str:
    """As stored: lower case, without spaces and dashes (people type 'ABCDE-FGHIJ' or 'abcde fghij')."""
    return re.sub(r"[\s-]", "", (code or "").lower())


def looks_like_recovery_code(code: str) -> bool:
    text = normalize_recovery_code(code)
    return len(text) == RECOVERY_CODE_LENGTH and all(c in RECOVERY_ALPHABET for c in text)


def format_recovery_code(raw: str) -> str:
    half = RECOVERY_CODE_LENGTH // 2
    return f"{raw[:half]}-{raw[half:]}"


def hash_recovery_code(code: str) -> str:
    """Recovery codes are random (not chosen by people): a fast hash is safe, and lookups stay equality."""
    return hashlib.sha256(normalize_recovery_code(code).encode()).hexdigest()

"""Time-based one-time passwords (RFC 6238) as authenticator apps make them: SHA-1, 6 digits,
30 s steps. One step either side is accepted for clock drift; which step matched is returned so
the caller can refuse a replay of the same (or an older) step."""

from __future__ import annotations

import hmac
import re

import pyotp

STEP_SECONDS = 30
DRIFT_STEPS = 1
_NOT_DIGIT = re.compile(r"[\s-]")


def new_secret() -> str:
    """160 random bits in base32, the length RFC 4226 recommends for the shared secret."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account: str, issuer_name: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer_name)


def normalise(code: str) -> str:
    """What people type: spaces or a dash in the middle are dropped."""
    return _NOT_DIGIT.sub("", code or "")


def looks_like_totp(code: str) -> bool:
    text = normalise(code)
    return len(text) == 6 and text.isdigit()


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code this is (within the drift), or None. Every candidate is
    compared, in constant time, so timing tells nothing about which one matched."""
    code = normalise(code)
    if not looks_like_totp(code):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now) // STEP_SECONDS
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found

"""Second factors: TOTP enrolment and checks, recovery codes, re-authentication, and the
policy that decides when a factor is required (docs/mfa.md, docs/security.md#31).

Passkeys are in idp.services.passkeys; both report an RFC 8176 method for the session's `amr`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from idp.domain.claims import ACR_MFA, ACR_VALUES, acr_for
from idp.domain.clock import utcnow
from idp.errors import FieldErrors
from idp.services import audit, totp
from idp.services.context import Caller
from idp.services.ports import LoginThrottle, PasswordHasher, Record, UnitOfWork

RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper
# 24 of 31 symbols: ~118 bits, above the 112 ASVS asks of a lookup secret kept as a fast hash.
_RECOVERY_LENGTH = 24
WRONG_CODE = "That code is not correct, or was already used."


class SecretBox(Protocol):
    """Encrypts secrets at rest (idp.storage.secret_box)."""

    def seal(self, plaintext: str) -> str: ...
    def open(self, sealed: str) -> str: ...


class FactorThrottle(Protocol):
    def retry_after(self, account: str, ip: str) -> int: ...
    def record_failure(self, account: str, ip: str) -> None: ...


class FactorThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many wrong codes. Try again in {retry_after} seconds.")
        self.retry_after = retry_after


@dataclass
class Mfa:
    """The adapters the second-factor use cases need, wired once by the app factory."""

    box: SecretBox
    throttle: FactorThrottle
    rp: Any  # idp.services.passkeys.RelyingParty
    require_for_admins: bool
    pending_ttl: int = 300
    issuer_name: str = "Tessera"


@dataclass(frozen=True)
class Factors:
    totp: bool
    recovery_codes_left: int
    passkeys: list[Record] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return self.totp or bool(self.passkeys)


def factors_of(uow: UnitOfWork, user_id: int) -> Factors:
    row = uow.factors.totp(user_id)
    confirmed = row is not None and row.confirmed_at is not None
    return Factors(
        totp=confirmed,
        recovery_codes_left=uow.factors.recovery_codes_left(user_id) if confirmed else 0,
        passkeys=list(uow.factors.passkeys(user_id)),
    )


# --- policy ---------------------------------------------------------------------------------


def session_is_multi_factor(amr: str) -> bool:
    return acr_for(amr.split()) == ACR_MFA


def amr_with(amr: str, method: str) -> str:
    """The session's methods plus `method`, and `mfa` once two kinds of factor were used."""
    methods = [m for m in amr.split() if m != "mfa"]
    if method not in methods:
        methods.append(method)
    if len(methods) > 1:
        methods.append("mfa")
    return " ".join(methods)


def admin_must_enrol(mfa: Mfa, user: Record, factors: Factors) -> bool:
    """TESSERA_REQUIRE_MFA_FOR_ADMINS: an admin without a factor enrols before /admin."""
    return mfa.require_for_admins and bool(user.is_admin) and not factors.any


def acr_satisfied(wanted: list[str], amr: str) -> bool:
    """acr_values lists classes in order of preference: any one met will do. Values we do not
    define are ignored (acr_values is a voluntary claim request, OIDC Core 5.5.1.1)."""
    known = [value for value in wanted if value in ACR_VALUES]
    return not known or acr_for(amr.split()) in known


# --- TOTP enrolment -------------------------------------------------------------------------


def start_totp(uow: UnitOfWork, mfa: Mfa, user: Record) -> str:
    """A new secret, stored encrypted and unconfirmed until a code from it is typed."""
    existing = uow.factors.totp(user.id)
    if existing is not None and existing.confirmed_at is not None:
        raise FieldErrors("An authenticator app is already set up. Remove it first.")
    secret = totp.new_secret()
    uow.factors.save_totp(user.id, mfa.box.seal(secret))
    uow.commit()
    return secret


def pending_totp_secret(uow: UnitOfWork, mfa: Mfa, user: Record) -> str | None:
    row = uow.factors.totp(user.id)
    if row is None or row.confirmed_at is not None:
        return None
    return mfa.box.open(row.secret_encrypted)


def confirm_totp(
    uow: UnitOfWork, mfa: Mfa, caller: Caller, user: Record, code: str, now: datetime | None = None
) -> list[str]:
    """The first code proves the app holds the secret; returns the recovery codes, shown once."""
    now = now or utcnow()
    secret = pending_totp_secret(uow, mfa, user)
    if secret is None:
        raise FieldErrors("Start the set-up again: no authenticator is waiting for a code.")
    _throttle_check(mfa, user, caller)
    step = totp.matching_step(secret, code, now.timestamp())
    if step is None or not uow.factors.advance_totp_step(user.id, step):
        _failed(uow, mfa, caller, user, "mfa.totp_confirm_failed")
        raise FieldErrors(WRONG_CODE, "code")
    uow.factors.totp(user.id).confirmed_at = now
    codes = _new_recovery_codes(uow, user.id)
    audit.record(uow, "mfa.totp_enabled", caller, user_id=user.id)
    uow.commit()
    return codes


def disable_totp(uow: UnitOfWork, caller: Caller, user: Record) -> None:
    """Removes the app and its recovery codes; call after confirm_identity."""
    uow.factors.delete_totp(user.id)
    uow.factors.delete_recovery_codes(user.id)
    audit.record(uow, "mfa.totp_disabled", caller, user_id=user.id)
    uow.commit()


def regenerate_recovery_codes(uow: UnitOfWork, caller: Caller, user: Record) -> list[str]:
    if not factors_of(uow, user.id).totp:
        raise FieldErrors("Recovery codes come with an authenticator app: set one up first.")
    codes = _new_recovery_codes(uow, user.id)
    audit.record(uow, "mfa.recovery_codes_regenerated", caller, user_id=user.id)
    uow.commit()
    return codes


def _new_recovery_codes(uow: UnitOfWork, user_id: int) -> list[str]:
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    uow.factors.replace_recovery_codes(user_id, [recovery_digest(c) for c in codes])
    return ["-".join(c[i : i + 4] for i in range(0, _RECOVERY_LENGTH, 4)) for c in codes]


def recovery_digest(code: str) -> str:
    text = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(text.encode()).hexdigest()


# --- checking a code ------------------------------------------------------------------------


def verify_code(
    uow: UnitOfWork, mfa: Mfa, caller: Caller, user: Record, code: str, now: datetime | None = None
) -> str:
    """A TOTP or recovery code for this user: the amr method ("otp"), else FieldErrors or
    FactorThrottled. A used TOTP step and a used recovery code are refused from then on."""
    now = now or utcnow()
    _throttle_check(mfa, user, caller)
    row = uow.factors.totp(user.id)
    if row is not None and row.confirmed_at is not None:
        if totp.looks_like_totp(code):
            step = totp.matching_step(mfa.box.open(row.secret_encrypted), code, now.timestamp())
            if step is not None and uow.factors.advance_totp_step(user.id, step):
                audit.record(uow, "mfa.totp_used", caller, user_id=user.id)
                uow.commit()
                return "otp"
        elif uow.factors.use_recovery_code(user.id, recovery_digest(code), now):
            left = uow.factors.recovery_codes_left(user.id)
            audit.record(uow, "mfa.recovery_code_used", caller, user_id=user.id, left=left)
            uow.commit()
            return "otp"
    _failed(uow, mfa, caller, user, "mfa.code_failed")
    raise FieldErrors(WRONG_CODE, "code")


def _throttle_check(mfa: Mfa, user: Record, caller: Caller) -> None:
    wait = mfa.throttle.retry_after(f"u{user.id}", caller.ip)
    if wait:
        raise FactorThrottled(wait)


def _failed(uow: UnitOfWork, mfa: Mfa, caller: Caller, user: Record, event: str) -> None:
    mfa.throttle.record_failure(f"u{user.id}", caller.ip)
    audit.record(uow, event, caller, user_id=user.id)
    uow.commit()


# --- re-authentication for sensitive changes ------------------------------------------------


def confirm_identity(
    uow: UnitOfWork,
    mfa: Mfa,
    hasher: PasswordHasher,
    login_throttle: LoginThrottle,
    caller: Caller,
    user: Record,
    proof: str,
) -> str:
    """A fresh proof before a sensitive change: the password, or a TOTP or recovery code.

    Returns the amr method proved ("pwd" or "otp"). A wrong password spends the login budget
    (like idp.services.accounts.change_password), a wrong code the second-factor budget; both
    raise FieldErrors on the field "proof". The one check for sensitive steps: changing
    factors (idp.web.security) and deleting the account (idp.web.account_data).
    """
    proof = (proof or "").strip()
    has_totp = factors_of(uow, user.id).totp
    if has_totp and (totp.looks_like_totp(proof) or _looks_like_recovery(proof)):
        try:
            return verify_code(uow, mfa, caller, user, proof)
        except FieldErrors:
            raise FieldErrors(WRONG_CODE, "proof") from None
    wait = login_throttle.retry_after(user.username, caller.ip)
    if wait:
        raise FactorThrottled(wait)
    if not proof or not hasher.verify(user.password_hash, proof):
        login_throttle.record_failure(user.username, caller.ip)
        audit.record(uow, "mfa.reauth_failed", caller, user_id=user.id)
        uow.commit()
        message = "Your password or code is not correct." if has_totp else "Wrong password."
        raise FieldErrors(message, "proof")
    return "pwd"


def _looks_like_recovery(text: str) -> bool:
    letters = [ch for ch in text.lower() if ch.isalnum()]
    return len(letters) == _RECOVERY_LENGTH and all(ch in _RECOVERY_ALPHABET for ch in letters)

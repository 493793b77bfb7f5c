"""Passkeys (WebAuthn Level 2, py_webauthn): register several per account, name and remove
them, and sign in with one, as a second factor or without a password (discoverable
credentials). The challenge is kept by the caller (the web layer's session) between the
options and the browser's answer; every answer is verified against it, the RP id and origin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp.domain.clock import utcnow
from idp.errors import FieldErrors
from idp.services import audit
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork

MAX_PASSKEYS = 20
NAME_MAX = 64
REFUSED = "The passkey could not be verified. Try again, or use another way to sign in."


@dataclass(frozen=True)
class RelyingParty:
    """WebAuthn's relying party: the issuer's host is the RP id, its origin the only origin."""

    rp_id: str
    origin: str
    name: str = "Tessera"

    @classmethod
    def from_issuer(cls, issuer: str, name: str = "Tessera") -> RelyingParty:
        parts = urlsplit(issuer)
        return cls(rp_id=parts.hostname or "", origin=f"{parts.scheme}://{parts.netloc}", name=name)


@dataclass(frozen=True)
class Ceremony:
    options_json: str  # for navigator.credentials.create()/get()
    challenge: bytes  # to keep until the answer comes


def _descriptor(row: Record) -> PublicKeyCredentialDescriptor:
    transports = []
    for name in row.transports.split():
        try:
            transports.append(AuthenticatorTransport(name))
        except ValueError:
            continue
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(row.credential_id), transports=transports
    )


def registration_options(uow: UnitOfWork, rp: RelyingParty, user: Record) -> Ceremony:
    existing = list(uow.factors.passkeys(user.id))
    if len(existing) >= MAX_PASSKEYS:
        raise FieldErrors(f"You have {MAX_PASSKEYS} passkeys, the most an account may have.")
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_id=user.subject.encode(),  # random and public (the OpenID sub): no PII
        user_name=user.username,
        user_display_name=user.username,
        # Discoverable, so the same passkey also signs in without a username or password.
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[_descriptor(row) for row in existing],
    )
    return Ceremony(options_to_json(options), options.challenge)


def finish_registration(
    uow: UnitOfWork,
    rp: RelyingParty,
    caller: Caller,
    user: Record,
    *,
    answer: str,
    challenge: bytes,
    name: str,
) -> Record:
    name = " ".join((name or "").split())[:NAME_MAX] or "Passkey"
    try:
        verified = verify_registration_response(
            credential=answer,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
        transports = json.loads(answer).get("response", {}).get("transports") or []
    except (WebAuthnException, ValueError, TypeError, KeyError, AttributeError):
        audit.record(uow, "mfa.passkey_register_failed", caller, user_id=user.id)
        uow.commit()
        raise FieldErrors(REFUSED) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if uow.factors.passkey_by_credential(credential_id) is not None:
        raise FieldErrors("This passkey is already registered.")
    row = uow.factors.add_passkey(
        user_id=user.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
        transports=" ".join(str(t) for t in transports if isinstance(t, str))[:128],
        backup_eligible=verified.credential_device_type == "multi_device",
    )
    audit.record(uow, "mfa.passkey_added", caller, user_id=user.id, name=name)
    uow.commit()
    return row


def authentication_options(
    uow: UnitOfWork, rp: RelyingParty, user: Record | None = None
) -> Ceremony:
    """For `user` (second factor): their passkeys; without one, any discoverable passkey."""
    allow = [_descriptor(row) for row in uow.factors.passkeys(user.id)] if user else []
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.PREFERRED
        if user
        else UserVerificationRequirement.REQUIRED,
    )
    return Ceremony(options_to_json(options), options.challenge)


@dataclass(frozen=True)
class PasskeyLogin:
    user: Record
    method: str  # RFC 8176: "swk" for a synced passkey, "hwk" for a device-bound one
    user_verified: bool


def finish_authentication(
    uow: UnitOfWork,
    rp: RelyingParty,
    caller: Caller,
    *,
    answer: str,
    challenge: bytes,
    user: Record | None = None,
) -> PasskeyLogin:
    """Verify an assertion; `user` set: it must be one of theirs (second factor)."""
    try:
        parsed = parse_authentication_credential_json(answer)
        row = uow.factors.passkey_by_credential(bytes_to_base64url(parsed.raw_id))
        if row is None or (user is not None and row.user_id != user.id):
            raise FieldErrors(REFUSED)
        owner = uow.users.get(row.user_id)
        if parsed.response.user_handle is not None and (
            owner is None or parsed.response.user_handle != owner.subject.encode()
        ):
            raise FieldErrors(REFUSED)
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=row.public_key,
            credential_current_sign_count=row.sign_count,
            require_user_verification=user is None,
        )
    except (WebAuthnException, FieldErrors, ValueError, TypeError, KeyError, AttributeError):
        audit.record(uow, "mfa.passkey_failed", caller, user_id=user.id if user else None)
        uow.commit()
        raise FieldErrors(REFUSED) from None
    if owner is None or owner.disabled_at is not None:
        raise FieldErrors(REFUSED)
    row.sign_count = verified.new_sign_count
    row.last_used_at = utcnow()
    audit.record(uow, "mfa.passkey_used", caller, user_id=owner.id, passkey=row.name)
    uow.commit()
    method = "swk" if row.backup_eligible else "hwk"
    return PasskeyLogin(owner, method, verified.user_verified)


def rename(uow: UnitOfWork, caller: Caller, user: Record, passkey_id: int, name: str) -> None:
    row = uow.factors.passkey(user.id, passkey_id)
    name = " ".join((name or "").split())[:NAME_MAX]
    if row is None:
        raise FieldErrors("No such passkey.")
    if not name:
        raise FieldErrors("Give the passkey a name.", "name")
    row.name = name
    audit.record(uow, "mfa.passkey_renamed", caller, user_id=user.id, name=name)
    uow.commit()


def remove(uow: UnitOfWork, caller: Caller, user: Record, passkey_id: int) -> None:
    row = uow.factors.passkey(user.id, passkey_id)
    if row is None:
        raise FieldErrors("No such passkey.")
    uow.factors.delete_passkey(row)
    audit.record(uow, "mfa.passkey_removed", caller, user_id=user.id, name=row.name)
    uow.commit()

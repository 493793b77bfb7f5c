"""The Device Authorization Grant (RFC 8628): start, the user's decision, and polling.

The device gets a 256-bit device_code (only its SHA-256 digest is stored) and a short user_code
that a person types at /device. The protocol layer's device grant (idp.protocol.grants.
device_code) drives the token endpoint and calls ``credential``, ``redeem`` and
``should_slow_down`` here; refusals are idp.errors (InvalidGrant, AccessDenied), which the grant
turns into Authlib's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from idp.domain.clients import ClientPolicy
from idp.domain.clock import utcnow
from idp.domain.credentials import token_digest
from idp.errors import AccessDenied, FieldErrors, InvalidGrant
from idp.services import audit, consent
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork
from idp.services.tokens import new_opaque_token

# RFC 8628 6.1: 20 consonants, no vowels (no words) and no digits (no 0/O, 1/I confusion).
# 20^8 is about 2^34.6 codes; guessing is throttled at /device on top of that.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
SLOW_DOWN_STEP = 5  # RFC 8628 3.5: seconds added to the interval at each slow_down

PENDING, APPROVED, DENIED, CONSUMED = "pending", "approved", "denied", "consumed"


class UserCodeError(FieldErrors):
    """Why a typed user code cannot be used, phrased for the person at the browser."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="user_code")


def normalize_user_code(value: str | None) -> str:
    """Case-insensitive, dashes and spaces ignored: 'bcdf-ghjk' and 'BCDF GHJK' are one code."""
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value.upper() if c not in "- \t")


def display_user_code(code: str) -> str:
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


@dataclass
class DeviceCredential:
    """What Authlib's DeviceCodeGrant reads from a stored device code."""

    row: Record
    client_id: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_user_code(self) -> str:
        return self.row.user_code

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()


@dataclass(frozen=True)
class RedeemedDevice:
    """An approved code, redeemed: the grant id, the row the tokens come from, and the user."""

    gid: str
    row: Record
    user: Record


class DeviceFlow:
    def __init__(self, settings: Any, throttle: Any = None) -> None:
        self.issuer = settings.ISSUER.rstrip("/")
        self.ttl = settings.DEVICE_CODE_TTL
        self.interval = settings.DEVICE_POLL_INTERVAL
        self.throttle = throttle  # failed user-code attempts at /device (brute force)

    @property
    def verification_uri(self) -> str:
        return f"{self.issuer}/device"

    # --- RFC 8628 3.1-3.2: the device authorization request ---------------------------------

    def start(self, uow: UnitOfWork, client_policy: ClientPolicy, scopes: tuple[str, ...]) -> dict:
        device_code = new_opaque_token()
        user_code = self._unused_user_code(uow)
        uow.device_codes.create(
            device_code_digest=token_digest(device_code),
            user_code=user_code,
            client_pk=client_policy.pk,
            scope=" ".join(scopes),
            status=PENDING,
            interval=self.interval,
            expires_at=utcnow() + timedelta(seconds=self.ttl),
        )
        shown = display_user_code(user_code)
        return {
            "device_code": device_code,
            "user_code": shown,
            "verification_uri": self.verification_uri,
            "verification_uri_complete": f"{self.verification_uri}?"
            + urlencode({"user_code": shown}),
            "expires_in": self.ttl,
            "interval": self.interval,
        }

    @staticmethod
    def _unused_user_code(uow: UnitOfWork) -> str:
        # user_code is unique across every stored row; a collision is rare, so retry a few times.
        for _ in range(10):
            code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
            if uow.device_codes.by_user_code(code) is None:
                return code
        raise RuntimeError("could not draw an unused user code")

    # --- RFC 8628 3.3: the user at /device --------------------------------------------------

    def lookup_for_user(self, uow: UnitOfWork, user_code: str | None) -> Record:
        """The pending, live device code for a typed user code; UserCodeError otherwise."""
        code = normalize_user_code(user_code)
        if len(code) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in code):
            raise UserCodeError(
                "That is not a valid code. Codes have 8 letters, like BCDF-GHJK: "
                "check the code on your device and type it again."
            )
        row = uow.device_codes.by_user_code(code)
        if row is None:
            raise UserCodeError("No device is waiting for that code. Check it and try again.")
        if row.status != PENDING:
            raise UserCodeError(
                "That code was already used. Start again on your device to get a new one."
            )
        if row.expires_at <= utcnow():
            raise UserCodeError(
                "That code has expired. Start again on your device to get a new one."
            )
        client = uow.clients.get(row.client_pk)
        if client is None or client.suspended_at is not None:
            raise UserCodeError("The app that asked for this code is no longer allowed to sign in.")
        return row

    def approve(
        self,
        uow: UnitOfWork,
        caller: Caller,
        user: Any,
        row: Record,
        client_policy: ClientPolicy,
        auth_time: datetime | None = None,
    ) -> None:
        """Record consent and mark the code approved (committed); the device's next poll gets
        its tokens."""
        self._check_decidable(row)
        scopes = tuple(row.scope.split())
        grant = consent.record_consent(uow, caller, user, client_policy, scopes)
        values = {"user_id": user.id, "grant_pk": grant.id, "auth_time": auth_time or utcnow()}
        if not uow.device_codes.decide(row, APPROVED, values):
            raise UserCodeError("That code was already used. Start again on your device.")
        audit.record(
            uow, "device.approved", caller, user_id=user.id, client_id=client_policy.client_id
        )
        uow.commit()

    def deny(
        self, uow: UnitOfWork, caller: Caller, user: Any, row: Record, client_policy: ClientPolicy
    ) -> None:
        """Mark the code denied (committed); the device's next poll gets access_denied."""
        self._check_decidable(row)
        if not uow.device_codes.decide(row, DENIED, {"user_id": user.id}):
            raise UserCodeError("That code was already used. Start again on your device.")
        consent.note_denial(uow, caller, user, client_policy, tuple(row.scope.split()))
        uow.commit()

    @staticmethod
    def _check_decidable(row: Record) -> None:
        if row.status != PENDING:
            raise UserCodeError("That code was already used. Start again on your device.")
        if row.expires_at <= utcnow():
            raise UserCodeError("That code has expired. Start again on your device.")

    # --- RFC 8628 3.4-3.5: polling the token endpoint ---------------------------------------

    def credential(self, uow: UnitOfWork, device_code: str) -> DeviceCredential:
        row = uow.device_codes.by_digest(token_digest(device_code))
        if row is None:
            raise InvalidGrant("The device code is not valid.")
        if row.status == CONSUMED:
            raise InvalidGrant("The device code was already redeemed.")
        client = uow.clients.get(row.client_pk)
        return DeviceCredential(row, client.client_id if client else "")

    def redeem(self, uow: UnitOfWork, user_code: str) -> RedeemedDevice | None:
        """None while pending; AccessDenied when denied; the redeemed code once, when approved."""
        row = uow.device_codes.by_user_code(user_code)
        if row is None or row.status == PENDING:
            return None
        if row.status == DENIED:
            raise AccessDenied("The user denied the request.")
        # Atomic: of two polls racing for an approved code, exactly one turns it to consumed.
        if row.status != APPROVED or not uow.device_codes.claim(row):
            raise InvalidGrant("The device code was already redeemed.")
        grant = uow.grants.by_pk(row.grant_pk) if row.grant_pk else None
        if grant is None or grant.revoked_at is not None:
            raise InvalidGrant("The authorization was revoked.")
        user = uow.users.get(row.user_id) if row.user_id else None
        if user is None or user.disabled_at is not None:
            raise InvalidGrant("The account that approved this device is not active.")
        return RedeemedDevice(grant.gid, row, user)

    def should_slow_down(self, uow: UnitOfWork, credential: DeviceCredential) -> bool:
        """RFC 8628 3.5: polled faster than the interval means slow_down, and 5 s more from now.

        Committed here because the token endpoint rolls back on error responses, and every
        poll that reaches this point gets one (authorization_pending or slow_down).
        """
        row = credential.row
        now = utcnow()
        too_fast = row.last_polled_at is not None and now - row.last_polled_at < timedelta(
            seconds=row.interval
        )
        row.last_polled_at = now
        if too_fast:
            row.interval += SLOW_DOWN_STEP
        uow.commit()
        return too_fast

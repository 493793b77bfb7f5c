"""Benchmark data, written straight into Tessera's database through its own models and services.

Single-use credentials (refresh tokens, authorization codes) are inserted in bulk as rows the
server would have made itself: a random value, only its digest stored, one family per token so
that a doubled rotation shows up as a family with two successors.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, insert, select

from idp.domain.clock import utcnow
from idp.domain.credentials import token_digest
from idp.extensions import db
from idp.services import accounts
from idp.services.app_specs import ClientSpec
from idp.services.apps import create_client
from idp.services.context import Caller
from idp.services.tokens import AccessTokenRequest
from idp.storage.client_cache import load_policy
from idp.storage.models import AuthorizationCode, Grant, RefreshToken
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

CALLER = Caller(ip="127.0.0.1", user_agent="tessera-bench")
REDIRECT_URI = "http://127.0.0.1:8000/callback"
USER_SCOPES = "openid profile email offline_access orders:read"


def basic(client_id: str, secret: str) -> str:
    return base64.b64encode(
        f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    ).decode()


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


@dataclass
class Fixture:
    """What the scenarios need; the ids let the rotation check find the rows afterwards."""

    username: str
    password: str
    user_id: int
    service_basic: str  # a service app (client_credentials) that is also a resource server
    web_basic: str  # a confidential web app holding the user's grant
    web_pk: int
    grant_pk: int
    user_access_token: str  # openid scope, for userinfo and introspection
    verifier: str


def create_fixture(tessera: Any) -> Fixture:
    """One user, a service app, a web app with a grant, and a user access token."""
    uow = SqlAlchemyUnitOfWork()
    password = secrets.token_urlsafe(18)
    user = accounts.register(
        uow,
        tessera.hasher,
        CALLER,
        username="benchuser",
        email="bench@example.com",
        password=password,
    )
    service, service_secret = create_client(
        uow,
        tessera.catalogue,
        CALLER,
        ClientSpec(
            name="Bench service",
            app_type="service",
            scopes=["market:read", "ws:connect", "revocations:read"],
            tier="partner",
        ),
        owner_id=None,
        allow_restricted=True,
    )
    web, web_secret = create_client(
        uow,
        tessera.catalogue,
        CALLER,
        ClientSpec(
            name="Bench web",
            app_type="web",
            redirect_uris=[REDIRECT_URI],
            scopes=USER_SCOPES.split(),
        ),
        owner_id=None,
    )
    grant = Grant(gid=secrets.token_hex(16), user_id=user.id, client_pk=web.id, scopes=USER_SCOPES)
    db.session.add(grant)
    db.session.commit()
    minted = tessera.minter.access_token(
        AccessTokenRequest(
            client=load_policy(web.client_id),
            scopes=tuple(USER_SCOPES.split()),
            audience=tessera.settings.audience,
            subject=user.subject,
            grant_id=grant.gid,
            auth_time=int(time.time()),
        )
    )
    return Fixture(
        username=user.username,
        password=password,
        user_id=user.id,
        service_basic=basic(service.client_id, service_secret),
        web_basic=basic(web.client_id, web_secret),
        web_pk=web.id,
        grant_pk=grant.id,
        user_access_token=minted.token,
        verifier=secrets.token_urlsafe(48),
    )


def _max_id(model: Any) -> int:
    return db.session.scalar(select(func.coalesce(func.max(model.id), 0)))


def _write_lines(path: Path, values: list[str]) -> None:
    path.write_text("\n".join(values) + "\n")


def refresh_tokens(fx: Fixture, count: int, path: Path) -> tuple[int, int]:
    """`count` never-used refresh tokens, each its own family, written to `path`.

    Returns the (exclusive, inclusive) id range of the inserted rows.
    """
    now = utcnow()
    values = [secrets.token_urlsafe(32) for _ in range(count)]
    before = _max_id(RefreshToken)
    rows = [
        {
            "digest": token_digest(v),
            "family_id": secrets.token_hex(16),
            "client_pk": fx.web_pk,
            "user_id": fx.user_id,
            "grant_pk": fx.grant_pk,
            "scope": USER_SCOPES,
            "audience": "",
            "auth_time": now,
            "created_at": now,
            "expires_at": now + timedelta(days=30),
            "family_expires_at": now + timedelta(days=90),
        }
        for v in values
    ]
    db.session.execute(insert(RefreshToken), rows)
    db.session.commit()
    _write_lines(path, values)
    return before, _max_id(RefreshToken)


def authorization_codes(fx: Fixture, count: int, path: Path) -> tuple[int, int]:
    """`count` unused codes with the fixture's PKCE challenge, written to `path`."""
    now = utcnow()
    values = [secrets.token_urlsafe(32) for _ in range(count)]
    challenge = s256(fx.verifier)
    before = _max_id(AuthorizationCode)
    rows = [
        {
            "code_digest": token_digest(v),
            "client_pk": fx.web_pk,
            "user_id": fx.user_id,
            "grant_pk": fx.grant_pk,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid profile offline_access",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "audience": "",
            "auth_time": now,
            "amr": "pwd",
            "created_at": now,
            "expires_at": now + timedelta(hours=1),
        }
        for v in values
    ]
    db.session.execute(insert(AuthorizationCode), rows)
    db.session.commit()
    _write_lines(path, values)
    return before, _max_id(AuthorizationCode)


@dataclass
class RotationCheck:
    rotated: int  # prepared tokens marked rotated
    successors: int  # refresh tokens issued by those rotations
    doubled: int  # families with more than one successor: one token rotated twice
    revoked: int  # prepared tokens whose family was revoked (reuse detection fired)
    lost: int  # rotations without a stored successor, or 200s without a rotation
    in_flight: int  # successors stored for requests wrk stopped waiting for at the deadline

    @property
    def errors(self) -> int:
        return self.doubled + self.revoked + self.lost

    def describe(self) -> str:
        return (
            f"{self.rotated} rotated, {self.successors} new tokens, "
            f"lost or doubled rotations: {self.lost + self.doubled} "
            f"(doubled {self.doubled}, lost {self.lost}, families revoked {self.revoked}; "
            f"{self.in_flight} completed after wrk's deadline)"
        )


def check_rotations(id_range: tuple[int, int], ok_responses: int) -> RotationCheck:
    """Every used prepared token rotated exactly once, one successor each, one per 200."""
    low, high = id_range
    db.session.rollback()  # a fresh snapshot of what the server committed
    prepared = (RefreshToken.id > low) & (RefreshToken.id <= high)
    rotated = db.session.scalar(
        select(func.count()).where(prepared, RefreshToken.rotated_at.is_not(None))
    )
    revoked = db.session.scalar(
        select(func.count()).where(prepared, RefreshToken.revoked_at.is_not(None))
    )
    successors = db.session.scalar(select(func.count()).where(RefreshToken.id > high))
    per_family = (
        select(RefreshToken.family_id, func.count().label("n"))
        .where(RefreshToken.id > high)
        .group_by(RefreshToken.family_id)
        .subquery()
    )
    doubled = db.session.scalar(
        select(func.count()).select_from(per_family).where(per_family.c.n > 1)
    )
    families_with_successor = db.session.scalar(select(func.count()).select_from(per_family))
    orphaned = rotated - families_with_successor  # rotated, yet nothing was issued for it
    lost = max(0, orphaned) + max(0, ok_responses - successors)
    return RotationCheck(
        rotated=rotated,
        successors=successors,
        doubled=doubled,
        revoked=revoked,
        lost=lost,
        in_flight=max(0, successors - ok_responses),
    )


def codes_used(id_range: tuple[int, int]) -> int:
    low, high = id_range
    db.session.rollback()
    return db.session.scalar(
        select(func.count()).where(
            AuthorizationCode.id > low,
            AuthorizationCode.id <= high,
            AuthorizationCode.used_at.is_not(None),
        )
    )

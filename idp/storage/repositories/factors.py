"""Repository for second factors: TOTP, recovery codes, passkeys (idp.services.ports)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update

from idp.extensions import db
from idp.storage.models import Passkey, RecoveryCode, TotpFactor


class SqlAlchemyFactorRepository:
    # --- TOTP ---------------------------------------------------------------------------
    def totp(self, user_id: int) -> TotpFactor | None:
        return db.session.get(TotpFactor, user_id)

    def save_totp(self, user_id: int, secret_encrypted: str) -> TotpFactor:
        """A new unconfirmed secret, replacing any unconfirmed one."""
        row = db.session.get(TotpFactor, user_id)
        if row is None:
            row = TotpFactor(user_id=user_id, secret_encrypted=secret_encrypted)
            db.session.add(row)
        row.secret_encrypted, row.confirmed_at, row.last_used_step = secret_encrypted, None, 0
        db.session.flush()
        return row

    def advance_totp_step(self, user_id: int, step: int) -> bool:
        """Record `step` as used unless it (or a newer one) already was: one UPDATE, so two
        requests racing with the same code cannot both win."""
        result = db.session.execute(
            update(TotpFactor)
            .where(TotpFactor.user_id == user_id, TotpFactor.last_used_step < step)
            .values(last_used_step=step)
            .execution_options(synchronize_session=False)
        )
        db.session.expire_all()
        return result.rowcount == 1

    def delete_totp(self, user_id: int) -> None:
        db.session.execute(delete(TotpFactor).where(TotpFactor.user_id == user_id))

    # --- recovery codes -------------------------------------------------------------------
    def replace_recovery_codes(self, user_id: int, digests: list[str]) -> None:
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        db.session.add_all(RecoveryCode(user_id=user_id, code_digest=d) for d in digests)
        db.session.flush()

    def use_recovery_code(self, user_id: int, digest: str, now: datetime) -> bool:
        """Spend the code: True for the one request that marks it used."""
        result = db.session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user_id,
                RecoveryCode.code_digest == digest,
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    def recovery_codes_left(self, user_id: int) -> int:
        return db.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )

    def delete_recovery_codes(self, user_id: int) -> None:
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))

    # --- passkeys -------------------------------------------------------------------------
    def passkeys(self, user_id: int) -> list[Passkey]:
        return list(
            db.session.scalars(
                select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)
            )
        )

    def passkey(self, user_id: int, passkey_id: int) -> Passkey | None:
        row = db.session.get(Passkey, passkey_id)
        return row if row is not None and row.user_id == user_id else None

    def passkey_by_credential(self, credential_id: str) -> Passkey | None:
        return db.session.scalar(select(Passkey).where(Passkey.credential_id == credential_id))

    def add_passkey(self, **fields: object) -> Passkey:
        row = Passkey(**fields)
        db.session.add(row)
        db.session.flush()
        return row

    def delete_passkey(self, row: Passkey) -> None:
        db.session.delete(row)

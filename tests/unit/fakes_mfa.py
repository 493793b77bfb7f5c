"""In-memory second factors (idp.services.ports.FactorRepository) and the Mfa adapters."""

from __future__ import annotations

from types import SimpleNamespace

from idp.services.mfa import Mfa
from idp.services.passkeys import RelyingParty


class FakeFactorRepository:
    def __init__(self) -> None:
        self.totps: dict[int, SimpleNamespace] = {}
        self.codes: dict[str, SimpleNamespace] = {}
        self.keys: dict[int, SimpleNamespace] = {}

    def totp(self, user_id):
        return self.totps.get(user_id)

    def save_totp(self, user_id, secret_encrypted):
        row = SimpleNamespace(
            user_id=user_id, secret_encrypted=secret_encrypted, confirmed_at=None, last_used_step=0
        )
        self.totps[user_id] = row
        return row

    def advance_totp_step(self, user_id, step):
        row = self.totps.get(user_id)
        if row is None or row.last_used_step >= step:
            return False
        row.last_used_step = step
        return True

    def delete_totp(self, user_id):
        self.totps.pop(user_id, None)

    def replace_recovery_codes(self, user_id, digests):
        self.delete_recovery_codes(user_id)
        for digest in digests:
            self.codes[digest] = SimpleNamespace(user_id=user_id, used_at=None)

    def use_recovery_code(self, user_id, digest, now):
        row = self.codes.get(digest)
        if row is None or row.user_id != user_id or row.used_at is not None:
            return False
        row.used_at = now
        return True

    def recovery_codes_left(self, user_id):
        return sum(1 for r in self.codes.values() if r.user_id == user_id and r.used_at is None)

    def delete_recovery_codes(self, user_id):
        for digest in [d for d, r in self.codes.items() if r.user_id == user_id]:
            del self.codes[digest]

    def passkeys(self, user_id):
        return [k for k in self.keys.values() if k.user_id == user_id]

    def passkey(self, user_id, passkey_id):
        row = self.keys.get(passkey_id)
        return row if row is not None and row.user_id == user_id else None

    def passkey_by_credential(self, credential_id):
        return next((k for k in self.keys.values() if k.credential_id == credential_id), None)

    def add_passkey(self, **fields):
        row = SimpleNamespace(id=len(self.keys) + 1, last_used_at=None, **fields)
        self.keys[row.id] = row
        return row

    def delete_passkey(self, row):
        self.keys.pop(row.id, None)


class ReversedBox:
    """'Encryption' a test can see through: the stored text is never the secret itself."""

    def seal(self, plaintext):
        return "sealed:" + plaintext[::-1]

    def open(self, sealed):
        return sealed.removeprefix("sealed:")[::-1]


class CountingThrottle:
    def __init__(self, limit: int = 5) -> None:
        self.limit = limit
        self.failures: dict[str, int] = {}

    def retry_after(self, account, ip):
        return 60 if self.failures.get(account, 0) >= self.limit else 0

    def record_failure(self, account, ip):
        self.failures[account] = self.failures.get(account, 0) + 1


def fake_mfa(require_for_admins: bool = False) -> Mfa:
    return Mfa(
        box=ReversedBox(),
        throttle=CountingThrottle(),
        rp=RelyingParty.from_issuer("https://id.example.com"),
        require_for_admins=require_for_admins,
    )
